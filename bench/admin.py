"""How long the operator's figures take on a large installation (PostgreSQL).

Fills a scratch database with --subscribers subscribers and --per-day digests a
day for 30 days (states, skip reasons and failures mixed as in real runs; rows
written by generate_series inside PostgreSQL), vacuums it as autovacuum
would, then times each figure of /admin and a whole /metrics body: median and
spread over --runs runs. The database is dropped at the end.

    python bench/admin.py --pg postgresql://postgres@127.0.0.1:5432/test --subscribers 1000000 --per-day 100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time

import psycopg

SEED = """
INSERT INTO subscribers (email, email_key, name, status, topics, categories, exclude, authors, timezone, send_hour,
                         max_papers, min_score, cadence, updates, permanent_failures, created_at)
SELECT 'r' || n || '@example.org', 'r' || n || '@example.org', '',
       (ARRAY['active','active','active','active','active','active','active','unsubscribed','bounced','pending'])[n % 10 + 1],
       '["graphs"]', '[]', '[]', '[]', 'UTC', 7, 10, 0, CASE WHEN n % 7 = 0 THEN 'weekly' ELSE 'daily' END, false, 0,
       now() - interval '90 days'
FROM generate_series(1, {subscribers}) AS n;
INSERT INTO digests (subscriber_id, edition_date, state, reason, failure_class, last_error, attempts, paper_count,
                     created_at, updated_at)
SELECT s, current_date - d,
       (ARRAY['sent','sent','sent','sent','sent','sent','skipped','skipped','failed','suppressed'])[(s + d) % 10 + 1],
       CASE WHEN (s + d) % 10 = 6 THEN 'nothing relevant today' WHEN (s + d) % 10 = 7 THEN 'no new papers today'
            WHEN (s + d) % 10 = 8 THEN 'refused by the recipient''s server' END,
       CASE WHEN (s + d) % 10 = 8 THEN 'recipient' END,
       CASE WHEN (s + d) % 10 = 8 THEN '550 5.1.1 user unknown' END, 1, 3, now(), now() - d * interval '1 day'
FROM generate_series(0, 29) AS d, generate_series(1, {per_day}) AS s;
INSERT INTO inbound_messages (message_id, rcpt, via, received_at, kind, sender, subject, outcome, size)
SELECT '<m' || n || '@x>', 'b@x', 'pipe', now() - (n % 720) * interval '1 hour',
       CASE WHEN n % 5 = 0 THEN 'complaint' ELSE 'bounce' END, 'mailer-daemon@x', '', 'marked', 100
FROM generate_series(1, 20000) AS n;
"""


def _timed(fn, runs: int) -> tuple[float, float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=os.environ.get("DIGEST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--per-day", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from digest.dashboard import figures
    from digest.dashboard.sources import get_source_health
    from digest.db import ensure_schema, get_engine, session_factory
    from digest.web.metrics import build

    name = f"digest_bench_admin_{os.getpid()}"
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = args.pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
    try:
        ensure_schema(url)
        start = time.perf_counter()
        with psycopg.connect(args.pg.rsplit("/", 1)[0] + f"/{name}", autocommit=True) as conn:
            conn.execute(SEED.format(subscribers=int(args.subscribers), per_day=int(args.per_day)))
            conn.execute("VACUUM ANALYZE")
        print(f"seeded {args.subscribers:,} subscribers, {30 * args.per_day:,} digests in "
              f"{time.perf_counter() - start:.0f} s")
        today, now = dt.date.today(), dt.datetime.now(dt.timezone.utc)
        settings = type("S", (), {"broker_url": "memory://", "queue": "digest"})()
        figures_to_time = {
            "today by state (get_day)": lambda s: figures.get_day(s, today),
            "30 days by state and skip reason (get_days)": lambda s: figures.get_days(
                s, today - dt.timedelta(days=29), today),
            "subscribers by status and cadence": figures.get_subscribers,
            "replies by class, 2 editions": lambda s: figures.get_reply_classes(s, today - dt.timedelta(days=1), today),
            "failures, last 7 days (20 rows)": lambda s: figures.get_failures(s, today - dt.timedelta(days=6)),
            "bounces and complaints, 30 days": lambda s: (figures.get_returned_counts(s, now - dt.timedelta(days=30)),
                                                          figures.get_returned(s, now - dt.timedelta(days=30))),
            "source health, 30 days": lambda s: get_source_health(s, today - dt.timedelta(days=29), today),
            "whole /metrics body": lambda s: build(s, settings, now, today),
        }
        factory = session_factory(url)
        for label, fn in figures_to_time.items():
            with factory() as session:
                median, low, high = _timed(lambda: fn(session), args.runs)
            print(f"{label:48s} median {median:8.1f} ms  (min {low:.1f}, max {high:.1f}, {args.runs} runs)")
    finally:
        get_engine(url).dispose()
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
