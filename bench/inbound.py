"""Returned mail: messages per second parsed and applied by the one handler (`digest.inbound.handler.handle`).

DSNs (a 5.2.2 soft bounce to each digest's signed return path, so every one
reads, classifies, updates a subscriber and records a row) against a SQLite
file or PostgreSQL, and separately the parse + classify step alone over the
collected real samples (tests/fixtures/bounces). Prints the median of --runs
and the machine's load average, which matters on a shared machine.

    python bench/inbound.py
    python bench/inbound.py --messages 2000 --database postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "inbound"))
sys.path.insert(0, str(ROOT / "tests"))

from helpers import make_env  # noqa: E402
from inboundhelp import dsn, sent_digest  # noqa: E402

from digest.config import load_settings  # noqa: E402
from digest.db import ensure_schema, session_factory  # noqa: E402
from digest.inbound.classify import classify  # noqa: E402
from digest.inbound.handler import handle  # noqa: E402
from digest.inbound.mime import read_mail  # noqa: E402
from digest.inbound.verp import return_path  # noqa: E402


def applied(url: str, n: int, tmp: Path) -> float:
    """Messages per second through handle(): n digests, one soft-bounce DSN each."""
    ensure_schema(url)
    settings = load_settings(make_env(tmp, url), read_dotenv=False)
    factory = session_factory(url)
    key = settings.signing_key()
    work = []
    for i in range(n):
        _, did = sent_digest(url, f"reader{i}@example.org")
        work.append((dsn(f"reader{i}@example.org", "5.2.2", "552 5.2.2 mailbox full", f"<bench-{i}@mx>"),
                     return_path(key, did, "bounces.example.org")))
    start = time.perf_counter()
    for raw, rcpt in work:
        handle(settings, factory, raw, rcpt, "pipe")
    return n / (time.perf_counter() - start)


def parsed(paths: list[Path]) -> float:
    """Messages per second read and classified (no database) over the real samples."""
    raws = [p.read_bytes() for p in paths]
    start = time.perf_counter()
    for raw in raws:
        classify(read_mail(raw, 10 * 1024 * 1024), "digest@example.org")
    return len(raws) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database", help="a PostgreSQL URL (default: a fresh SQLite file per run)")
    args = parser.parse_args()
    import logging

    logging.getLogger("digest.inbound").setLevel(logging.WARNING)
    samples = sorted((ROOT / "tests" / "fixtures" / "bounces").rglob("*.eml"))
    rates, parse_rates = [], []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            url = args.database or f"sqlite:///{tmp}/bench.sqlite3"
            if args.database:
                from helpers import _truncate

                ensure_schema(url)
                _truncate(url)
            rates.append(applied(url, args.messages, Path(tmp)))
        parse_rates.append(parsed(samples))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"DSNs parsed and applied: {statistics.median(rates):,.0f} messages/s (median of {args.runs} runs of "
          f"{args.messages}; {'PostgreSQL' if args.database else 'SQLite'})")
    print(f"real samples parsed and classified: {statistics.median(parse_rates):,.0f} messages/s "
          f"({len(samples)} samples)")
    print(f"load average (1, 5, 15 min): {load} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
