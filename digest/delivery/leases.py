"""Claims on digest rows: compare-and-swap leases, renewed while a batch runs, fenced by the attempt number.

A row is `sending` only while a worker holds its lease; a lease that expires
(a killed worker) lets the sweeper hand the row to another, and the attempt
number the claim returned keeps the old holder from sending a second copy.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from digest.db import utcnow
from digest.models import Digest


def claimable(now: dt.datetime):
    """Rows a worker may take now: pending and not waiting for a retry time, or sending with an expired lease.

    While a row is pending, `lease_until` is its "not before": an outage's
    backoff, or the wait after an unknown outcome (never resent at once).
    """
    return or_(and_(Digest.state == "pending", or_(Digest.lease_until.is_(None), Digest.lease_until <= now)),
               and_(Digest.state == "sending", Digest.lease_until < now))


def bulk_claim(session: Session, digest_ids: list[int], now: dt.datetime, lease_seconds: int) -> dict[int, int]:
    """Compare-and-swap pending (or an expired lease) → sending, in one statement.

    Returns {digest id: attempt number} for the rows we now hold; the attempt
    number is the fencing token `renew` checks. Rows another worker holds, or
    that are finished, are left out.
    """
    if not digest_ids:
        return {}
    rows = session.execute(
        update(Digest)
        .where(Digest.id.in_(digest_ids))
        .where(claimable(now))
        .values(state="sending", lease_until=now + dt.timedelta(seconds=lease_seconds),
                attempts=Digest.attempts + 1, updated_at=now)
        .returning(Digest.id, Digest.attempts)
        .execution_options(synchronize_session=False)
    ).all()
    session.commit()
    return dict(rows)


def claim(session: Session, digest_id: int, now: dt.datetime, lease_seconds: int) -> int | None:
    """Claim one row; the attempt number we hold, or None."""
    return bulk_claim(session, [digest_id], now, lease_seconds).get(digest_id)


def get_stalled(session: Session, now: dt.datetime, stale_seconds: int) -> list[int]:
    """Ids of rows whose lease expired, whose retry time came, or that sat pending longer than `stale_seconds`."""
    stale = now - dt.timedelta(seconds=stale_seconds)
    return sorted(session.scalars(
        select(Digest.id).where(or_(
            and_(Digest.state == "sending", Digest.lease_until < now),
            and_(Digest.state == "pending", Digest.lease_until <= now),
            and_(Digest.state == "pending", Digest.lease_until.is_(None), Digest.updated_at < stale),
        ))
    ).all())


def release(session: Session, held: dict[int, int], refund: bool = True) -> int:
    """Give rows we still hold back (sending → pending) so another worker takes them now.

    Only a real attempt counts: with `refund`, the attempt the claim counted is
    given back, for rows whose message never left. The attempt number fences
    out rows another worker has taken over since.
    """
    if not held:
        return 0
    result = session.execute(
        update(Digest).where(Digest.state == "sending")
        .where(or_(*[and_(Digest.id == i, Digest.attempts == a) for i, a in held.items()]))
        .values(state="pending", lease_until=None, updated_at=utcnow(),
                attempts=Digest.attempts - 1 if refund else Digest.attempts)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount or 0


def renew(session: Session, held: dict[int, int], lease_seconds: int) -> set[int]:
    """Extend our lease on every row still held; return the ids we lost.

    A batch can outlive its lease (a stalled process, a slow relay); a sweeper
    may then have handed a row to another worker. The attempt number fences
    the old holder out, so it never sends a second copy.
    """
    if not held:
        return set()
    now = utcnow()
    kept = set(session.scalars(
        update(Digest)
        .where(Digest.id.in_(list(held)), Digest.state == "sending")
        .where(or_(*[and_(Digest.id == i, Digest.attempts == a) for i, a in held.items()]))
        .values(lease_until=now + dt.timedelta(seconds=lease_seconds), updated_at=now)
        .returning(Digest.id)
        .execution_options(synchronize_session=False)
    ).all())
    session.commit()
    return set(held) - kept


@dataclass
class Lease:
    """Our hold on a batch's rows, renewed before it can expire (every third of the lease)."""

    held: dict[int, int]
    seconds: int
    renewed: float = field(default_factory=time.monotonic)

    def keeps(self, session: Session, digest_id: int) -> bool:
        """True if we still hold `digest_id`; renews the whole batch when a third of the lease has gone."""
        if time.monotonic() - self.renewed > self.seconds / 3:
            for lost in renew(session, self.held, self.seconds):
                self.held.pop(lost, None)
            self.renewed = time.monotonic()
        return digest_id in self.held
