"""Send a batch: claim, rank together, compose, send with in-batch retries, record each outcome."""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, joinedload, sessionmaker

import digest.delivery as package  # for _sleep, read at call time
from digest import ranking
from digest.config import Settings
from digest.delivery import editions
from digest.delivery.leases import Lease, bulk_claim, release
from digest.delivery.outcomes import bulk_mark_sent, finish as _finish, refused, retry_later, sent_reason
from digest.delivery.report import DeliveryReport, plural
from digest.delivery.senders import RECIPIENT, UNKNOWN, DeliveryError, PermanentError, Sender, SenderUnavailable, \
    TransientError
from digest.email import compose, message, render
from digest.inbound.verp import envelope_sender
from digest.models import Digest, DigestItem, Paper

log = logging.getLogger("digest.delivery")

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
# Accepted messages are marked sent in groups (the duplicate window a killed worker can open): at most
# `Settings.mark_every` rows, and a group is marked before a send that would keep its oldest row
# unmarked past MARK_WITHIN seconds (judged by the last send's duration).
MARK_WITHIN = 0.05


@dataclass
class Batch:
    """What the digests of one batch share: the edition renderer, our lease, and the relay's health."""

    edition: render.EditionRenderer
    lease: Lease
    retry: RetryPolicy = RETRY
    transient_streak: int = 0
    relay_error: str | None = None
    in_flight: int | None = None  # the digest whose message the sender is handling right now
    mark_every: int = 1
    # Digests the relay accepted (250) whose rows are not yet marked sent: (id, reason, subscriber to reset).
    accepted: list[tuple[int, str | None, int | None]] = field(default_factory=list)
    accepted_since: float = 0.0  # monotonic time of the oldest of them
    last_send: float = 0.0  # seconds the last message took the sender: how long the next one may make them wait

    def prepare(self, picks: dict[int, list[ranking.Pick]], papers: dict[int, Paper],
                updated: dict[int, list[ranking.Pick]] | None = None) -> None:
        """Inline every picked card of the batch (Updated blocks too) in one premailer run."""
        ids = {p.paper_id for ps in (*picks.values(), *(updated or {}).values()) for p in ps}
        self.edition.prepare(self.edition.card_for(papers[i]) for i in sorted(ids))

    def accept(self, session: Session, row: tuple[int, str | None, int | None], now: dt.datetime) -> None:
        """The relay said 250 for this row: mark it sent now, or with the group once it is full."""
        if not self.accepted:
            self.accepted_since = time.monotonic()
        self.accepted.append(row)
        if len(self.accepted) >= self.mark_every:
            self.mark(session, now)

    def mark_due(self, session: Session, now: dt.datetime) -> None:
        """Before the next send: mark the group if its oldest 250 would pass MARK_WITHIN during a send like the last.

        A fast sender (a local relay) fills groups; behind a slow one every
        row is marked before the next send begins, as if one at a time.
        """
        if self.accepted and time.monotonic() - self.accepted_since + self.last_send >= MARK_WITHIN:
            self.mark(session, now)

    def mark(self, session: Session, now: dt.datetime, waits: tuple[float, ...] = (0.5, 2.0)) -> None:
        """Mark every accepted row sent: one UPDATE, one commit."""
        if self.accepted:
            bulk_mark_sent(session, self.accepted, now, waits)
            self.accepted = []


@dataclass
class Outgoing:
    """One composed message, ready for the relay."""

    digest: Digest
    data: bytes
    papers: int


