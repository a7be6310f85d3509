"""What a verdict does to subscribers: bounces, complaints, unsubscribes and sign-ups by mail.

Who a report is about is only believed on a signature: our return path (its
MAC), or a signed unsubscribe token inside the returned message. A report that
only names a digest's Message-ID and address (both guessable) still counts a
soft failure but never suppresses or unsubscribes on its own. A return path
whose MAC is wrong is a forgery and is refused.

Bounces: a permanent 5.1.x suppresses the address at once (status `bounced`);
any other failure blamed on the reader suppresses it when each of its last
SUPPRESS_AFTER_FAILURES digests was refused or came back (a digest counts once,
however many reports it gets); a failure blamed on us (5.7.x policy, 5.4.x)
never touches the reader. Complaints set `complained` at once. A signed
unsubscribe unsubscribes at once; a bare one only mails the reader a link.
A sign-up by mail is a web sign-up: a pending row and a confirmation mail.
Mail back is rate-limited per sender and per hour, and never goes to a machine.

Digests, readers and their recent failures are read through `Known`, which
the handler fills for a whole batch in a few queries (`digest.inbound.known`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest import subscriptions as subs
from digest.config import Settings
from digest.email.replies import RECIPIENT, SENDER, SUPPRESS_AFTER_FAILURES, sender_problem
from digest.inbound.answers import unsubscribe_request
from digest.inbound.classify import Blame, Verdict, blame_of
from digest.inbound.known import Known
from digest.inbound.mime import Mail
from digest.inbound.reports import Evidence, Failure
from digest.inbound.verp import ForgedReturnPath, read_return_path
from digest.models import Digest, InboundMessage, Subscriber

REPLIES_PER_SENDER = 3  # confirmation mails to one address per hour
REPLIES_PER_HOUR = 100  # confirmation mails per hour in all
NOT_COMPLAINTS = ("not-spam", "auth-failure", "dkim", "dmarc")


@dataclass
class Outcome:
    """What handling one message did: the row's fields, and a mail to send once it is committed."""

    kind: str
    outcome: str
    subscriber: Subscriber | None = None
    digest: Digest | None = None
    status: str | None = None
    blame: str | None = None
    keep_raw: bool = False
    answer: tuple[str, bytes] | None = None  # (recipient, message) to send after the commit


@dataclass
class Target:
    subscriber: Subscriber | None = None
    digest: Digest | None = None
    signed: bool = False


def apply(settings: Settings, known: Known, mail: Mail, verdict: Verdict, rcpt: str,
          now: dt.datetime) -> Outcome:
    """Apply one verdict inside the caller's transaction (`known.session`)."""
    session = known.session
    try:
        if verdict.kind in ("bounce", "delay"):
            return bounce(settings, known, verdict, rcpt, now)
        if verdict.kind == "complaint":
            return complaint(settings, known, verdict, rcpt, now)
    except ForgedReturnPath as exc:
        return Outcome("refused", f"forged report: {exc}", keep_raw=True)
    if verdict.kind == "unsubscribe":
        return unsubscribe(settings, session, mail, verdict, now)
    if verdict.kind == "subscribe":
        return subscribe(settings, session, mail, verdict, now)
    if verdict.kind == "autoreply":
        return Outcome("autoreply", "an automatic reply: kept, not answered")
    return Outcome("reply", "kept for the operator (digest inbound --list)", keep_raw=True)


def target(settings: Settings, known: Known, rcpt: str, evidence: Evidence) -> Target:
    """The digest and subscriber a report is about, and whether a signature says so."""
    key = settings.signing_key()
    for address in (rcpt, *evidence.return_paths):
        digest_id = read_return_path(key, address)  # ForgedReturnPath for a bad MAC
        if digest_id is not None and (digest := known.digest(digest_id)) is not None:
            return Target(digest.subscriber, digest, signed=True)
    digest = known.digest_by_message_id(evidence.message_ids) if evidence.message_ids else None
    for token in evidence.tokens:
        try:
            subscriber = subs.get_token_subscriber(known.session, key, "unsubscribe", token)
        except subs.TokenError:
            continue
        return Target(subscriber, digest if digest is not None and digest.subscriber_id == subscriber.id else None, True)
    if digest is not None and digest.subscriber.email_key in evidence.recipients:
        return Target(digest.subscriber, digest, signed=False)
    return Target()


