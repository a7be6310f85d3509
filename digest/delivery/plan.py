"""Plan: which subscribers are due, one Digest row per (subscriber, edition date), and --force resends."""

from __future__ import annotations

import datetime as dt
import secrets
from collections import Counter
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, any_, bindparam, delete, func, literal, or_, select, tuple_
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from digest.delivery.leases import claimable
from digest.db import insert_for
from digest.models import Digest, DigestItem, Subscriber, UTCDateTime
from digest.schedule import WEEKLY_DAY, get_due_edition, local_date  # noqa: F401 - WEEKLY_DAY re-exported

FINAL_STATES = ("sent", "skipped", "failed", "suppressed")


def local_edition(subscriber: Subscriber, now: dt.datetime) -> tuple[dt.date, int]:
    """The subscriber's local date and hour at `now`."""
    local = now.astimezone(ZoneInfo(subscriber.timezone))
    return local.date(), local.hour


def get_due(session: Session, now: dt.datetime, *, respect_hour: bool, emails: list[str] | None = None,
            edition_date: dt.date | None = None, include_finished: bool = False) -> list[tuple[Subscriber, dt.date]]:
    """Active subscribers whose edition is due and not yet finished (or finished too, for --force).

    Scheduled runs (respect_hour) take a subscriber once their local clock has
    reached their send hour on their local date (weekly ones on Mondays;
    digest.schedule); computing it with zoneinfo keeps it right across DST
    changes. Only rows whose stored next send has come are read: it is never
    later than the rule, so no due subscriber is missed. Editions already sent,
    skipped, failed or suppressed are left out; pending ones stay in (they are
    retried).
    """
    query = select(Subscriber).where(Subscriber.status == "active")
    if respect_hour:
        query = query.where(or_(Subscriber.next_send_at <= now, Subscriber.next_send_at.is_(None)))
    if emails:
        query = query.where(Subscriber.email_key.in_([e.strip().lower() for e in emails]))
    due = []
    for subscriber in session.scalars(query.order_by(Subscriber.id)):
        if respect_hour:
            date = get_due_edition(subscriber.timezone, subscriber.send_hour, subscriber.cadence, now)
            if date is None:
                continue
        else:
            date = local_date(subscriber.timezone, now)
        due.append((subscriber, edition_date or date))
    if include_finished:
        return due
    finished = get_finished(session, [(s.id, d) for s, d in due])
    return [(s, d) for s, d in due if (s.id, d) not in finished]


def get_finished(session: Session, pairs: list[tuple[int, dt.date]], chunk: int = 5000) -> set[tuple[int, dt.date]]:
    """Which of these (subscriber id, edition date) editions are sent, skipped, failed or suppressed."""
    finished: set[tuple[int, dt.date]] = set()
    for start in range(0, len(pairs), chunk):
        finished.update(_existing(session, set(pairs[start : start + chunk]), Digest.state.in_(FINAL_STATES)))
    return finished


def _existing(session: Session, pairs: set[tuple[int, dt.date]], *where) -> dict[tuple[int, dt.date], int]:
    """{(subscriber id, edition date): digest id} of the rows of these pairs that meet `where`.

    Asked as ids IN (...) AND dates IN (...) (a page holds two or three dates), which PostgreSQL answers
    from the unique index, then narrowed to the pairs here.
    """
    if not pairs:
        return {}
    rows = session.execute(
        select(Digest.subscriber_id, Digest.edition_date, Digest.id)
        .where(is_in(session, Digest.subscriber_id, {s for s, _ in pairs}),
               is_in(session, Digest.edition_date, {d for _, d in pairs}))
        .where(*where))
    return {(s, d): i for s, d, i in rows if (s, d) in pairs}


