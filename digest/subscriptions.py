"""Subscribe / confirm / unsubscribe / preferences rules against the database.

The pure parts live apart and are re-exported here for callers: preference
values and their validation in `digest.preferences`, signed tokens in
`digest.tokens`.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import asdict, dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from digest.db import insert_for, utcnow
from digest.models import Digest, DigestItem, Paper, Subscriber
from digest.schedule import get_first_send
from digest.preferences import (  # noqa: F401 - re-exported: the subscription rules' vocabulary
    CADENCES, MAX_PAPERS_LIMIT, MAX_TOPICS, STATUS_WORDS, STATUSES, Preferences, SubscriptionError,
    describe_changes, describe_status, email_key, get_pending_preferences, normalise_email, preferences_of,
    split_categories, split_lines, validate_preferences)
from digest.tokens import (  # noqa: F401 - re-exported: links name subscribers
    TOKEN_MAX_AGE, TokenError, TokenExpired, is_made_for, make_confirm_token, make_token, read_confirm_token,
    read_token)


def get_subscriber(session: Session, address: str) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.email_key == email_key(address)))


class NotActive(SubscriptionError):
    """The address exists but is not active; only the reader's own confirmation may re-activate it."""


def subscribe(session: Session, address: str, prefs: Preferences, now: dt.datetime, *, name: str = "",
              confirmed: bool = True) -> tuple[Subscriber, bool]:
    """Add a subscriber (operators add confirmed ones), or replace an active one's preferences.

    Consent is the reader's: an address that exists but is not active raises
    NotActive instead of being re-activated (DESIGN.md, invariants).
    """
    address = normalise_email(address)
    subscriber = get_subscriber(session, address)
    if subscriber is not None and subscriber.status != "active":
        raise NotActive(describe_status(subscriber))
    created = subscriber is None
    if created:
        subscriber = Subscriber(email=address, email_key=email_key(address), created_at=now, permanent_failures=0,
                                status="active" if confirmed else "pending", status_at=now,
                                confirmed_at=now if confirmed else None)
        session.add(subscriber)
    subscriber.name = " ".join(name.split())[:200]
    apply_preferences(subscriber, prefs, now)
    session.flush()
    return subscriber, created


def update_subscriber(session: Session, subscriber: Subscriber, given: dict, name: str | None = None,
                      now: dt.datetime | None = None) -> list[str]:
    """Change only the `given` preference fields (and name) of a subscriber; return what changed."""
    old = preferences_of(subscriber)
    new = validate_preferences(**{**asdict(old), **given})
    changes = describe_changes(old, new)
    if name is not None and " ".join(name.split())[:200] != subscriber.name:
        changes.append(f"name {subscriber.name or 'none'} → {' '.join(name.split())[:200] or 'none'}")
        subscriber.name = " ".join(name.split())[:200]
    apply_preferences(subscriber, new, now)
    session.flush()
    return changes


def request_resubscription(session: Session, address: str, given: dict, defaults: dict,
                           now: dt.datetime) -> Subscriber:
    """An operator asks an address that is not active to confirm again: a fresh link, status unchanged.

    The link confirms the address's last settings with `given` on top (for a
    new address: `defaults` with `given`); failure counts stay as they are.
    """
    address = normalise_email(address)
    subscriber = get_subscriber(session, address)
    if subscriber is None:
        prefs = validate_preferences(**{**defaults, **given})
        subscriber = _insert_pending(session, address, prefs, now)
    elif subscriber.status == "active":
        raise SubscriptionError(f"{subscriber.email} is already active")
    else:
        prefs = validate_preferences(**{**asdict(get_pending_preferences(subscriber)), **given})
    start_confirmation(subscriber, prefs)
    session.flush()
    return subscriber