def _failure_for(failures: tuple[Failure, ...], subscriber: Subscriber | None) -> Failure:
    """The failure about this subscriber; else the first permanent one; else the first."""
    if subscriber is not None:
        mine = [f for f in failures if f.recipient == subscriber.email_key]
        if mine:
            return mine[0]
    return next((f for f in failures if f.action == "failed"), failures[0])


def bounce(settings: Settings, known: Known, verdict: Verdict, rcpt: str, now: dt.datetime) -> Outcome:
    found = target(settings, known, rcpt, verdict.evidence)
    failure = _failure_for(verdict.failures, found.subscriber)
    if not found.signed:  # the address a report names may still be ours, by its Message-ID only
        found.subscriber = found.subscriber if found.subscriber is not None and \
            found.subscriber.email_key == failure.recipient else None
    verdict_blame = blame_of(failure)
    shown = f"{failure.recipient or 'a recipient'}: {failure.status or 'no status'} {failure.diagnostic[:160]}".strip()
    result = Outcome(verdict.kind, "", found.subscriber, found.digest, verdict_blame.status, verdict_blame.blame)
    if failure.action != "failed":
        result.kind, result.outcome = "delay", f"delivery {failure.action}, nothing to do ({shown})"
    elif found.subscriber is None:
        result.outcome, result.keep_raw = f"bounce for no subscriber of ours ({shown})", True
    elif verdict_blame.blame == SENDER:
        what, hint = sender_problem(verdict_blame.status if verdict_blame.status and
                                    verdict_blame.status[0] == "5" else None)
        result.outcome = f"sender problem, reader not blamed: refused {what} — {hint} ({shown})"
    elif verdict_blame.blame != RECIPIENT:
        result.outcome = f"unclassified bounce, reader not blamed ({shown})"
    else:
        result.outcome = _blame_reader(known, found, verdict_blame, now) + f" ({shown})"
    return result


def _blame_reader(known: Known, found: Target, blame: Blame, now: dt.datetime) -> str:
    """Count a failure against the reader; suppress at once (hard, signed) or after a run of them."""
    subscriber = found.subscriber
    if subscriber.status != "active":
        return f"{subscriber.email} is {subscriber.status} already"
    if blame.hard and found.signed:
        subs.set_status(subscriber, "bounced", now)
        return f"{subscriber.email} suppressed: no such address"
    streak = _failed_in_a_row(known, subscriber, found.digest)
    subscriber.permanent_failures = max(subscriber.permanent_failures or 0, streak)
    if streak >= SUPPRESS_AFTER_FAILURES:
        subs.set_status(subscriber, "bounced", now)
        return f"{subscriber.email} suppressed after {streak} failed digests in a row"
    note = "" if found.signed else " (unsigned report: counted, never suppresses at once)"
    return f"{subscriber.email}: {streak} of {SUPPRESS_AFTER_FAILURES} failed digests in a row{note}"


def _failed_in_a_row(known: Known, subscriber: Subscriber, digest: Digest | None) -> int:
    """How many of the reader's latest digests failed for them: refused at SMTP time or returned since."""
    latest = known.latest_of(subscriber.id)
    returned = latest.returned | ({digest.id} if digest is not None else set())
    streak = 0
    for digest_id, state, failure_class in latest.digests:
        if digest_id in returned or (state == "failed" and failure_class == RECIPIENT):
            streak += 1
        else:
            break
    return streak if digest is not None else max(streak, 1)


