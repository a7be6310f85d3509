"""Subscribe / confirm / unsubscribe / preferences rules, and signed tokens."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.config import ConfigError, validate_timezone
from digest.models import Subscriber

STATUSES = ("pending", "active", "unsubscribed", "bounced")
CADENCES = ("daily", "weekly")
MAX_TOPICS = 20
MAX_PAPERS_LIMIT = 50


class SubscriptionError(ValueError):
    """The user gave a value we refuse; the message is one line."""


class TokenError(ValueError):
    """A signed link is invalid, tampered with, or expired."""


def normalise_email(address: str) -> str:
    """Validate syntax (no DNS) and return the normalised address."""
    try:
        return validate_email(address.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise SubscriptionError(f"invalid email address {address!r}: {exc}") from None


def email_key(address: str) -> str:
    return address.strip().lower()


@dataclass
class Preferences:
    """What a subscriber chose; validated by `validate_preferences`."""

    topics: list[str]
    categories: list[str]
    exclude: list[str]
    authors: list[str]
    timezone: str
    send_hour: int
    max_papers: int
    cadence: str = "daily"
    min_score: float = 0.0


def _clean_list(values, what: str, limit: int = MAX_TOPICS) -> list[str]:
    out: list[str] = []
    for value in values or ():
        text = " ".join(str(value).split())[:200]
        if text and text.lower() not in (v.lower() for v in out):
            out.append(text)
    if len(out) > limit:
        raise SubscriptionError(f"at most {limit} {what}, got {len(out)}")
    return out


def validate_preferences(topics=(), categories=(), exclude=(), authors=(), timezone="UTC", send_hour=7,
                         max_papers=10, cadence="daily", min_score=0.0) -> Preferences:
    """Check every field and return clean Preferences, or raise SubscriptionError."""
    try:
        validate_timezone(timezone, "timezone")
    except ConfigError as exc:
        raise SubscriptionError(str(exc)) from None
    if not 0 <= int(send_hour) <= 23:
        raise SubscriptionError(f"hour must be between 0 and 23, got {send_hour}")
    if not 1 <= int(max_papers) <= MAX_PAPERS_LIMIT:
        raise SubscriptionError(f"max papers must be between 1 and {MAX_PAPERS_LIMIT}, got {max_papers}")
    if cadence not in CADENCES:
        raise SubscriptionError(f"cadence must be one of {', '.join(CADENCES)}, got {cadence!r}")
    return Preferences(
        topics=_clean_list(topics, "topics"),
        categories=_clean_list(categories, "categories", 50),
        exclude=_clean_list(exclude, "exclusions", 50),
        authors=_clean_list(authors, "authors", 50),
        timezone=timezone,
        send_hour=int(send_hour),
        max_papers=int(max_papers),
        cadence=cadence,
        min_score=float(min_score),
    )


def get_subscriber(session: Session, address: str) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.email_key == email_key(address)))


def subscribe(session: Session, address: str, prefs: Preferences, now: dt.datetime, *, name: str = "",
              confirmed: bool = True) -> tuple[Subscriber, bool]:
    """Add or update a subscriber; return (subscriber, created). Operators add confirmed ones."""
    address = normalise_email(address)
    subscriber = get_subscriber(session, address)
    created = subscriber is None
    if created:
        subscriber = Subscriber(email=address, email_key=email_key(address), created_at=now, permanent_failures=0)
        session.add(subscriber)
    subscriber.name = " ".join(name.split())[:200]
    apply_preferences(subscriber, prefs)
    if confirmed:
        if subscriber.status != "active":
            subscriber.confirmed_at = now
        subscriber.status = "active"
        subscriber.unsubscribed_at = None
        subscriber.permanent_failures = 0
    elif created:
        subscriber.status = "pending"
    session.flush()
    return subscriber, created


def apply_preferences(subscriber: Subscriber, prefs: Preferences) -> None:
    """Copy preferences onto the row; they apply from the next edition."""
    subscriber.topics = prefs.topics
    subscriber.categories = prefs.categories
    subscriber.exclude = prefs.exclude
    subscriber.authors = prefs.authors
    subscriber.timezone = prefs.timezone
    subscriber.send_hour = prefs.send_hour
    subscriber.max_papers = prefs.max_papers
    subscriber.cadence = prefs.cadence
    subscriber.min_score = prefs.min_score


def unsubscribe(session: Session, subscriber: Subscriber, now: dt.datetime) -> bool:
    """Mark as unsubscribed (effective before the next send); False if it already was."""
    if subscriber.status == "unsubscribed":
        return False
    subscriber.status = "unsubscribed"
    subscriber.unsubscribed_at = now
    session.flush()
    return True


# --- signed tokens -----------------------------------------------------------------
# A token is bound to one subscriber and one purpose (the salt): a confirm token
# cannot unsubscribe anyone, and an unsubscribe token works only for its owner.
TOKEN_MAX_AGE = {"confirm": 7 * 86400, "unsubscribe": None, "preferences": None}


def make_token(secret: str, purpose: str, subscriber_id: int) -> str:
    return URLSafeTimedSerializer(secret, salt=f"digest.{purpose}").dumps(subscriber_id)


def read_token(secret: str, purpose: str, token: str, max_age: int | None = None) -> int:
    """The subscriber id inside a token of this purpose, or TokenError."""
    serializer = URLSafeTimedSerializer(secret, salt=f"digest.{purpose}")
    try:
        value = serializer.loads(token, max_age=max_age if max_age is not None else TOKEN_MAX_AGE.get(purpose))
    except SignatureExpired:
        raise TokenError("this link has expired") from None
    except BadSignature:
        raise TokenError("this link is not valid") from None
    if not isinstance(value, int):
        raise TokenError("this link is not valid")
    return value