def deliver(settings: Settings, factory: sessionmaker, digest_ids: list[int], now: dt.datetime,
            sender: Sender, report: DeliveryReport | None = None,
            should_stop: Callable[[], bool] | None = None) -> DeliveryReport:
    """Claim, rank together, render, send and record a batch of planned digests.

    The sender is checked before anything is claimed (SenderUnavailable). The
    batch is claimed in one statement, ranked in one call, composed and its
    items recorded in one transaction; then each message is sent and marked
    sent at once (the relay's 250 and that commit are the only window for a
    duplicate). `should_stop` is asked between messages (a worker being shut
    down): the rows not yet sent go back to pending for another worker, as do
    the rows held when anything raises.
    """
    report = report or DeliveryReport()
    sender.check()
    with factory() as session:
        held = bulk_claim(session, digest_ids, now, settings.lease_seconds)
        report.counts["busy"] += len(digest_ids) - len(held)
        if not held:
            return report
        batch = Batch(compose.shared_edition(), Lease(held, settings.lease_seconds), mark_every=settings.mark_every)
        try:
            outgoing = _prepare(settings, session, held, now, batch, report)
            _send_all(settings, session, outgoing, now, sender, report, batch, should_stop)
        except BaseException as exc:
            _give_back(session, batch, exc, now)
            raise
        finally:
            report.relay_error = report.relay_error or batch.relay_error
    sender.close()
    return report


def _prepare(settings: Settings, session: Session, held: dict[int, int], now: dt.datetime, batch: Batch,
             report: DeliveryReport) -> list[Outgoing]:
    """Load the claimed rows, finish the undeliverable ones, rank the rest together and compose them."""
    digests = session.scalars(select(Digest).options(joinedload(Digest.subscriber))
                              .where(Digest.id.in_(list(held))).order_by(Digest.id)).all()
    live = [d for d in digests if _is_deliverable(settings, session, d, now, report)]
    selection = editions.select_picks(settings, session, [d.subscriber for d in live], now, list(held))
    batch.prepare(selection.picks, selection.papers, selection.updated)
    return _compose(settings, session, live, selection, now, batch, report)


def _send_all(settings, session, outgoing: list[Outgoing], now, sender, report, batch: Batch,
              should_stop: Callable[[], bool] | None) -> None:
    for n, item in enumerate(outgoing):
        if should_stop is not None and should_stop():
            batch.mark(session, now)
            untried = {o.digest.id: batch.lease.held[o.digest.id] for o in outgoing[n:]
                       if o.digest.id in batch.lease.held}
            report.counts["released"] += release(session, untried)
            break
        _deliver_one(settings, session, item, now, sender, report, batch)
    batch.mark(session, now)


def _give_back(session: Session, batch: Batch, exc: BaseException, now: dt.datetime) -> None:
    """Something raised mid-batch: the rows still held go back to pending now, not after the lease.

    Their attempts are refunded, except the one in the sender's hands when
    something other than SenderUnavailable raised: that message may have left,
    and a row that keeps breaking its batch must run out of attempts.
    """
    try:
        session.rollback()
        held = dict(batch.lease.held)
        for digest_id, *_ in batch.accepted:
            held.pop(digest_id, None)
        # The relay said 250 but the rows were not marked: the database came back, so say it now.
        batch.mark(session, now, waits=())
        in_flight = batch.in_flight if not isinstance(exc, SenderUnavailable) else None
        if in_flight in held:
            release(session, {in_flight: held.pop(in_flight)}, refund=False)
        release(session, held)
    except Exception:  # noqa: BLE001 - the database may be what failed; the lease then expires and the sweeper acts
        log.exception("could not give back the rows of a failed batch; they wait for their lease to expire")


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
        tries = plural(digest.attempts - 1, "attempt")
        _finish(session, digest, "failed", now, reason=f"gave up after {tries}", failure_class=UNKNOWN,
                error=digest.last_error or "the worker never finished this digest")
        report.add("failed", f"{subscriber.email}: failed (gave up after {tries})")
        return False
    return True