def is_in(session: Session, column, values):
    """`column IN values`; on PostgreSQL `= ANY(array)`: one parameter, whose cost does not grow with the list."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


def bulk_plan(session: Session, due: list[tuple[Subscriber, dt.date]], now: dt.datetime,
              chunk: int = 5000) -> list[int]:
    """Create missing Digest rows (one statement per chunk); return ids of rows still to deliver.

    The rows created are returned by the INSERT itself; only rows that were
    already there (a pending edition planned by an earlier run) are read back,
    and kept if a worker may claim them now. Commits before returning, so
    tasks enqueued with these ids find their rows.
    """
    ids: list[int] = []
    for start in range(0, len(due), chunk):
        part = due[start : start + chunk]
        created = _insert_new(session, part, now)
        ids += [i for _, _, i in created]
        there = {(s.id, d) for s, d in part} - {(s, d) for s, d, _ in created}
        ids += _existing(session, there, claimable(now)).values()
    session.commit()
    return sorted(ids)


def _insert_new(session: Session, part: list[tuple[Subscriber, dt.date]], now: dt.datetime) -> list[tuple]:
    """INSERT the pending rows of these editions, those already there left alone; (subscriber, date, id) of new ones.

    PostgreSQL gets the pairs as two arrays (unnest): one short statement for
    thousands of rows. Elsewhere an executemany of one cached statement, which
    SQLAlchemy sends as multi-row INSERTs.
    """
    new = insert_for(session, Digest.__table__).on_conflict_do_nothing(index_elements=["subscriber_id", "edition_date"])
    new = new.returning(Digest.subscriber_id, Digest.edition_date, Digest.id)
    if session.get_bind().dialect.name == "postgresql":
        pairs = select(func.unnest(bindparam("ids", [s.id for s, _ in part], type_=postgresql.ARRAY(Integer))),
                       func.unnest(bindparam("dates", [d for _, d in part], type_=postgresql.ARRAY(Date))),
                       literal("pending"), literal(0), literal(0), literal(now, UTCDateTime()),
                       literal(now, UTCDateTime()))
        columns = ["subscriber_id", "edition_date", "state", "attempts", "paper_count", "created_at", "updated_at"]
        return session.execute(new.from_select(columns, pairs)).all()
    rows = [{"subscriber_id": s.id, "edition_date": d, "state": "pending", "attempts": 0, "paper_count": 0,
             "created_at": now, "updated_at": now} for s, d in part]
    return session.execute(new, rows).all()


def get_earlier(session: Session, due: list[tuple[Subscriber, dt.date]], now: dt.datetime) -> Counter:
    """(edition date, state) counts of these editions' rows that are finished, leased by another worker,
    or waiting (pending with a retry time ahead: an outage's backoff or an unknown outcome)."""
    earlier: Counter = Counter()
    pairs = [(s.id, d) for s, d in due]
    for start in range(0, len(pairs), 500):
        for date, state, lease in session.execute(
            select(Digest.edition_date, Digest.state, Digest.lease_until)
            .where(tuple_(Digest.subscriber_id, Digest.edition_date).in_(pairs[start : start + 500]))
            .where(Digest.state.in_((*FINAL_STATES, "sending", "pending")))
        ):
            if state in FINAL_STATES or lease is not None and _aware(lease) > now:
                earlier[date, "waiting" if state == "pending" else state] += 1
    return earlier


def _aware(value: dt.datetime | None) -> dt.datetime:
    value = value or dt.datetime.min
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def reset_for_resend(session: Session, due: list[tuple[Subscriber, dt.date]], now: dt.datetime, domain: str) -> int:
    """--force: put finished rows of these editions back to pending (their items go).

    A resend is a new message, so it gets a new Message-ID (kept on the row,
    so that the resend's own retries reuse it); a receiving server would
    otherwise drop it as a duplicate of the first.
    """
    count = 0
    for subscriber, date in due:
        row = session.scalar(select(Digest).where(Digest.subscriber_id == subscriber.id, Digest.edition_date == date))
        if row is not None and row.state in FINAL_STATES:
            session.execute(delete(DigestItem).where(DigestItem.digest_id == row.id))
            row.state, row.reason, row.last_error, row.updated_at, row.attempts = "pending", None, None, now, 0
            row.failure_class = None
            row.message_id = f"<digest.{row.id}.{date.isoformat()}.{secrets.token_hex(6)}@{domain}>"
            count += 1
    session.commit()
    return count

