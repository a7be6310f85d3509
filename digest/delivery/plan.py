"""Plan: which subscribers are due, one Digest row per (subscriber, edition date), and --force resends."""

from __future__ import annotations

import datetime as dt
import secrets
from collections import Counter
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from digest.delivery.leases import claimable
from digest.db import insert_for
from digest.models import Digest, DigestItem, Subscriber

FINAL_STATES = ("sent", "skipped", "failed", "suppressed")


def local_edition(subscriber: Subscriber, now: dt.datetime) -> tuple[dt.date, int]:
    """The subscriber's local date and hour at `now`."""
    local = now.astimezone(ZoneInfo(subscriber.timezone))
    return local.date(), local.hour


WEEKLY_DAY = 0  # weekly subscribers get their roll-up on Monday, local time


def get_due(session: Session, now: dt.datetime, *, respect_hour: bool, emails: list[str] | None = None,
            edition_date: dt.date | None = None, include_finished: bool = False) -> list[tuple[Subscriber, dt.date]]:
    """Active subscribers whose edition is due and not yet finished (or finished too, for --force).

    Scheduled runs (respect_hour) take a subscriber once their local clock has
    reached their send hour on their local date (weekly ones on Mondays);
    computing it with zoneinfo keeps it right across DST changes. Editions
    already sent, skipped, failed or suppressed are left out; pending ones stay
    in (they are retried).
    """
    query = select(Subscriber).where(Subscriber.status == "active")
    if emails:
        query = query.where(Subscriber.email_key.in_([e.strip().lower() for e in emails]))
    around = (now - dt.timedelta(days=1)).date(), now.date(), (now + dt.timedelta(days=1)).date()
    finished = set(session.execute(
        select(Digest.subscriber_id, Digest.edition_date)
        .where(Digest.edition_date.in_({*around, edition_date} - {None}), Digest.state.in_(FINAL_STATES))
    ).all())
    due = []
    for subscriber in session.scalars(query.order_by(Subscriber.id)):
        local = now.astimezone(ZoneInfo(subscriber.timezone))
        if respect_hour and (local.hour < subscriber.send_hour
                             or subscriber.cadence == "weekly" and local.weekday() != WEEKLY_DAY):
            continue
        date = edition_date or local.date()
        if include_finished or (subscriber.id, date) not in finished:
            due.append((subscriber, date))
    return due


def bulk_plan(session: Session, due: list[tuple[Subscriber, dt.date]], now: dt.datetime,
              chunk: int = 500) -> list[int]:
    """Create missing Digest rows (one statement per chunk); return ids of rows still to deliver.

    Commits before returning, so tasks enqueued with these ids find their rows.
    """
    ids: list[int] = []
    for start in range(0, len(due), chunk):
        part = due[start : start + chunk]
        rows = [{"subscriber_id": s.id, "edition_date": d, "state": "pending", "attempts": 0, "paper_count": 0,
                 "created_at": now, "updated_at": now} for s, d in part]
        session.execute(insert_for(session, Digest).on_conflict_do_nothing(index_elements=["subscriber_id", "edition_date"]),
                        rows)
        ids += session.scalars(
            select(Digest.id)
            .where(tuple_(Digest.subscriber_id, Digest.edition_date).in_([(s.id, d) for s, d in part]))
            .where(claimable(now))
        ).all()
    session.commit()
    return sorted(ids)


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

