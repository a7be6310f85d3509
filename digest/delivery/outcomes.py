"""Recording what the relay said about one digest: sent, refused, retry later, or unknown.

Invariants (DESIGN.md):
- only a real attempt counts: an outage (the relay could not be reached, or
  the connection was lost before MAIL FROM) refunds the attempt and the row
  waits with backoff; it fails only when the edition is too old
  (DIGEST_EDITION_MAX_AGE_HOURS), blamed on the sender, never on the reader;
- an unknown outcome (the connection dropped or timed out after the end of
  DATA: the relay may have queued it) is never resent at once: the row waits
  UNKNOWN_RETRY with the same Message-ID, and the row counts how often.

A pending row whose `lease_until` lies ahead is not claimed before then: the
column is the lease while `sending`, and "not before" while `pending`.
"""

from __future__ import annotations

import datetime as dt
import re
import time

from sqlalchemy import update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from digest.delivery.report import DeliveryReport, plural
from digest.delivery.senders import RECIPIENT, SENDER, TRANSIENT, UNKNOWN, PermanentError, TransientError, sender_problem
from digest.email.replies import SUPPRESS_AFTER_FAILURES
from digest.models import Digest, Subscriber

UNKNOWN_RETRY = dt.timedelta(minutes=10)
OUTAGE_RETRY_MIN, OUTAGE_RETRY_MAX = dt.timedelta(minutes=1), dt.timedelta(minutes=10)
OUTAGE_PREFIX = "relay unreachable since "
UNKNOWN_PREFIX = "outcome unknown after DATA"
_SINCE = re.compile(r"relay unreachable since (\d{4}-\d\d-\d\d \d\d:\d\d) UTC")
_UNKNOWNS = re.compile(r"unknown outcomes: (\d+)")


def outage_delay(waited: dt.timedelta) -> dt.timedelta:
    """How long a row kept back by an outage waits before the next try: a quarter of its wait, 1 to 10 min."""
    return min(OUTAGE_RETRY_MAX, max(OUTAGE_RETRY_MIN, waited / 4))


def outage_since(reason: str | None) -> dt.datetime | None:
    """When the outage that keeps this row waiting began, from its reason."""
    match = _SINCE.search(reason or "")
    return dt.datetime.strptime(match[1], "%Y-%m-%d %H:%M").replace(tzinfo=dt.timezone.utc) if match else None


def unknown_outcomes(reason: str | None) -> int:
    """How many unknown outcomes this row has had, from its reason."""
    match = _UNKNOWNS.search(reason or "")
    return int(match[1]) if match else 0


