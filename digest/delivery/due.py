"""The scheduled plan: due subscribers read through their stored next send, a page at a time, planned in bulk.

A tick costs what is due, not who subscribes: ix_subscribers_due holds the
active rows by next_send_at, and only rows whose time has come are read. Each
page is checked against the rule itself (digest.schedule), since the stored
time may be early (a profile changed after today's hour, an edition still
pending). Rows found not due yet, or whose edition is already finished, get
their next send stored; rows due and unfinished keep theirs until their
edition finishes, so a pending (retried) edition stays due exactly as before.
Moving the time on here rather than where an edition is recorded keeps the
send path as it is, and leaves no way of finishing an edition (sent, skipped,
failed, suppressed, by a worker or by hand) that forgets to move it.
"""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfoNotFoundError

from sqlalchemy import DateTime, Integer, Row, bindparam, func, literal, select, tuple_, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from digest.delivery.plan import bulk_plan, get_finished
from digest.models import Subscriber
from digest.schedule import get_due_edition, get_first_send, get_send_after

log = logging.getLogger(__name__)
PAGE = 5000
_COLUMNS = (Subscriber.id, Subscriber.timezone, Subscriber.send_hour, Subscriber.cadence, Subscriber.next_send_at)


def bulk_plan_scheduled(session: Session, now: dt.datetime, *, emails: list[str] | None = None,
                        page: int = PAGE) -> list[int]:
    """Plan every due, unfinished edition (of `emails` only, when given); return the ids still to deliver.

    Commits page by page (the rows exist before any task names them).
    """
    bulk_schedule_missing(session, now, page)
    keys = [e.strip().lower() for e in emails] if emails else None
    ids: list[int] = []
    after = None
    while rows := get_due_page(session, now, after, page, keys):
        after = rows[-1].next_send_at, rows[-1].id
        due, moves = sort_page(session, rows, now)
        ids += bulk_plan(session, due, now)
        bulk_reschedule(session, moves)
    return sorted(ids)


def get_due_page(session: Session, now: dt.datetime, after: tuple[dt.datetime, int] | None, limit: int,
                 keys: list[str] | None = None) -> list[Row]:
    """Active rows whose next send has come, in (next send, id) order after `after`, through ix_subscribers_due."""
    query = select(*_COLUMNS).where(Subscriber.status == "active", Subscriber.next_send_at <= now)
    if after is not None:
        # Typed binds: the key compares as the column stores it (SQLite compares text).
        key = tuple_(literal(after[0], Subscriber.next_send_at.type), literal(after[1], Subscriber.id.type))
        query = query.where(tuple_(Subscriber.next_send_at, Subscriber.id) > key)
    if keys:
        query = query.where(Subscriber.email_key.in_(keys))
    return list(session.execute(query.order_by(Subscriber.next_send_at, Subscriber.id).limit(limit)))


def sort_page(session: Session, rows: list[Row], now: dt.datetime) -> tuple[list[tuple[Row, dt.date]], dict]:
    """Split a page into (row, edition) pairs to plan and {id: next send} for rows not due or already finished.

    A next send is always after `now`, so a row moved on is not read again in
    this tick (the rule may say "not due" while its first send today has gone
    by: an hour repeated when clocks fall back; the next tick looks again).
    """
    due, moves, later = [], {}, now + dt.timedelta(seconds=1)
    for row in rows:
        try:
            edition = get_due_edition(row.timezone, row.send_hour, row.cadence, now)
            if edition is None:
                moves[row.id] = max(get_first_send(row.timezone, row.send_hour, row.cadence, now), later)
            else:
                due.append((row, edition))
        except (ZoneInfoNotFoundError, ValueError) as exc:  # one bad row never stops the rest
            log.warning("subscriber %d not scheduled: time zone %r: %s", row.id, row.timezone, exc)
    finished = get_finished(session, [(row.id, edition) for row, edition in due])
    for row, edition in due:
        if (row.id, edition) in finished:
            moves[row.id] = max(get_send_after(row.timezone, row.send_hour, row.cadence, edition), later)
    return [(row, edition) for row, edition in due if (row.id, edition) not in finished], moves


def bulk_reschedule(session: Session, moves: dict[int, dt.datetime]) -> None:
    """Store these next sends and commit: on PostgreSQL one UPDATE joined to two arrays, elsewhere an executemany."""
    if moves and session.get_bind().dialect.name == "postgresql":
        table = Subscriber.__table__
        given = select(func.unnest(bindparam("ids", list(moves), type_=postgresql.ARRAY(Integer))).label("id"),
                       func.unnest(bindparam("times", list(moves.values()),
                                             type_=postgresql.ARRAY(DateTime(timezone=True)))).label("at")).subquery()
        session.execute(update(table).where(table.c.id == given.c.id).values(next_send_at=given.c.at))
    elif moves:
        session.execute(update(Subscriber), [{"id": i, "next_send_at": when} for i, when in moves.items()])
    session.commit()


def bulk_schedule_missing(session: Session, now: dt.datetime, page: int = PAGE) -> int:
    """Give active rows without a next send (written by something that does not set it) one from `now`."""
    count, after = 0, 0
    query = select(*_COLUMNS).where(Subscriber.status == "active", Subscriber.next_send_at.is_(None))
    while rows := session.execute(query.where(Subscriber.id > after).order_by(Subscriber.id).limit(page)).all():
        after, moves = rows[-1].id, {}
        for row in rows:
            try:
                moves[row.id] = get_first_send(row.timezone, row.send_hour, row.cadence, now)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                log.warning("subscriber %d not scheduled: time zone %r: %s", row.id, row.timezone, exc)
        bulk_reschedule(session, moves)
        count += len(moves)
    return count