def apply_preferences(subscriber: Subscriber, prefs: Preferences, now: dt.datetime | None = None) -> None:
    """Copy preferences onto the row; they apply from the next edition (whose send time moves with the hour,
    zone or cadence)."""
    moved = (subscriber.timezone, subscriber.send_hour, subscriber.cadence) != (prefs.timezone, prefs.send_hour,
                                                                                prefs.cadence)
    subscriber.topics = prefs.topics
    subscriber.categories = prefs.categories
    subscriber.exclude = prefs.exclude
    subscriber.authors = prefs.authors
    subscriber.timezone = prefs.timezone
    subscriber.send_hour = prefs.send_hour
    subscriber.max_papers = prefs.max_papers
    subscriber.cadence = prefs.cadence
    subscriber.min_score = prefs.min_score
    subscriber.updates = prefs.updates
    if moved or subscriber.next_send_at is None:
        schedule(subscriber, now or utcnow())


def schedule(subscriber: Subscriber, now: dt.datetime) -> None:
    """Set the next send from the profile as it stands at `now` (digest.schedule).

    It is earlier than `now` when today's hour has gone by: the next tick then
    sends today's edition unless it is finished, as it did before the column.
    """
    subscriber.next_send_at = get_first_send(subscriber.timezone, subscriber.send_hour, subscriber.cadence, now)


def set_status(subscriber: Subscriber, status: str, now: dt.datetime) -> None:
    """Change the status and record when (status_at); an address made active is scheduled from `now`."""
    if subscriber.status != status:
        subscriber.status = status
        subscriber.status_at = now
        if status == "active":
            schedule(subscriber, now)


def unsubscribe(session: Session, subscriber: Subscriber, now: dt.datetime) -> bool:
    """Mark as unsubscribed (effective before the next send); False if it already was.

    Any live confirmation link dies with it: an old link must not undo the opt-out.
    """
    subscriber.confirm_nonce = None
    subscriber.pending_prefs = None
    if subscriber.status == "unsubscribed":
        session.flush()
        return False
    set_status(subscriber, "unsubscribed", now)
    subscriber.unsubscribed_at = now
    session.flush()
    return True


def request_subscription(session: Session, address: str, prefs: Preferences,
                         now: dt.datetime) -> tuple[Subscriber, bool]:
    """A sign-up from the public form; return (subscriber, needs_confirmation).

    The form is not authenticated, so an active subscriber is left untouched.
    Any other address gets a fresh confirmation link for exactly these
    settings (`start_confirmation`) and keeps its status until it is confirmed.
    Every address costs the same statements (INSERT ... DO NOTHING, SELECT,
    UPDATE) and one row write, an active row being rewritten unchanged: the
    time an answer takes must not tell who subscribes.
    """
    address = normalise_email(address)
    subscriber = _insert_pending(session, address, prefs, now)
    values: dict = {"email_key": subscriber.email_key}
    if subscriber.status == "pending":
        # A new request restarts the expiry clock and shows the latest settings.
        values.update(email=address, created_at=now, **asdict(prefs))
    if subscriber.status != "active":
        values.update(_confirmation_values(prefs))
    session.execute(update(Subscriber).where(Subscriber.id == subscriber.id).values(**values)
                    .execution_options(synchronize_session="evaluate"))
    return subscriber, subscriber.status != "active"


def _insert_pending(session: Session, address: str, prefs: Preferences, now: dt.datetime) -> Subscriber:
    """Insert a pending row unless the address has one (or a concurrent sign-up just made it); return the row.

    INSERT ... ON CONFLICT DO NOTHING waits for the other transaction instead
    of failing with a unique violation, so parallel sign-ups all get the same page.
    """
    values = {"email": address, "email_key": email_key(address), "status": "pending", "status_at": now,
              "created_at": now, "permanent_failures": 0, "name": "", **asdict(prefs)}
    session.execute(insert_for(session, Subscriber).values(**values).on_conflict_do_nothing(
        index_elements=["email_key"]))
    return get_subscriber(session, address)


def _confirmation_values(prefs: Preferences) -> dict:
    return {"confirm_nonce": secrets.token_urlsafe(12), "pending_prefs": asdict(prefs)}