def _hhmm(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%H:%M UTC")


def finish(session: Session, digest: Digest, state: str, now: dt.datetime, *, reason: str | None = None,
           error: str | None = None, failure_class: str | None = None, commit: bool = True) -> None:
    """Put the row in `state`, lease dropped; commits unless told not to."""
    digest.state = state
    digest.reason = reason
    digest.failure_class = failure_class
    digest.lease_until = None
    digest.updated_at = now
    if error is not None:
        digest.last_error = error
    if state == "sent":
        digest.sent_at = now
    if commit:
        session.commit()


def bulk_mark_sent(session: Session, accepted: list[tuple[int, str | None, int | None]], now: dt.datetime,
                   waits: tuple[float, ...] = (0.5, 2.0)) -> None:
    """Mark rows the relay accepted as sent: one UPDATE per distinct reason, one commit; retried if the database blinks.

    `accepted` holds (digest id, sent reason, subscriber id whose refusals to
    reset or None). Between the 250 and this commit lies one of the two
    duplicate windows: a row not marked keeps its lease, which expires, and
    another worker sends it again. Retrying here shrinks that window to a real
    database outage; a batch marks its rows in groups (`Batch.mark_every`), so
    the window is the group not yet committed when a worker dies.
    """
    by_reason: dict[str | None, list[int]] = {}
    for digest_id, reason, _ in accepted:
        by_reason.setdefault(reason, []).append(digest_id)
    resets = sorted({reset for *_, reset in accepted if reset is not None})
    for wait in (*waits, None):
        try:
            for reason, ids in by_reason.items():
                session.execute(update(Digest).where(Digest.id.in_(ids))
                                .values(state="sent", sent_at=now, lease_until=None, updated_at=now, reason=reason,
                                        failure_class=None).execution_options(synchronize_session=False))
            if resets:  # a sent digest ends a run of refusals
                session.execute(update(Subscriber).where(Subscriber.id.in_(resets)).values(permanent_failures=0)
                                .execution_options(synchronize_session=False))
            session.commit()
            return
        except DBAPIError:
            session.rollback()
            if wait is None:
                raise
            time.sleep(wait)


def sent_reason(digest: Digest) -> str | None:
    """What a sent row keeps saying when an unknown outcome came first (a copy may have arrived twice)."""
    count = unknown_outcomes(digest.reason)
    if not count:
        return None
    return (f"sent after {plural(count, 'unknown outcome')} (unknown outcomes: {count}): a copy may have "
            "arrived twice, with the same Message-ID")


REFUSED = {
    RECIPIENT: "the recipient's server refused it (mailbox or address)",
    SENDER: "the relay refused it as our problem, not the reader's",
    UNKNOWN: "the relay refused it",
}


def refused(session: Session, digest: Digest, now: dt.datetime, report: DeliveryReport, exc: PermanentError) -> None:
    """A 5xx: the digest fails with the reply; only refusals that blame the recipient count against them.

    5.1.1/5.1.10 suppress the address at once, other recipient refusals after
    SUPPRESS_AFTER_FAILURES in a row (a sent digest resets the count); a
    sender problem (5.7.x spam/policy/DMARC, 5.3.x, 5.4.x) or an unclassified
    one never touches the subscriber.
    """
    subscriber = digest.subscriber
    verdict = exc.reply_class
    if verdict.blame == RECIPIENT:
        subscriber.permanent_failures = (subscriber.permanent_failures or 0) + 1
        if verdict.no_such_user or subscriber.permanent_failures >= SUPPRESS_AFTER_FAILURES:
            subscriber.status, subscriber.status_at = "bounced", now
    finish(session, digest, "failed", now, reason=REFUSED.get(verdict.blame, REFUSED[UNKNOWN]),
           error=str(exc), failure_class=verdict.blame)
    note = " (address suppressed)" if subscriber.status == "bounced" else ""
    if verdict.blame == SENDER:
        what, hint = sender_problem(verdict.status)
        note = f" — sender problem: refused {what}; {hint}"
    report.add("failed", f"{subscriber.email}: failed ({exc}){note}")


def retry_later(settings, session: Session, digest: Digest, now: dt.datetime, report: DeliveryReport,
                exc: TransientError) -> None:
    """A transient failure: an outage waits, an unknown outcome waits longer, anything else spends an attempt."""
    if exc.session:
        _outage(settings, session, digest, now, report, exc)
    elif exc.maybe_delivered and digest.attempts < settings.max_attempts:
        _unknown(session, digest, now, report, exc)
    elif digest.attempts >= settings.max_attempts:
        tries = plural(digest.attempts, "attempt")
        unknown = unknown_outcomes(digest.reason) + exc.maybe_delivered
        note = f" (unknown outcomes: {unknown})" if unknown else ""  # copies the reader may have had
        finish(session, digest, "failed", now, reason=f"gave up after {tries}{note}", error=str(exc),
               failure_class=UNKNOWN if exc.maybe_delivered else TRANSIENT)
        report.add("failed", f"{digest.subscriber.email}: failed after {tries} ({exc})")
    else:
        finish(session, digest, "pending", now, error=str(exc), failure_class=TRANSIENT)
        report.add("retry", f"{digest.subscriber.email}: will retry ({exc})")


def _outage(settings, session: Session, digest: Digest, now: dt.datetime, report: DeliveryReport,
            exc: TransientError) -> None:
    """The message never left: refund the attempt and wait with backoff, or fail an edition grown too old."""
    email = digest.subscriber.email
    digest.attempts -= 1
    created = digest.created_at if digest.created_at.tzinfo else digest.created_at.replace(tzinfo=dt.timezone.utc)
    waited = now - created
    max_age = settings.edition_max_age_hours
    if waited >= dt.timedelta(hours=max_age):
        finish(session, digest, "failed", now, reason=f"relay unreachable for {max_age} h", error=str(exc),
               failure_class=SENDER)
        report.add("failed", f"{email}: failed (relay unreachable for {max_age} h: {exc})")
        return
    since = outage_since(digest.reason) or now
    retry_at = now + outage_delay(waited)
    finish(session, digest, "pending", now, error=str(exc), failure_class=TRANSIENT, commit=False,
           reason=f"{OUTAGE_PREFIX}{since:%Y-%m-%d %H:%M} UTC; next try at {_hhmm(retry_at)}")
    digest.lease_until = retry_at
    session.commit()
    report.add("retry", f"{email}: will retry at {_hhmm(retry_at)} ({exc})")


def _unknown(session: Session, digest: Digest, now: dt.datetime, report: DeliveryReport,
             exc: TransientError) -> None:
    """The relay may have the message: not resent in this batch; the retry waits and keeps the Message-ID."""
    count = unknown_outcomes(digest.reason) + 1
    retry_at = now + UNKNOWN_RETRY
    reason = (f"{UNKNOWN_PREFIX}, retrying at {_hhmm(retry_at)} with the same Message-ID "
              f"(unknown outcomes: {count})")
    finish(session, digest, "pending", now, reason=reason, error=str(exc), failure_class=UNKNOWN, commit=False)
    digest.lease_until = retry_at
    session.commit()
    report.add("unknown", f"{digest.subscriber.email}: {reason} ({exc})")
