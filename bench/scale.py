"""Scheduling at scale: one tick's due selection and bulk planning over N subscribers of whom M are due.

Builds N active subscribers spread over every time zone this machine knows,
with hours and cadences such that exactly M are due at the tick (a Wednesday,
12:00 UTC), plus 3 % unsubscribed rows whose stored send time has long passed
(the index must not read them). Then, --runs times: the tick's plan
(`delivery.bulk_plan_scheduled`: due rows through ix_subscribers_due, the rule
checked, one Digest row each), the planned rows dropped before the next run.
--full-scan also times the way every tick worked before next_send_at: every
active subscriber read and its clock converted.

    python bench/scale.py --subscribers 1000000 --due 10000
    python bench/scale.py --subscribers 100000 --due 10000 --full-scan
    python bench/scale.py --migration            # also times migration 0009's fill of existing rows

Needs PostgreSQL (DIGEST_TEST_PG, default postgresql://postgres@127.0.0.1:5432/test);
creates and drops its own database. The last line reads
`tick <seconds> s for <N> subscribers, <M> due` (the median of the runs).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import time
from zoneinfo import ZoneInfo, available_timezones

from benchdata import ROOT
from pipeline import create_db, drop_db

TICK = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.timezone.utc)  # a Wednesday everywhere but no Monday anywhere
COLUMNS = ("email", "email_key", "name", "status", "status_at", "topics", "categories", "exclude", "authors",
           "timezone", "send_hour", "max_papers", "min_score", "cadence", "updates", "permanent_failures",
           "created_at", "next_send_at")


def zones() -> list[str]:
    return sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "posix/", "right/")))


def profiles(n: int, due: int, rng: random.Random):
    """(status, zone, hour, cadence, next send) for n rows, exactly `due` of them due at TICK."""
    from digest.schedule import get_due_edition, get_first_send

    places = zones()
    hour_at = {z: TICK.astimezone(ZoneInfo(z)).hour for z in places}
    cache: dict = {}

    def next_send(zone, hour, cadence):
        """The stored send time, and whether the rule says due at TICK (checked, not assumed)."""
        key = zone, hour, cadence
        if key not in cache:
            cache[key] = get_first_send(zone, hour, cadence, TICK), get_due_edition(zone, hour, cadence, TICK)
        return cache[key]

    for i in range(n):
        zone = rng.choice(places)
        local = hour_at[zone]
        if i < due:
            hour, cadence, status = rng.randint(0, local), "daily", "active"
        elif local < 23 and rng.random() > 0.15:
            hour, cadence, status = rng.randint(local + 1, 23), "daily", "active"
        else:
            hour, cadence, status = rng.randint(0, 23), "weekly", "active"  # no Monday anywhere at TICK
        when, edition = next_send(zone, hour, cadence)
        assert (edition is not None) == (i < due)
        if i >= due and rng.random() < 0.03:
            status, when = "unsubscribed", TICK - dt.timedelta(days=30)
        yield status, zone, hour, cadence, when


def populate(url: str, n: int, due: int, before: str | None = None) -> float:
    """COPY n subscribers in (at migration `before`: without their send time); return the seconds it took."""
    import psycopg

    from digest.db import ensure_schema

    if before:
        migrate(url, before)
    else:
        ensure_schema(url)
    started = time.perf_counter()
    rng = random.Random(20)
    empty, topics = "[]", json.dumps(["graph neural networks"])
    columns = COLUMNS[:-1] if before else COLUMNS
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        with conn.cursor() as cur, cur.copy(f"COPY subscribers ({', '.join(columns)}) FROM STDIN") as copy:
            for i, (status, zone, hour, cadence, when) in enumerate(profiles(n, due, rng)):
                email = f"reader{i}@example.org"
                copy.write_row((email, email, "", status, TICK, topics, empty, empty, empty, zone, hour, 10, 0.0,
                                cadence, False, 0, TICK, when)[:len(columns)])
        conn.execute("ANALYZE subscribers")
    return time.perf_counter() - started


def migrate(url: str, revision: str) -> float:
    """Upgrade the database to `revision`; return the seconds it took."""
    from alembic import command

    from digest.db import alembic_config, get_engine

    cfg = alembic_config(url)
    started = time.perf_counter()
    with get_engine(url).begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return time.perf_counter() - started


def reset(url: str) -> None:
    from sqlalchemy import text

    from digest.db import get_engine

    with get_engine(url).begin() as conn:
        conn.execute(text("TRUNCATE digest_items, digests RESTART IDENTITY CASCADE"))


def scheduled_tick(url: str) -> tuple[float, int]:
    from digest import delivery
    from digest.db import session_factory

    with session_factory(url)() as session:
        started = time.perf_counter()
        ids = delivery.bulk_plan_scheduled(session, TICK)
        return time.perf_counter() - started, len(ids)


def finished_tick(url: str) -> float:
    """Plan, mark every edition sent, and time the tick after: it plans nothing and moves each send time on."""
    from sqlalchemy import text

    from digest import delivery
    from digest.db import get_engine, session_factory

    reset(url)
    scheduled_tick(url)
    with get_engine(url).begin() as conn:
        conn.execute(text("UPDATE digests SET state = 'sent'"))
    with session_factory(url)() as session:
        started = time.perf_counter()
        planned = delivery.bulk_plan_scheduled(session, TICK)
        seconds = time.perf_counter() - started
        assert planned == [] and session.scalar(text(
            "SELECT count(*) FROM subscribers WHERE status = 'active' AND next_send_at <= :t"), {"t": TICK}) == 0
    return seconds


def full_scan_tick(url: str) -> tuple[float, int]:
    """Before next_send_at: every active subscriber read, its clock converted, finished editions of three dates read."""
    from sqlalchemy import select

    from digest import delivery
    from digest.db import session_factory
    from digest.models import Digest, Subscriber
    from digest.schedule import get_due_edition

    with session_factory(url)() as session:
        started = time.perf_counter()
        days = {(TICK + dt.timedelta(days=d)).date() for d in (-1, 0, 1)}
        finished = set(session.execute(select(Digest.subscriber_id, Digest.edition_date).where(
            Digest.edition_date.in_(days), Digest.state.in_(delivery.FINAL_STATES))).all())
        due = []
        for subscriber in session.scalars(select(Subscriber).where(Subscriber.status == "active")
                                          .order_by(Subscriber.id)):
            date = get_due_edition(subscriber.timezone, subscriber.send_hour, subscriber.cadence, TICK)
            if date is not None and (subscriber.id, date) not in finished:
                due.append((subscriber, date))
        ids = delivery.bulk_plan(session, due, TICK)
        return time.perf_counter() - started, len(ids)


def explain(url: str) -> str:
    """PostgreSQL's plan for one page of the tick's selection."""
    from sqlalchemy import text

    from digest.db import get_engine

    sql = ("EXPLAIN SELECT id, timezone, send_hour, cadence, next_send_at FROM subscribers "
           "WHERE status = 'active' AND next_send_at <= :now ORDER BY next_send_at, id LIMIT 5000")
    with get_engine(url).connect() as conn:
        return " / ".join(row[0].strip() for row in conn.execute(text(sql), {"now": TICK}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--full-scan", action="store_true", help="also time the pre-index tick (reads everyone)")
    parser.add_argument("--migration", action="store_true",
                        help="insert the rows at migration 0007 and time the upgrade that fills their send times")
    args = parser.parse_args()
    if not 0 <= args.due <= args.subscribers:
        parser.error("--due must be between 0 and --subscribers")
    sys.path.insert(0, str(ROOT))
    name, url = create_db()
    try:
        if args.migration:
            populate(url, args.subscribers, args.due, before="0007")
            from freezegun import freeze_time  # the fill computes from the tick's day, like a real upgrade from its own

            started = time.perf_counter()  # read outside: freezegun stops perf_counter too
            with freeze_time(TICK):
                migrate(url, "0009")
            seconds = time.perf_counter() - started
            print(f"migration 0009 (column, fill, index): {seconds:.1f} s for {args.subscribers} rows")
        else:
            print(f"populate: {populate(url, args.subscribers, args.due):.1f} s for {args.subscribers} subscribers "
                  f"({len(zones())} zones)")
        print(f"plan: {explain(url)}")
        ways = [("scheduled", scheduled_tick)] + ([("full scan", full_scan_tick)] if args.full_scan else [])
        medians = {}
        for label, tick in ways:
            times = []
            for run in range(1, args.runs + 1):
                reset(url)
                seconds, planned = tick(url)
                if planned != args.due:
                    raise SystemExit(f"{label}: planned {planned} digests, expected {args.due}")
                times.append(seconds)
                print(f"{label} run {run}: {seconds:.3f} s, {planned} planned")
            medians[label] = statistics.median(times)
        print(f"next tick, every edition finished: {finished_tick(url):.3f} s to move {args.due} send times on")
        if args.full_scan:
            print(f"full scan (before next_send_at): median {medians['full scan']:.3f} s")
        print(f"tick {medians['scheduled']:.3f} s for {args.subscribers} subscribers, {args.due} due")
    finally:
        from digest.db import get_engine

        get_engine(url).dispose()
        drop_db(name)


if __name__ == "__main__":
    main()