def _compose(settings: Settings, session: Session, live: list[Digest], selection: editions.Selection,
             now: dt.datetime, batch: Batch, report: DeliveryReport) -> list[Outgoing]:
    """Skip the empty editions, build every message, record the items: one transaction for the batch.

    Items are written before the sends: a paper in a row being sent counts as
    sent, so a concurrent edition cannot pick it again. Only the cards the
    size budget kept count.
    """
    outgoing: list[Outgoing] = []
    items: list[dict] = []
    for digest in live:
        subscriber = digest.subscriber
        picks = selection.get(subscriber.id)
        if not picks:
            reason = selection.skips.get(subscriber.id, editions.NOTHING_RELEVANT)
            _finish(session, digest, "skipped", now, reason=reason, commit=False)
            report.add("skipped", f"{subscriber.email}: skipped ({reason})")
            continue
        revised = selection.get_updated(subscriber.id)
        content = compose.build_content(settings, subscriber, digest.edition_date, picks, selection.papers,
                                        batch.edition, revised)
        rendered = batch.edition.assemble(content)
        try:
            data = compose.message_bytes(settings, digest, subscriber, content, rendered, now)
        except ValueError as exc:
            _finish(session, digest, "failed", now, reason="invalid recipient address", error=str(exc),
                    failure_class=RECIPIENT, commit=False)
            report.add("failed", f"{subscriber.email}: failed ({exc})")
            continue
        shown = set(rendered.paper_ids)
        kept = [p for p in picks if p.paper_id in shown]
        digest.message_id = compose.message_id(digest, settings)
        digest.paper_count = len(kept)
        items += _items(digest, kept, [p for p in revised if p.paper_id in shown], selection.papers)
        outgoing.append(Outgoing(digest, data, len(kept)))
    # A row re-claimed after a crash may still carry the items of its first try.
    session.execute(delete(DigestItem).where(DigestItem.digest_id.in_([d.id for d in live])))
    if items:  # Core executemany: the ORM's bulk path spent more per row than the INSERT itself
        session.execute(insert(DigestItem.__table__), items)
    session.commit()
    return outgoing


def _items(digest: Digest, kept: list[ranking.Pick], revised: list[ranking.Pick], papers: dict[int, Paper]) -> list[dict]:
    """digest_items rows: the picks, then the Updated block (`updated`), each with the version and the key
    sentence it showed (the web edition and the feed rebuild the cards from these rows)."""
    return [{"digest_id": digest.id, "subscriber_id": digest.subscriber_id, "paper_id": p.paper_id, "rank": n,
             "score": float(p.score), "reason": p.reason, "topic": p.topic, "version": papers[p.paper_id].version,
             "updated": n > len(kept), "sentence": p.sentence or None} for n, p in enumerate([*kept, *revised], 1)]


def _deliver_one(settings, session, item: Outgoing, now, sender, report, batch: Batch) -> None:
    """Send one composed digest (with in-batch retries) and record the outcome."""
    digest = item.digest
    email = digest.subscriber.email
    if batch.relay_error is not None:
        retry_later(settings, session, digest, now, report,
                    TransientError(f"relay unavailable: {batch.relay_error}", session=True))
        return
    batch.mark_due(session, now)
    started = time.monotonic()
    outcome = _send(settings, session, digest, sender, item.data, batch)
    batch.last_send = time.monotonic() - started
    batch.in_flight = None  # the sender answered (or was never asked): the outcome below is known
    if outcome is None:
        report.add("busy", f"{email}: taken over by another worker, not sent here")
    elif isinstance(outcome, PermanentError):
        refused(session, digest, now, report, outcome)
    elif isinstance(outcome, TransientError):
        retry_later(settings, session, digest, now, report, outcome)
    else:
        reset = digest.subscriber_id if digest.subscriber.permanent_failures else None
        batch.accept(session, (digest.id, sent_reason(digest), reset), now)
        report.add("sent", f"{email}: sent {plural(item.papers, 'paper')} ({outcome})")


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
            package._sleep(batch.retry.delay(attempt - 1))  # looked up on the package: tests replace it
        if not batch.lease.keeps(session, digest.id):
            return None
        batch.in_flight = digest.id
        try:
            reply = sender.send(envelope_sender(settings, digest.id), recipient, data)
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