def complaint(settings: Settings, known: Known, verdict: Verdict, rcpt: str, now: dt.datetime) -> Outcome:
    found = target(settings, known, rcpt, verdict.evidence)
    kind = verdict.complaint.feedback_type
    result = Outcome("complaint", "", found.subscriber, found.digest, kind[:40])
    if kind in NOT_COMPLAINTS:
        result.kind, result.outcome = "reply", f"a {kind} report, not a complaint: kept for the operator"
        result.keep_raw = True
    elif found.subscriber is None or not found.signed:
        result.outcome, result.keep_raw = f"{kind} complaint we cannot tie to a reader by a signature", True
        result.subscriber = None
    elif found.subscriber.status == "complained":
        result.outcome = f"{found.subscriber.email} complained already"
    else:
        subs.unsubscribe(known.session, found.subscriber, now)
        subs.set_status(found.subscriber, "complained", now)
        result.outcome = f"{found.subscriber.email} unsubscribed: marked a digest as spam ({kind})"
    return result


def unsubscribe(settings: Settings, session: Session, mail: Mail, verdict: Verdict, now: dt.datetime) -> Outcome:
    """A signed token unsubscribes at once; a bare request mails the reader a link (From can be forged)."""
    key = settings.signing_key()
    token = verdict.command.token
    if token:
        try:
            subscriber = subs.get_token_subscriber(session, key, "unsubscribe", token)
        except subs.TokenError:
            subscriber = None
        if subscriber is not None:
            done = subs.unsubscribe(session, subscriber, now) if subscriber.status == "active" else False
            what = "unsubscribed" if done else f"already {subscriber.status}"
            return Outcome("unsubscribe", f"{subscriber.email} {what} (signed request)", subscriber)
    subscriber = subs.get_subscriber(session, mail.sender) if mail.sender else None
    if subscriber is None or subscriber.status != "active":
        return Outcome("unsubscribe", f"unsubscribe request from {mail.sender or 'no address'}: not an active "
                       "subscriber, nothing to do", subscriber)
    if verdict.automated:
        return Outcome("unsubscribe", f"unsigned unsubscribe from a machine for {subscriber.email}: not answered",
                       subscriber)
    why = over_limit(session, subscriber.email_key, now)
    if why:
        return Outcome("unsubscribe", f"unsigned unsubscribe for {subscriber.email}: {why}", subscriber)
    data = unsubscribe_request(settings, subscriber, now)
    return Outcome("unsubscribe", f"unsigned unsubscribe: a link to confirm it mailed to {subscriber.email}",
                   subscriber, answer=(subscriber.email, data))


def subscribe(settings: Settings, session: Session, mail: Mail, verdict: Verdict, now: dt.datetime) -> Outcome:
    """A sign-up by mail: the web sign-up's pending row and double opt-in mail, to the From address."""
    from digest.email.confirmation import build_confirmation

    try:
        address = subs.normalise_email(mail.sender, ascii_only=True)
        prefs = subs.validate_preferences(topics=list(verdict.command.topics), timezone=settings.default_timezone,
                                          send_hour=settings.default_hour)
    except subs.SubscriptionError as exc:
        return Outcome("subscribe", f"sign-up refused: {exc}", keep_raw=True)
    why = over_limit(session, subs.email_key(address), now)
    if why:
        return Outcome("subscribe", f"sign-up from {address}: {why}")
    subscriber, needs_confirmation = subs.request_subscription(session, address, prefs, now)
    data = build_confirmation(settings, subscriber, settings.signing_key(), needs_confirmation, now)
    topics = "; ".join(prefs.topics) or "none (trending papers)"
    what = "confirmation" if needs_confirmation else "note that it is already subscribed"
    return Outcome("subscribe", f"sign-up by mail from {address}, topics: {topics}: {what} mailed", subscriber,
                   answer=(subscriber.email, data))


def over_limit(session: Session, sender_key: str, now: dt.datetime) -> str | None:
    """Why no mail may go back now (per-sender and hourly limits), or None."""
    since = now - dt.timedelta(hours=1)
    answered = select(func.count()).select_from(InboundMessage).where(
        InboundMessage.replied.is_(True), InboundMessage.received_at >= since)
    if (session.scalar(answered.where(InboundMessage.sender == sender_key)) or 0) >= REPLIES_PER_SENDER:
        return f"rate-limited ({REPLIES_PER_SENDER} mails to this address in the last hour), nothing mailed"
    if (session.scalar(answered) or 0) >= REPLIES_PER_HOUR:
        return f"rate-limited ({REPLIES_PER_HOUR} mails back in the last hour), nothing mailed"
    return None