def start_confirmation(subscriber: Subscriber, prefs: Preferences) -> None:
    """A new live confirmation link that confirms exactly `prefs`; any older link is superseded."""
    for name, value in _confirmation_values(prefs).items():
        setattr(subscriber, name, value)


def get_link_state(subscriber: Subscriber, nonce: str | None) -> str:
    """'live', 'superseded' (a newer confirmation email replaced it) or 'used' (used, or killed by an unsubscribe)."""
    if subscriber.confirm_nonce is not None:
        if nonce is not None and hmac.compare_digest(nonce, subscriber.confirm_nonce):
            return "live"
        return "superseded"
    if nonce is None and subscriber.status == "pending":
        return "live"  # mailed before links carried a nonce: still the row's one sign-up
    return "used"


def confirm_link(session: Session, subscriber: Subscriber, nonce: str | None, now: dt.datetime) -> str:
    """Confirm what one emailed link showed, once; return its state before ('live' means it confirmed now)."""
    link = get_link_state(subscriber, nonce)
    if link == "live":
        apply_preferences(subscriber, get_pending_preferences(subscriber), now)
        confirm(session, subscriber, now)
    return link


def confirm(session: Session, subscriber: Subscriber, now: dt.datetime) -> bool:
    """Make the subscriber active on their own confirmed action; False if already active, so twice is harmless."""
    subscriber.confirm_nonce = None  # a confirmation link is single-use
    subscriber.pending_prefs = None
    if subscriber.status == "active":
        session.flush()
        return False
    set_status(subscriber, "active", now)
    subscriber.confirmed_at = now
    subscriber.unsubscribed_at = None
    subscriber.permanent_failures = 0  # the reader just received and acted on our mail
    session.flush()
    return True


def bulk_expire_pending(session: Session, now: dt.datetime, days: int) -> int:
    """Delete sign-ups never confirmed within `days` days; return how many."""
    cutoff = now - dt.timedelta(days=days)
    result = session.execute(
        delete(Subscriber)
        .where(Subscriber.status == "pending", Subscriber.confirmed_at.is_(None), Subscriber.created_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


@dataclass
class SentEdition:
    """A digest that went out, with its papers in rank order (for the preferences page)."""

    edition_date: dt.date
    sent_at: dt.datetime | None
    papers: list[tuple[str, str | None]]  # (title, url)


def get_recent_editions(session: Session, subscriber_id: int, limit: int = 5) -> list[SentEdition]:
    """The last `limit` digests sent to this subscriber, newest first, in two queries."""
    digests = session.scalars(
        select(Digest).where(Digest.subscriber_id == subscriber_id, Digest.state == "sent")
        .order_by(Digest.edition_date.desc()).limit(limit)
    ).all()
    papers: dict[int, list] = {d.id: [] for d in digests}
    rows = session.execute(
        select(DigestItem.digest_id, Paper.title, Paper.url).join(Paper, Paper.id == DigestItem.paper_id)
        .where(DigestItem.digest_id.in_(list(papers))).order_by(DigestItem.digest_id, DigestItem.rank)
    ) if papers else []
    for digest_id, title, url in rows:
        papers[digest_id].append((title, url))
    return [SentEdition(d.edition_date, d.sent_at, papers[d.id]) for d in digests]


def get_confirm_subscriber(session: Session, secret: str, token: str,
                           max_age_days: int) -> tuple[Subscriber, str | None]:
    """The subscriber a confirm token names and the token's nonce, or TokenError (expired, tampered, other address)."""
    subscriber_id, address_digest, nonce = read_confirm_token(secret, token, max_age_days)
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None or not is_made_for(secret, address_digest, subscriber.email_key):
        raise TokenError("this link is not valid")
    return subscriber, nonce


def get_token_subscriber(session: Session, secret: str, purpose: str, token: str) -> Subscriber:
    """The subscriber an unsubscribe/preferences token names, or TokenError."""
    subscriber = session.get(Subscriber, read_token(secret, purpose, token))
    if subscriber is None:
        raise TokenError("this link is not valid")
    return subscriber
