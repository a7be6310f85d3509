"""SMTP throughput: `SmtpSender` against plain smtplib, over one reused connection to a discarding sink.

The sink is aiosmtpd's `Sink` handler in its own process (so it does not share
the GIL with the client). Both sides send the same pre-built 20-paper digest;
runs alternate which goes first. Prints messages per second for each and the
ratio ours / smtplib, as the median of --runs.

    python bench/smtp.py
    python bench/smtp.py --messages 1000 --runs 5
"""

from __future__ import annotations

import argparse
import random
import smtplib
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from render import NOW, bench_settings, digest_bytes, edition_build, papers  # noqa: E402  (bench/render.py)

from digest.config import SmtpConfig  # noqa: E402
from digest.delivery.senders import SmtpSender  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sink(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                             "-c", "aiosmtpd.handlers.Sink"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the aiosmtpd sink did not start")


def plain_smtplib(port: int, data: bytes, count: int) -> float:
    conn = smtplib.SMTP("127.0.0.1", port, timeout=30)
    conn.ehlo()
    start = time.perf_counter()
    for n in range(count):
        conn.sendmail("digest@digest.example.org", [f"user{n}@example.org"], data)
    seconds = time.perf_counter() - start
    conn.quit()
    return count / seconds


def ours(port: int, data: bytes, count: int, recycle: int) -> float:
    sender = SmtpSender(SmtpConfig("127.0.0.1", port, "none", timeout=30, recycle_after=recycle))
    sender.send("digest@digest.example.org", "warmup@example.org", data)  # connect outside the timing
    start = time.perf_counter()
    for n in range(count):
        sender.send("digest@digest.example.org", f"user{n}@example.org", data)
    seconds = time.perf_counter() - start
    sender.close()
    return count / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    settings = bench_settings()
    rows = papers(200)
    _, edition = edition_build(rows)
    data = digest_bytes(settings, edition, rows, 1, random.Random(7).sample(range(len(rows)), 20))
    port = free_port()
    sink = start_sink(port)
    try:
        base, mine, recycled = [], [], []
        for run in range(args.runs):
            # Alternate who goes first: the shared machine's load drifts between measurements.
            if run % 2:
                mine.append(ours(port, data, args.messages, recycle=10**9))
                base.append(plain_smtplib(port, data, args.messages))
            else:
                base.append(plain_smtplib(port, data, args.messages))
                mine.append(ours(port, data, args.messages, recycle=10**9))
            recycled.append(ours(port, data, args.messages, recycle=100))
    finally:
        sink.terminate()
        sink.wait(5)
    ratios = [m / b for m, b in zip(mine, base)]
    print(f"message: {len(data) / 1000:.1f} kB, {args.messages} per run, sink: aiosmtpd Sink in its own process "
          f"({NOW:%Y-%m-%d} digest)")
    print(f"plain smtplib, pre-built bytes, one connection: {statistics.median(base):.0f} msg/s")
    print(f"SmtpSender, one reused connection:             {statistics.median(mine):.0f} msg/s")
    print(f"ratio SmtpSender / smtplib: {statistics.median(ratios):.2f}  (runs: {', '.join(f'{r:.2f}' for r in ratios)})")
    print(f"SmtpSender recycling every 100 messages:       {statistics.median(recycled):.0f} msg/s")


if __name__ == "__main__":
    main()
