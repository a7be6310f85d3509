"""Ingest figures: parse + normalise, bulk upsert on SQLite and PostgreSQL, ranking features, zero-write re-ingest.

Prints the median of 5 runs of each. Run by hand:

    /work/venv/bin/python bench/ingest.py [--runs 5] [--pg postgresql://postgres@127.0.0.1:5432/test]

Targets: parse both halves of the 2024-11-28 all-archives arXiv RSS capture
(1,504 items) under 3 s; upsert 10,000 entries under 2 s on SQLite and 3 s on
PostgreSQL; a second ingest of unchanged bytes writes zero paper rows. Also
printed: storing the ranking features of those 10,000 papers, which an ingest
does right after its upsert (digest.features.fill_missing).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import statistics
import sys
import tempfile
import time
import uuid

from sqlalchemy import event

from digest.db import ensure_schema, get_engine, session_factory
from digest.features import fill_missing
from digest.ingest import SourceSpec, bulk_upsert_papers, ingest_source
from digest.sources import parse

from benchdata import FEEDS, require

HALVES = [FEEDS / "arxiv-rss-new" / f"all-archives_2024-11-28_part{n}of2.xml" for n in (1, 2)]
NOW = dt.datetime(2024, 11, 28, 12, tzinfo=dt.timezone.utc)


def median_of(runs: int, work, setup=lambda: None) -> float:
    times = []
    for _ in range(runs):
        setup()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def parse_halves() -> list:
    entries = []
    for path in require(HALVES, "arXiv capture"):
        entries += parse("arxiv-rss", path.read_bytes(), origin=str(path)).entries
    return entries


def ten_thousand(entries: list) -> list:
    """10,000 distinct entries shaped like real ones (real titles, abstracts, author lists)."""
    out = []
    for n in range(10_000):
        entry = copy.copy(entries[n % len(entries)])
        entry.key = f"arxiv:2411.{n:05d}"
        out.append(entry)
    return out


def upsert_seconds(url: str, entries: list, runs: int) -> float:
    def once(session):
        new, _, _ = bulk_upsert_papers(session, entries, "bench", NOW)
        assert new == len(entries), new

    return on_empty_table(url, runs, once)


def features_seconds(url: str, entries: list, runs: int) -> float:
    """fill_missing after an upsert of `entries` (the upsert itself is not timed)."""
    def once(session):
        assert fill_missing(session) == len(entries)

    return on_empty_table(url, runs, once, before=lambda session: bulk_upsert_papers(session, entries, "bench", NOW))


def on_empty_table(url: str, runs: int, work, before=None) -> float:
    """Median seconds of work(session) in one transaction, each run on an emptied papers table (+ before())."""
    ensure_schema(url)
    engine = get_engine(url)

    def setup():
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM papers")
        if before is not None:
            with session_factory(url).begin() as session:
                before(session)

    def once():
        with session_factory(url).begin() as session:
            work(session)

    return median_of(runs, once, setup=setup)


def rewrite_rows(url: str) -> tuple[int, int]:
    """Paper rows written by a first and a second ingest of the same bytes."""
    ensure_schema(url)
    counts = []
    for attempt in range(2):
        written = [0]

        def count(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith(("INSERT INTO PAPERS", "UPDATE PAPERS")):
                written[0] += cursor.rowcount if cursor.rowcount and cursor.rowcount > 0 else 0

        engine = get_engine(url)
        event.listen(engine, "after_cursor_execute", count)
        for path in require(HALVES, "arXiv capture"):
            with session_factory(url).begin() as session:
                ingest_source(session, SourceSpec(path.name, str(path), "arxiv-rss"), NOW)
        event.remove(engine, "after_cursor_execute", count)
        counts.append(written[0])
    return counts[0], counts[1]


def pg_database(admin_url: str):
    import psycopg

    name = f"digest_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{admin_url.rsplit('/', 1)[0]}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)

    def drop():
        get_engine(url).dispose()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url, drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test", help="admin URL ('' to skip)")
    args = parser.parse_args()

    entries = parse_halves()
    print(f"parse + normalise 2 x all-archives ({len(entries)} items): "
          f"{median_of(args.runs, parse_halves):.3f} s  (target < 3 s)")
    batch = ten_thousand(entries)
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{tmp}/bench.sqlite3"
        print(f"upsert 10,000 entries, SQLite: {upsert_seconds(sqlite_url, batch, args.runs):.3f} s  (target < 2 s)")
        print(f"  then their ranking features, SQLite: {features_seconds(sqlite_url, batch, args.runs):.3f} s")
        first, second = rewrite_rows(f"sqlite:///{tmp}/rewrite.sqlite3")
        print(f"ingest of the same bytes, SQLite: first {first} paper rows written, second {second}  (target 0)")
    if args.pg:
        url, drop = pg_database(args.pg)
        try:
            print(f"upsert 10,000 entries, PostgreSQL: {upsert_seconds(url, batch, args.runs):.3f} s  (target < 3 s)")
            print(f"  then their ranking features, PostgreSQL: {features_seconds(url, batch, args.runs):.3f} s")
            with get_engine(url).begin() as conn:
                conn.exec_driver_sql("DELETE FROM papers")
                conn.exec_driver_sql("DELETE FROM sources")
            first, second = rewrite_rows(url)
            print(f"ingest of the same bytes, PostgreSQL: first {first} paper rows written, second {second}  (target 0)")
        finally:
            drop()
    print(f"(median of {args.runs} runs; python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
