"""The operator's figures: editions by state, the last days, subscribers, failures, returned mail.

Every figure is one aggregate query (GROUP BY in the database, a handful of
rows back) or a short list with a LIMIT, so the dashboard and /metrics cost
the same with a million subscribers as with ten. The digest counts read the
`(state, edition_date)` index alone: `state IN (...)` turns it into one range
scan per state, and the count needs no table row. Only skipped digests are read
for their reason, and only failed ones for their reply.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from digest.delivery.editions import NO_NEW_PAPERS, NOTHING_RELEVANT
from digest.models import Digest, InboundMessage, Subscriber

STATES = ("pending", "sending", "sent", "skipped", "failed", "suppressed")
SKIP_KINDS = ("no new papers", "nothing relevant", "other")
# Who a refusal is blamed on (RFC 3463 class, digest.email.replies); "accepted" is the relay's 250.
REPLY_CLASSES = ("accepted", "recipient", "sender", "transient", "unknown")
RETURNED_KINDS = ("bounce", "complaint")


@dataclass
class Day:
    """One edition date: digests by state, and the skipped ones by reason."""

    date: dt.date
    states: dict[str, int] = field(default_factory=dict)
    skips: dict[str, int] = field(default_factory=dict)

    def count(self, state: str) -> int:
        return self.states.get(state, 0)


@dataclass
class Failure:
    edition_date: dt.date
    subscriber_id: int
    email: str
    reason: str
    reply: str
    failure_class: str
    attempts: int
    updated_at: dt.datetime


@dataclass
class Returned:
    received_at: dt.datetime
    kind: str
    sender: str
    status: str
    blame: str
    outcome: str
    subscriber_id: int | None
    subscriber_email: str | None


def get_days(session: Session, first: dt.date, last: dt.date) -> list[Day]:
    """Each edition date from `first` to `last` (every day, empty ones too): digests by state, skips by reason."""
    days = {first + dt.timedelta(days=n): None for n in range((last - first).days + 1)}
    table = {d: Day(d) for d in days}
    for date, state, count in session.execute(
            select(Digest.edition_date, Digest.state, func.count())
            .where(Digest.state.in_(STATES), Digest.edition_date.between(first, last))
            .group_by(Digest.edition_date, Digest.state)):
        table[date].states[state] = count
    kind = case((Digest.reason.startswith(NO_NEW_PAPERS), SKIP_KINDS[0]),
                (Digest.reason.startswith(NOTHING_RELEVANT), SKIP_KINDS[1]), else_=SKIP_KINDS[2]).label("kind")
    # Grouped outside a subquery: PostgreSQL would see the CASE's bound values as two different expressions.
    skipped = (select(Digest.edition_date, kind)
               .where(Digest.state == "skipped", Digest.edition_date.between(first, last)).subquery())
    for date, name, count in session.execute(
            select(skipped.c.edition_date, skipped.c.kind, func.count())
            .group_by(skipped.c.edition_date, skipped.c.kind)):
        table[date].skips[name] = count
    return [table[d] for d in days]


def get_day(session: Session, date: dt.date) -> Day:
    """One edition date's digests by state and skips by reason."""
    return get_days(session, date, date)[0]


def get_subscribers(session: Session) -> dict[tuple[str, str], int]:
    """{(status, cadence): count} over every subscriber."""
    return {(status, cadence): count for status, cadence, count in session.execute(
        select(Subscriber.status, Subscriber.cadence, func.count()).group_by(Subscriber.status, Subscriber.cadence))}


def get_reply_classes(session: Session, first: dt.date, last: dt.date) -> dict[str, int]:
    """Digests of these editions by the class of the relay's last reply: accepted (sent) or who a refusal
    or error is blamed on; digests no relay answered yet are left out."""
    counts = dict.fromkeys(REPLY_CLASSES, 0)
    counts["accepted"] = session.scalar(select(func.count()).select_from(Digest).where(
        Digest.state == "sent", Digest.edition_date.between(first, last))) or 0
    for blame, count in session.execute(
            select(Digest.failure_class, func.count())
            .where(Digest.state.in_(("pending", "sending", "failed")), Digest.edition_date.between(first, last),
                   Digest.failure_class.is_not(None))
            .group_by(Digest.failure_class)):
        counts[blame if blame in counts else "unknown"] += count
    return counts


def get_failures(session: Session, since: dt.date, limit: int = 20) -> list[Failure]:
    """The latest failed digests from `since` on, with the relay's reply; newest first."""
    rows = session.execute(
        select(Digest.edition_date, Digest.subscriber_id, Subscriber.email, Digest.reason, Digest.last_error,
               Digest.failure_class, Digest.attempts, Digest.updated_at)
        .join(Subscriber, Subscriber.id == Digest.subscriber_id)
        .where(Digest.state == "failed", Digest.edition_date >= since)
        .order_by(Digest.edition_date.desc(), Digest.updated_at.desc(), Digest.id.desc()).limit(limit))
    return [Failure(d, sid, email, reason or "", error or "", blame or "unknown", attempts, when)
            for d, sid, email, reason, error, blame, attempts, when in rows]


def get_returned_counts(session: Session, since: dt.datetime) -> dict[str, int]:
    """Bounces and complaints received since `since`, by kind."""
    counts = dict.fromkeys(RETURNED_KINDS, 0)
    counts.update(session.execute(select(InboundMessage.kind, func.count()).where(
        InboundMessage.kind.in_(RETURNED_KINDS), InboundMessage.received_at >= since)
        .group_by(InboundMessage.kind)).all())
    return counts


def get_returned(session: Session, since: dt.datetime, limit: int = 20) -> list[Returned]:
    """The latest bounces and complaints since `since`, newest first."""
    rows = session.execute(
        select(InboundMessage.received_at, InboundMessage.kind, InboundMessage.sender, InboundMessage.status,
               InboundMessage.blame, InboundMessage.outcome, InboundMessage.subscriber_id, Subscriber.email)
        .outerjoin(Subscriber, Subscriber.id == InboundMessage.subscriber_id)
        .where(InboundMessage.kind.in_(RETURNED_KINDS), InboundMessage.received_at >= since)
        .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc()).limit(limit))
    return [Returned(when, kind, sender, status or "", blame or "", outcome, sid, email)
            for when, kind, sender, status, blame, outcome, sid, email in rows]


def by_status(counts: dict[tuple[str, str], int]) -> dict[str, dict[str, int]]:
    """{status: {cadence: count}} from get_subscribers, statuses by size."""
    table: dict[str, dict[str, int]] = defaultdict(dict)
    for (status, cadence), count in sorted(counts.items(), key=lambda kv: -kv[1]):
        table[status][cadence] = count
    return dict(table)
