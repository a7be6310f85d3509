"""Plan, claim, send, record. The idempotency rules live here.

Invariants (DESIGN.md):
- one Digest row per (subscriber, edition date), claimed with a lease before
  SMTP and marked sent right after the relay's 250; a second run, a retried
  task or a second worker finds the row taken and sends nothing;
- the Message-ID derives from the row, so it is the same on every retry;
- every due subscriber ends as sent, skipped (with a reason), failed (with the
  reply) or suppressed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from digest import ranking, render
from digest.config import Settings
from digest.db import utcnow
from digest.mail import PermanentError, Sender, TransientError
from digest.models import Digest, DigestItem, Paper, Subscriber
from digest.subscriptions import make_token

log = logging.getLogger(__name__)

FINAL_STATES = ("sent", "skipped", "failed", "suppressed")
SUPPRESS_AFTER_FAILURES = 3
NOTHING_RELEVANT = "nothing relevant today"


@dataclass
class DeliveryReport:
    """What one delivery run did, by final state."""

    counts: Counter = field(default_factory=Counter)
    lines: list[str] = field(default_factory=list)

    def add(self, state: str, line: str) -> None:
        self.counts[state] += 1
        self.lines.append(line)

    def summary(self) -> str:
        if not self.counts:
            return "nothing due: every digest for this edition was already handled"
        order = ("sent", "skipped", "failed", "suppressed", "retry", "busy")
        return ", ".join(f"{self.counts[s]} {s}" for s in order if self.counts[s])


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


def _insert(session: Session):
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Digest)


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
        session.execute(_insert(session).on_conflict_do_nothing(index_elements=["subscriber_id", "edition_date"]),
                        rows)
        ids += session.scalars(
            select(Digest.id)
            .where(tuple_(Digest.subscriber_id, Digest.edition_date).in_([(s.id, d) for s, d in part]))
            .where(or_(Digest.state == "pending", and_(Digest.state == "sending", Digest.lease_until < now)))
        ).all()
    session.commit()
    return sorted(ids)


def reset_for_resend(session: Session, due: list[tuple[Subscriber, dt.date]], now: dt.datetime) -> int:
    """--force: put finished rows of these editions back to pending (their items go)."""
    count = 0
    for subscriber, date in due:
        row = session.scalar(select(Digest).where(Digest.subscriber_id == subscriber.id, Digest.edition_date == date))
        if row is not None and row.state in FINAL_STATES:
            session.execute(delete(DigestItem).where(DigestItem.digest_id == row.id))
            row.state, row.reason, row.last_error, row.updated_at, row.attempts = "pending", None, None, now, 0
            count += 1
    session.commit()
    return count


def claim(session: Session, digest_id: int, now: dt.datetime, lease_seconds: int) -> int | None:
    """Compare-and-swap pending (or an expired lease) → sending.

    Returns the attempt number we now hold (a fencing token for `renew`), or
    None if another worker has the row or it is finished.
    """
    result = session.execute(
        update(Digest)
        .where(Digest.id == digest_id)
        .where(or_(Digest.state == "pending", and_(Digest.state == "sending", Digest.lease_until < now)))
        .values(state="sending", lease_until=now + dt.timedelta(seconds=lease_seconds),
                attempts=Digest.attempts + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if result.rowcount != 1:
        return None
    return session.scalar(select(Digest.attempts).where(Digest.id == digest_id))


def get_stalled(session: Session, now: dt.datetime, stale_seconds: int) -> list[int]:
    """Ids of rows whose lease expired, or that sat pending longer than `stale_seconds`."""
    stale = now - dt.timedelta(seconds=stale_seconds)
    return sorted(session.scalars(
        select(Digest.id).where(or_(
            and_(Digest.state == "sending", Digest.lease_until < now),
            and_(Digest.state == "pending", Digest.updated_at < stale),
        ))
    ).all())


def renew(session: Session, digest_id: int, attempt: int, lease_seconds: int) -> bool:
    """Extend our lease right before SMTP; False if the row was taken over meanwhile.

    A batch can outlive its lease (slow relay); a sweeper may then have handed
    the row to another worker. The attempt number fences the old holder out,
    so it never sends a second copy.
    """
    now = utcnow()
    result = session.execute(
        update(Digest)
        .where(Digest.id == digest_id, Digest.state == "sending", Digest.attempts == attempt)
        .values(lease_until=now + dt.timedelta(seconds=lease_seconds), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount == 1


def get_candidates(session: Session, now: dt.datetime, days: int) -> tuple[list[ranking.Candidate], dict[int, Paper]]:
    """Papers first seen within the window, as ranking inputs and rows by id."""
    since = now - dt.timedelta(days=days)
    papers = session.scalars(select(Paper).where(Paper.first_seen_at >= since).order_by(Paper.id)).all()
    candidates = [
        ranking.Candidate(p.id, p.title, p.abstract or "", tuple(p.authors or ()), tuple(p.categories or ()),
                          p.announced_at or p.first_seen_at, p.upvotes or 0)
        for p in papers
    ]
    return candidates, {p.id: p for p in papers}


def get_already_sent(session: Session, subscriber_ids: list[int], paper_ids: list[int],
                     exclude_digest_ids: list[int]) -> dict[int, set[int]]:
    """Papers each subscriber already received (sent or being sent) among these candidates."""
    sent: dict[int, set[int]] = {}
    if not subscriber_ids or not paper_ids:
        return sent
    query = (
        select(DigestItem.subscriber_id, DigestItem.paper_id)
        .join(Digest, Digest.id == DigestItem.digest_id)
        .where(DigestItem.subscriber_id.in_(subscriber_ids), DigestItem.paper_id.in_(paper_ids))
        .where(Digest.state.in_(("sent", "sending")), Digest.id.not_in(exclude_digest_ids or [-1]))
    )
    for subscriber_id, paper_id in session.execute(query):
        sent.setdefault(subscriber_id, set()).add(paper_id)
    return sent


def profile_of(subscriber: Subscriber) -> ranking.Profile:
    return ranking.Profile(subscriber.id, tuple(subscriber.topics or ()), tuple(subscriber.categories or ()),
                           tuple(subscriber.exclude or ()), tuple(subscriber.authors or ()), subscriber.max_papers,
                           subscriber.min_score or 0.0)


def message_id(digest: Digest, settings: Settings) -> str:
    """Stable across retries: derived from the row alone."""
    return f"<digest.{digest.id}.{digest.edition_date.isoformat()}@{settings.from_address.domain}>"


def build_content(settings: Settings, subscriber: Subscriber, edition_date: dt.date, picks: list[ranking.Pick],
                  papers: dict[int, Paper]) -> render.DigestContent:
    key = settings.signing_key()
    cards = []
    for rank_no, pick in enumerate(picks, 1):
        paper = papers[pick.paper_id]
        cards.append(render.Card(
            rank=rank_no, title=paper.title, authors=render.shorten_authors(list(paper.authors or [])),
            abstract=render.trim(paper.abstract or ""), reason=pick.reason,
            url=render.paper_link(paper.url, paper.title), pdf_url=paper.pdf_url, topic=pick.topic,
        ))
    return render.DigestContent(
        email=subscriber.email, edition_date=edition_date, cards=cards, topics=list(subscriber.topics or []),
        unsubscribe_url=f"{settings.base_url}/unsubscribe/{make_token(key, 'unsubscribe', subscriber.id)}",
        preferences_url=f"{settings.base_url}/preferences/{make_token(key, 'preferences', subscriber.id)}",
    )


def build_email(settings: Settings, digest: Digest, content: render.DigestContent, now: dt.datetime) -> bytes:
    rendered = render.render_digest(content)
    msg = render.build_message(
        rendered, sender=settings.from_address, to=content.email, message_id=message_id(digest, settings),
        date=now, unsubscribe_url=content.unsubscribe_url, list_id=f"<digest.{settings.from_address.domain}>",
        edition=digest.edition_date,
    )
    return msg.as_bytes()


def deliver(settings: Settings, factory: sessionmaker, digest_ids: list[int], now: dt.datetime,
            sender: Sender, report: DeliveryReport | None = None) -> DeliveryReport:
    """Claim, rank together, render, send and record a batch of planned digests."""
    report = report or DeliveryReport()
    with factory() as session:
        claimed = [i for i in digest_ids if claim(session, i, now, settings.lease_seconds) is not None]
        report.counts["busy"] += len(digest_ids) - len(claimed)
        if not claimed:
            return report
        digests = session.scalars(select(Digest).where(Digest.id.in_(claimed)).order_by(Digest.id)).all()
        subscribers = {d.subscriber_id: d.subscriber for d in digests}
        live = [d for d in digests if _is_deliverable(settings, session, d, now, report)]
        candidates, papers = get_candidates(session, now, settings.candidate_days)
        sent_before = get_already_sent(session, [d.subscriber_id for d in live], list(papers), claimed)
        picks = ranking.rank([profile_of(subscribers[d.subscriber_id]) for d in live], candidates, now,
                             already_sent=sent_before, half_life_hours=settings.recency_half_life_hours)
        for digest in live:
            _deliver_one(settings, session, digest, picks.get(digest.subscriber_id, []), papers, now, sender, report)
    sender.close()
    return report


def _is_deliverable(settings: Settings, session: Session, digest: Digest, now: dt.datetime,
                    report: DeliveryReport) -> bool:
    """False (and the row finished) for a subscriber who left, or a row that keeps killing its batch."""
    subscriber = digest.subscriber
    if subscriber.status != "active":
        _finish(session, digest, "suppressed", now, reason=f"subscriber is {subscriber.status}")
        report.add("suppressed", f"{subscriber.email}: suppressed ({subscriber.status})")
        return False
    if digest.attempts > settings.max_attempts:
        # Claimed this often without ending: every batch holding it crashed or
        # was killed. Stop the sweeper from re-queueing it forever.
        _finish(session, digest, "failed", now, reason=f"gave up after {digest.attempts - 1} attempts",
                error=digest.last_error or "the worker never finished this digest")
        report.add("failed", f"{subscriber.email}: failed (gave up after {digest.attempts - 1} attempts)")
        return False
    return True


def _finish(session: Session, digest: Digest, state: str, now: dt.datetime, *, reason: str | None = None,
            error: str | None = None) -> None:
    digest.state = state
    digest.reason = reason
    digest.lease_until = None
    digest.updated_at = now
    if error is not None:
        digest.last_error = error
    if state == "sent":
        digest.sent_at = now
    session.commit()


def _deliver_one(settings, session, digest, picks, papers, now, sender, report) -> None:
    subscriber = digest.subscriber
    if not picks:
        _finish(session, digest, "skipped", now, reason=NOTHING_RELEVANT)
        report.add("skipped", f"{subscriber.email}: skipped ({NOTHING_RELEVANT})")
        return
    digest.message_id = message_id(digest, settings)
    digest.paper_count = len(picks)
    # Items are written before the send: a paper in a row being sent counts as sent,
    # so a concurrent edition cannot pick it again.
    session.execute(delete(DigestItem).where(DigestItem.digest_id == digest.id))
    session.add_all(DigestItem(digest_id=digest.id, subscriber_id=subscriber.id, paper_id=p.paper_id, rank=n,
                               score=p.score, reason=p.reason, topic=p.topic) for n, p in enumerate(picks, 1))
    session.commit()
    data = build_email(settings, digest, build_content(settings, subscriber, digest.edition_date, picks, papers), now)
    if not renew(session, digest.id, digest.attempts, settings.lease_seconds):
        report.add("busy", f"{subscriber.email}: taken over by another worker, not sent here")
        return
    try:
        reply = sender.send(settings.from_address.addr_spec, subscriber.email, data)
    except PermanentError as exc:
        subscriber.permanent_failures = (subscriber.permanent_failures or 0) + 1
        if exc.no_such_user or subscriber.permanent_failures >= SUPPRESS_AFTER_FAILURES:
            subscriber.status = "bounced"
        _finish(session, digest, "failed", now, reason="the relay refused the message", error=str(exc))
        report.add("failed", f"{subscriber.email}: failed ({exc})")
        return
    except TransientError as exc:
        if digest.attempts >= settings.max_attempts:
            _finish(session, digest, "failed", now, reason=f"gave up after {digest.attempts} attempts", error=str(exc))
            report.add("failed", f"{subscriber.email}: failed after {digest.attempts} attempts ({exc})")
        else:
            _finish(session, digest, "pending", now, error=str(exc))
            report.add("retry", f"{subscriber.email}: will retry ({exc})")
        return
    subscriber.permanent_failures = 0
    _finish(session, digest, "sent", now, error=None)
    report.add("sent", f"{subscriber.email}: sent {len(picks)} papers ({reply})")
