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
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from digest import message, ranking, render
from digest.config import Settings
from digest.db import utcnow
from digest.mail import DeliveryError, PermanentError, Sender, TransientError
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


def release(session: Session, digest_ids: list[int]) -> int:
    """Give claimed rows back (sending → pending) so another worker takes them now."""
    if not digest_ids:
        return 0
    result = session.execute(
        update(Digest).where(Digest.id.in_(digest_ids), Digest.state == "sending")
        .values(state="pending", lease_until=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount or 0


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
                          p.announced_at or p.first_seen_at, p.upvotes or 0, github_stars=p.github_stars or 0,
                          n_sources=max(len(p.source_names or ()), 1), comments=p.comments or 0)
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
                  papers: dict[int, Paper], edition: render.EditionRenderer | None = None) -> render.DigestContent:
    """What the subscriber's email shows: shared paper cards, their reasons, signed links."""
    key = settings.signing_key()
    card = edition.card_for if edition is not None else render.paper_card
    return render.DigestContent(
        email=subscriber.email, edition_date=edition_date, topics=list(subscriber.topics or []),
        cards=[render.Card(card(papers[p.paper_id]), p.reason, p.topic) for p in picks],
        unsubscribe_url=f"{settings.base_url}/unsubscribe/{make_token(key, 'unsubscribe', subscriber.id)}",
        preferences_url=f"{settings.base_url}/preferences/{make_token(key, 'preferences', subscriber.id)}",
    )


def unsubscribe_mailto(settings: Settings, content: render.DigestContent) -> str | None:
    """mailto: for List-Unsubscribe when configured; the subject carries the signed token."""
    if not settings.unsubscribe_mailto:
        return None
    return f"mailto:{settings.unsubscribe_mailto}?subject=unsubscribe%20{content.unsubscribe_url.rsplit('/', 1)[-1]}"


def message_bytes(settings: Settings, digest: Digest, subscriber: Subscriber, content: render.DigestContent,
                  rendered: render.Rendered, now: dt.datetime) -> bytes:
    """Headers + MIME (+ DKIM) for one rendered digest; ValueError if the address is unsafe."""
    envelope = message.Envelope(
        sender=settings.from_address, to=message.safe_address(subscriber.email, subscriber.name or ""),
        message_id=message_id(digest, settings), date=now, list_id=f"<digest.{settings.from_address.domain}>",
        unsubscribe_url=content.unsubscribe_url, unsubscribe_mailto=unsubscribe_mailto(settings, content),
        edition=digest.edition_date,
    )
    return message.build_bytes(rendered, envelope, settings.dkim)


def build_email(settings: Settings, digest: Digest, content: render.DigestContent, now: dt.datetime,
                edition: render.EditionRenderer | None = None) -> bytes:
    """The final message bytes for one digest."""
    rendered = render.render_digest(content, edition)
    return message_bytes(settings, digest, digest.subscriber, content, rendered, now)


@dataclass(frozen=True)
class RetryPolicy:
    """In-batch retries of transient failures: exponential backoff with jitter, small and bounded."""

    tries: int = 3
    base: float = 0.5
    cap: float = 4.0
    relay_down_after: int = 3  # digests in a row failing transiently: stop the batch, leave the rest pending

    def delay(self, retry: int, rng=random.random) -> float:
        """Seconds before retry number `retry` (0-based): full backoff halved, plus up to half of it at random."""
        full = min(self.cap, self.base * 2**retry)
        return full / 2 + rng() * full / 2


RETRY = RetryPolicy()
_sleep = time.sleep  # tests replace it


@dataclass
class Batch:
    """What the digests of one batch share: the edition renderer and the relay's health."""

    edition: render.EditionRenderer
    retry: RetryPolicy = RETRY
    transient_streak: int = 0
    relay_error: str | None = None

    def prepare(self, picks: dict[int, list[ranking.Pick]], papers: dict[int, Paper]) -> None:
        """Inline every picked card of the batch in one premailer run."""
        ids = {p.paper_id for ps in picks.values() for p in ps}
        self.edition.prepare(self.edition.card_for(papers[i]) for i in sorted(ids))


_EDITION: tuple[float, render.EditionRenderer] | None = None
EDITION_MAX_AGE = 3600.0
EDITION_MAX_CARDS = 20_000


def shared_edition() -> render.EditionRenderer:
    """The process's edition renderer: batches in one worker share the inlined shell and cards.

    Cards are keyed by paper id and checked against the paper's content hash,
    so an edited paper is re-rendered; the cache is dropped hourly or when large.
    """
    global _EDITION
    now = time.monotonic()
    if _EDITION is None or now - _EDITION[0] > EDITION_MAX_AGE or len(_EDITION[1].cards) > EDITION_MAX_CARDS:
        _EDITION = (now, render.EditionRenderer())
    return _EDITION[1]


def deliver(settings: Settings, factory: sessionmaker, digest_ids: list[int], now: dt.datetime,
            sender: Sender, report: DeliveryReport | None = None,
            should_stop: Callable[[], bool] | None = None) -> DeliveryReport:
    """Claim, rank together, render, send and record a batch of planned digests.

    `should_stop` is asked between messages (a worker being shut down): the
    rows not yet sent are released to pending for another worker at once,
    instead of waiting for their lease to expire.
    """
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
        batch = Batch(shared_edition())
        batch.prepare({d.subscriber_id: picks.get(d.subscriber_id, []) for d in live}, papers)
        for n, digest in enumerate(live):
            if should_stop is not None and should_stop():
                released = release(session, [d.id for d in live[n:]])
                report.counts["released"] += released
                break
            _deliver_one(settings, session, digest, picks.get(digest.subscriber_id, []), papers, now, sender, report,
                         batch)
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


