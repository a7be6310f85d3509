"""Returned mail: DSNs parsed and applied per second, by way in, against a SQLite file or PostgreSQL.

Every DSN is a 5.2.2 soft bounce about one digest, so each one is read,
classified, finds its digest and reader, counts a failure (reading the
reader's latest digests) and records a row. The ways in (--paths):

  pipe          `handler.handle`, one message per transaction, as `digest inbound < message.eml` does;
                measured in-process, so it leaves out the Python start-up of the real pipe transport
  pipe-process  the real pipe transport: one `digest inbound --rcpt ...` process per message
  batch         `handler.handle_many` in batches of imap.BATCH, in-process: the database side of an IMAP pass
  lmtp          a real `digest inbound --listen --processes N` listener, --connections LMTP connections at once,
                each delivering its share one message after another; each listener process groups what
                arrives together into one transaction
  imap          `imap.poll_once` (fetch, one transaction per batch, move) against a real Dovecot started here
                (needs dovecot-imapd and root, as tests/inbound/test_processes.py)

and the parse + classify step alone over the collected real samples
(tests/fixtures/bounces). Prints the median of --runs per way in, each with
the CPU time spent per message by whoever handles it (this process; the
pipe's processes; the listener process, not the LMTP clients; not Dovecot)
and the load average when it ended: on a shared machine the rate follows the
CPU share it gets, the CPU time per message much less so.

    python bench/inbound.py
    python bench/inbound.py --database postgresql://postgres@127.0.0.1/inbound_bench --paths batch,lmtp
"""

from __future__ import annotations

import argparse
import datetime as dt
import imaplib
import logging
import os
import resource
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "inbound"))
sys.path.insert(0, str(ROOT / "tests"))

from helpers import _truncate, free_port, make_env  # noqa: E402
from inboundhelp import NOW, dsn  # noqa: E402
from procs import Proc, wait_until  # noqa: E402

from digest.config import load_settings  # noqa: E402
from digest.db import ensure_schema, session_factory  # noqa: E402
from digest.inbound.classify import classify  # noqa: E402
from digest.inbound.handler import Arrived, handle, handle_many  # noqa: E402
from digest.inbound.imap import BATCH, parse_imap_url, poll_once  # noqa: E402
from digest.inbound.mime import read_mail  # noqa: E402
from digest.inbound.verp import return_path  # noqa: E402
from digest.models import Digest  # noqa: E402
from digest.subscriptions import subscribe, validate_preferences  # noqa: E402

DIGEST = str(Path(sys.executable).with_name("digest"))
PATHS = ("pipe", "pipe-process", "batch", "lmtp", "imap")


def bounces(settings, n: int) -> list[Arrived]:
    """n readers with one sent digest each (one transaction), and one soft-bounce DSN to each digest's return path."""
    prefs = validate_preferences(topics=["LLM quantization"])
    with session_factory(settings.database_url).begin() as session:
        digests = []
        for i in range(n):
            reader = subscribe(session, f"reader{i}@example.org", prefs, NOW)[0]
            digests.append(Digest(subscriber=reader, edition_date=dt.date(2026, 12, 1), state="sent",
                                  created_at=NOW, updated_at=NOW, sent_at=NOW))
            session.add(digests[-1])
        session.flush()
        ids = [d.id for d in digests]
    return [Arrived(dsn(f"reader{i}@example.org", "5.2.2", "552 5.2.2 mailbox full", f"<bench-{i}@mx>"),
                    return_path(settings.signing_key(), did, "bounces.example.org")) for i, did in enumerate(ids)]


class Clock:
    """Wall time and the CPU time of whoever handles the mail (this process, its children, or one process)."""

    def __init__(self, pid: int | None = None, children: bool = False):
        self.pid, self.children = pid, children
        self.wall, self.cpu = time.perf_counter(), self._cpu()

    def _cpu(self) -> float:
        if self.pid is not None:  # the process and the processes it forked (the listener's --processes)
            ticks = 0
            for stat in Path("/proc").glob("[0-9]*/stat"):
                try:
                    fields = stat.read_text().rsplit(")", 1)[1].split()
                except OSError:  # gone meanwhile
                    continue
                if stat.parent.name == str(self.pid) or fields[1] == str(self.pid):
                    ticks += int(fields[11]) + int(fields[12])
            return ticks / os.sysconf("SC_CLK_TCK")
        if self.children:
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            return usage.ru_utime + usage.ru_stime
        return time.process_time()

    def stop(self) -> tuple[float, float]:
        """(seconds of wall time, seconds of CPU time) since the start."""
        return time.perf_counter() - self.wall, self._cpu() - self.cpu


def pipe(settings, work: list[Arrived], tmp: Path) -> tuple[float, float]:
    factory, clock = session_factory(settings.database_url), Clock()
    for item in work:
        handle(settings, factory, item.raw, item.rcpt, "pipe")
    return clock.stop()


def pipe_process(settings, work: list[Arrived], tmp: Path) -> tuple[float, float]:
    env, clock = {**os.environ, **make_env(tmp, settings.database_url)}, Clock(children=True)
    for item in work:
        subprocess.run([DIGEST, "inbound", "--rcpt", item.rcpt], input=item.raw, env=env, check=True,
                       capture_output=True, timeout=120)
    return clock.stop()


def batch(settings, work: list[Arrived], tmp: Path) -> tuple[float, float]:
    factory, clock = session_factory(settings.database_url), Clock()
    for first in range(0, len(work), BATCH):
        done = handle_many(settings, factory, work[first:first + BATCH], "imap")
        assert not [d for d in done if isinstance(d, Exception)], done
    return clock.stop()


