"""What a subscriber chose, as plain values: validation, comparison, status words; pure (no database)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from digest.config import ConfigError, validate_timezone
from digest.email.addresses import AddressError, parse_address

if TYPE_CHECKING:
    from digest.models import Subscriber

STATUSES = ("pending", "active", "unsubscribed", "bounced", "complained", "suppressed")
# What `describe_status` says of an address that is not active; {} is the date its status changed.
STATUS_WORDS = {"pending": "has not confirmed yet, pending since {}", "unsubscribed": "unsubscribed on {}",
                "bounced": "bounced on {}", "complained": "complained (marked a digest as spam) on {}",
                "suppressed": "was suppressed on {}"}
CADENCES = ("daily", "weekly")
MAX_TOPICS = 20
MAX_PAPERS_LIMIT = 50


class SubscriptionError(ValueError):
    """The user gave a value we refuse; the message is one line."""


def normalise_email(address: str, *, ascii_only: bool = False) -> str:
    """Validate syntax (no DNS) and return the normalised address; refuses anything but one plain mailbox."""
    try:
        return parse_address(address, ascii_only=ascii_only)[0]
    except AddressError as exc:
        raise SubscriptionError(str(exc)) from None


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
    updates: bool = False  # also an "Updated" block: new versions of older papers on their topics


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
                         max_papers=10, cadence="daily", min_score=0.0, updates=False) -> Preferences:
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
        categories=_known_categories(categories),
        exclude=_clean_list(exclude, "exclusions", 50),
        authors=_clean_list(authors, "authors", 50),
        timezone=timezone,
        send_hour=int(send_hour),
        max_papers=int(max_papers),
        cadence=cadence,
        min_score=float(min_score),
        updates=bool(updates),
    )


def _known_categories(values) -> list[str]:
    # Checked against arXiv's taxonomy: a typo would otherwise match no paper, silently, for ever.
    from digest.arxiv_categories import UnknownCategory, canonical_category

    try:
        return _clean_list([canonical_category(str(v)) for v in values or () if str(v).strip()], "categories", 50)
    except UnknownCategory as exc:
        raise SubscriptionError(str(exc)) from None


def describe_status(subscriber: Subscriber) -> str:
    """'ada@example.org unsubscribed on 2026-11-30' (status_at, else unsubscribed_at; no date if neither)."""
    since = subscriber.status_at or subscriber.unsubscribed_at
    words = STATUS_WORDS.get(subscriber.status, subscriber.status + " since {}")
    return f"{subscriber.email} {words.format(since.date().isoformat()) if since else words.rsplit(' ', 2)[0]}"


def preferences_of(subscriber: Subscriber) -> Preferences:
    """The row's current preferences as a Preferences value."""
    return Preferences(topics=list(subscriber.topics or []), categories=list(subscriber.categories or []),
                       exclude=list(subscriber.exclude or []), authors=list(subscriber.authors or []),
                       timezone=subscriber.timezone, send_hour=subscriber.send_hour,
                       max_papers=subscriber.max_papers, cadence=subscriber.cadence,
                       min_score=subscriber.min_score or 0.0, updates=bool(subscriber.updates))


def get_pending_preferences(subscriber: Subscriber) -> Preferences:
    """What the live confirmation link confirms (the row's own settings for a link older than nonces)."""
    if subscriber.pending_prefs:
        return Preferences(**subscriber.pending_prefs)
    return preferences_of(subscriber)


def describe_changes(old: Preferences, new: Preferences) -> list[str]:
    """One phrase per changed field: 'hour 07:00 → 08:00', 'topics: a; b → c'."""
    def shown(field: str, prefs: Preferences) -> str:
        value = getattr(prefs, field)
        if field == "send_hour":
            return f"{value:02d}:00"
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, list):
            return ("; " if field in ("topics", "exclude", "authors") else ", ").join(value) or "none"
        return str(value)

    labels = {"topics": "topics:", "categories": "categories:", "exclude": "exclusions:", "authors": "authors:",
              "timezone": "time zone", "send_hour": "hour", "max_papers": "max papers", "cadence": "cadence",
              "min_score": "min score", "updates": "updates"}
    return [f"{label} {shown(f, old)} → {shown(f, new)}" for f, label in labels.items()
            if getattr(old, f) != getattr(new, f)]


# --- what a sign-up form's text fields hold ----------------------------------------
_CATEGORY = re.compile(r"([a-z]+(?:-[a-z]+)?)(?:\.([a-z]+(?:-[a-z]+)?))?", re.IGNORECASE)


def split_lines(text: str) -> list[str]:
    """One entry per non-blank line (topics as typed in a textarea)."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def split_categories(text: str) -> list[str]:
    """arXiv categories separated by commas or spaces, in canonical case (cs.lg -> cs.LG)."""
    out = []
    for raw in re.split(r"[\s,;]+", text or ""):
        if not raw:
            continue
        match = _CATEGORY.fullmatch(raw)
        if not match:
            raise SubscriptionError(f"{raw[:60]!r} is not an arXiv category (e.g. cs.LG, hep-th, astro-ph.CO)")
        archive, subject = match.group(1).lower(), match.group(2)
        if subject:
            subject = subject.upper() if len(subject) <= 2 else subject.lower()
        out.append(f"{archive}.{subject}" if subject else archive)
    return out