def _deliver_one(settings, session, digest, picks, papers, now, sender, report, batch: Batch | None = None) -> None:
    """Render, record the items, send (with in-batch retries) and record the outcome of one digest."""
    subscriber = digest.subscriber
    batch = batch or Batch(shared_edition())
    if not picks:
        _finish(session, digest, "skipped", now, reason=NOTHING_RELEVANT)
        report.add("skipped", f"{subscriber.email}: skipped ({NOTHING_RELEVANT})")
        return
    if batch.relay_error is not None:
        _release(settings, session, digest, now, report, TransientError(f"relay unavailable: {batch.relay_error}"))
        return
    content = build_content(settings, subscriber, digest.edition_date, picks, papers, batch.edition)
    rendered = batch.edition.assemble(content)
    try:
        data = message_bytes(settings, digest, subscriber, content, rendered, now)
    except ValueError as exc:
        _finish(session, digest, "failed", now, reason="invalid recipient address", error=str(exc))
        report.add("failed", f"{subscriber.email}: failed ({exc})")
        return
    shown = set(rendered.paper_ids)
    _record_items(session, digest, [p for p in picks if p.paper_id in shown], message_id(digest, settings))
    outcome = _send(settings, session, digest, sender, data, batch)
    if outcome is None:
        report.add("busy", f"{subscriber.email}: taken over by another worker, not sent here")
    elif isinstance(outcome, PermanentError):
        _refused(session, digest, now, report, outcome)
    elif isinstance(outcome, TransientError):
        _release(settings, session, digest, now, report, outcome)
    else:
        subscriber.permanent_failures = 0
        _finish(session, digest, "sent", now, error=None)
        report.add("sent", f"{subscriber.email}: sent {len(shown)} papers ({outcome})")


def _record_items(session: Session, digest: Digest, picks: list[ranking.Pick], msg_id: str) -> None:
    # Items are written before the send: a paper in a row being sent counts as sent,
    # so a concurrent edition cannot pick it again. Only the cards the size budget kept count.
    digest.message_id = msg_id
    digest.paper_count = len(picks)
    session.execute(delete(DigestItem).where(DigestItem.digest_id == digest.id))
    session.add_all(DigestItem(digest_id=digest.id, subscriber_id=digest.subscriber_id, paper_id=p.paper_id, rank=n,
                               score=p.score, reason=p.reason, topic=p.topic) for n, p in enumerate(picks, 1))
    session.commit()


def _send(settings, session, digest, sender, data: bytes, batch: Batch) -> str | DeliveryError | None:
    """The relay's 250 reply, the last error, or None if the row was taken over before a try.

    Transient failures are retried here with backoff and jitter, except a
    timeout waiting for the reply to DATA: the relay may have queued the message,
    and an immediate resend would widen the duplicate window. When the session
    itself fails (connect, TLS, AUTH) or several digests in a row fail, the rest
    of the batch goes back to pending untried.
    """
    error: DeliveryError | None = None
    recipient = message.safe_address(digest.subscriber.email).addr_spec  # the To: address, IDNA domain and all
    for attempt in range(batch.retry.tries):
        if attempt:
            _sleep(batch.retry.delay(attempt - 1))
        if not renew(session, digest.id, digest.attempts, settings.lease_seconds):
            return None
        try:
            reply = sender.send(settings.from_address.addr_spec, recipient, data)
        except PermanentError as exc:
            batch.transient_streak = 0
            return exc
        except TransientError as exc:
            error = exc
            if getattr(exc, "maybe_delivered", False):
                break
            continue
        batch.transient_streak = 0
        return reply
    batch.transient_streak += 1
    if batch.transient_streak >= batch.retry.relay_down_after or getattr(error, "session", False):
        batch.relay_error = str(error)
    return error


def _refused(session, digest, now, report, exc: PermanentError) -> None:
    """A 5xx: the digest fails with the reply; 5.1.x or N refusals in a row suppress the address."""
    subscriber = digest.subscriber
    subscriber.permanent_failures = (subscriber.permanent_failures or 0) + 1
    if exc.no_such_user or subscriber.permanent_failures >= SUPPRESS_AFTER_FAILURES:
        subscriber.status = "bounced"
    _finish(session, digest, "failed", now, reason="the relay refused the message", error=str(exc))
    suppressed = " (address suppressed)" if subscriber.status == "bounced" else ""
    report.add("failed", f"{subscriber.email}: failed ({exc}){suppressed}")


def _release(settings, session, digest, now, report, exc: TransientError) -> None:
    """A transient failure: back to pending for the next run, or failed once attempts run out."""
    email = digest.subscriber.email
    if digest.attempts >= settings.max_attempts:
        _finish(session, digest, "failed", now, reason=f"gave up after {digest.attempts} attempts", error=str(exc))
        report.add("failed", f"{email}: failed after {digest.attempts} attempts ({exc})")
    else:
        _finish(session, digest, "pending", now, error=str(exc))
        report.add("retry", f"{email}: will retry ({exc})")