def lmtp(settings, work: list[Arrived], tmp: Path, connections: int, processes: int) -> tuple[float, float]:
    port = free_port()
    proc = Proc([DIGEST, "inbound", "--listen", f"127.0.0.1:{port}", "--processes", str(processes)],
                make_env(tmp, settings.database_url), tmp / "lmtp.log")
    try:
        wait_until(lambda: "listening" in proc.output(), 60, what="the listener")
        ready, codes = threading.Barrier(connections + 1), []

        def deliver(share: list[Arrived]) -> None:
            with smtplib.LMTP("127.0.0.1", port) as client:
                client.docmd("LHLO", "bench")
                ready.wait()
                for item in share:
                    client.docmd("MAIL FROM:<>")
                    client.docmd(f"RCPT TO:<{item.rcpt}>")
                    client.docmd("DATA")
                    client.send(item.raw.replace(b"\r\n.", b"\r\n..") + b".\r\n")
                    codes.append(client.getreply()[0])

        threads = [threading.Thread(target=deliver, args=(work[k::connections],)) for k in range(connections)]
        for thread in threads:
            thread.start()
        clock = Clock(proc.popen.pid)  # the listener's CPU time, not the clients'
        ready.wait()
        for thread in threads:
            thread.join()
        spent = clock.stop()
    finally:
        proc.stop()
    assert codes == [250] * len(work), sorted(set(codes))
    return spent


def imap(settings, work: list[Arrived], tmp: Path) -> tuple[float, float]:
    from imapserver import dovecot_server

    with dovecot_server() as port:
        box = imaplib.IMAP4("127.0.0.1", port)
        box.login("digest", "secret")
        for item in work:  # as a delivery agent files it: Delivered-To names the envelope recipient
            box.append("INBOX", None, None, f"Delivered-To: {item.rcpt}\r\n".encode() + item.raw)
        box.logout()
        source = parse_imap_url(f"imap://digest:secret@127.0.0.1:{port}/INBOX?tls=none")
        clock = Clock()  # this process's CPU time; Dovecot's is not counted
        counts = poll_once(settings, session_factory(settings.database_url), source)
        spent = clock.stop()
    assert counts == {"bounce": len(work)}, counts
    return spent


def parsed(paths: list[Path]) -> float:
    """Messages per second read and classified (no database) over the real samples."""
    raws = [p.read_bytes() for p in paths]
    start = time.perf_counter()
    for raw in raws:
        classify(read_mail(raw, 10 * 1024 * 1024), "digest@example.org")
    return len(raws) / (time.perf_counter() - start)


def measure(path: str, args, database: str | None) -> tuple[list[float], list[float]]:
    """Messages per second, and CPU milliseconds per message, of each run."""
    n = {"pipe": args.pipe_messages, "pipe-process": args.pipe_processes}.get(path, args.messages)
    rates, cpu = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            url = database or f"sqlite:///{tmp}/bench.sqlite3"
            ensure_schema(url)
            if database:
                _truncate(url)
            settings = load_settings(make_env(Path(tmp), url), read_dotenv=False)
            work = bounces(settings, n)
            run = {"pipe": pipe, "pipe-process": pipe_process, "batch": batch, "imap": imap,
                   "lmtp": lambda s, w, t: lmtp(s, w, t, args.connections, args.processes)}[path]
            wall, used = run(settings, work, Path(tmp))
            rates.append(n / wall)
            cpu.append(used / n * 1000)
    return rates, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000, help="DSNs per run (batch, lmtp, imap)")
    parser.add_argument("--pipe-messages", type=int, default=300, help="DSNs per run (pipe)")
    parser.add_argument("--pipe-processes", type=int, default=20, help="DSNs per run (pipe-process)")
    parser.add_argument("--connections", type=int, default=20,
                        help="parallel LMTP connections (lmtp; Postfix's default per destination is 20)")
    parser.add_argument("--processes", type=int, default=1, help="listener processes (lmtp: --processes)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--paths", default=",".join(PATHS), help=f"some of {', '.join(PATHS)}")
    parser.add_argument("--database", help="a PostgreSQL URL (default: a fresh SQLite file per run)")
    args = parser.parse_args()
    paths = [p for p in args.paths.split(",") if p]
    if unknown := sorted(set(paths) - set(PATHS)):
        parser.error(f"--paths: unknown {', '.join(unknown)}")
    logging.getLogger("digest.inbound").setLevel(logging.WARNING)
    database = load_settings(make_env(Path(tempfile.gettempdir()), args.database),
                             read_dotenv=False).database_url if args.database else None
    where = "PostgreSQL" if database else "SQLite"
    print(f"DSNs parsed and applied per second, {where}, {os.cpu_count()} cores; median of {args.runs} runs")
    for path in paths:
        rates, cpu = measure(path, args, database)
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        n = {"pipe": args.pipe_messages, "pipe-process": args.pipe_processes}.get(path, args.messages)
        wall = f"{1000 / statistics.median(rates):.0f} ms wall, " if path == "pipe-process" else ""
        print(f"  {path:13} {statistics.median(rates):7,.1f} messages/s  ({n} per run: "
              f"{', '.join(f'{r:,.1f}' for r in rates)}; {wall}CPU {statistics.median(cpu):.2f} ms per message; "
              f"load average 1/5/15 min: {load})", flush=True)
    samples = sorted((ROOT / "tests" / "fixtures" / "bounces").rglob("*.eml"))
    rate = statistics.median(parsed(samples) for _ in range(args.runs))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"  real samples parsed and classified, no database: {rate:,.0f} messages/s ({len(samples)} samples; "
          f"load average {load})")


if __name__ == "__main__":
    main()
