"""Subscribe / confirm / unsubscribe / preferences rules, and signed tokens."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import asdict, dataclass
from functools import lru_cache

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from digest.email.addresses import AddressError, parse_address
from digest.config import ConfigError, validate_timezone
from digest.models import Digest, DigestItem, Paper, Subscriber

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


class TokenError(ValueError):
    """A signed link is invalid, tampered with, or expired."""


class TokenExpired(TokenError):
    """A signed link that was valid but is too old."""


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
        categories=_known_categories(categories),
        exclude=_clean_list(exclude, "exclusions", 50),
        authors=_clean_list(authors, "authors", 50),
        timezone=timezone,
        send_hour=int(send_hour),
        max_papers=int(max_papers),
        cadence=cadence,
        min_score=float(min_score),
    )


def _known_categories(values) -> list[str]:
    # Checked against arXiv's taxonomy: a typo would otherwise match no paper, silently, for ever.
    from digest.arxiv_categories import UnknownCategory, canonical_category

    try:
        return _clean_list([canonical_category(str(v)) for v in values or () if str(v).strip()], "categories", 50)
    except UnknownCategory as exc:
        raise SubscriptionError(str(exc)) from None


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
    apply_preferences(subscriber, prefs)
    session.flush()
    return subscriber, created


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
                       min_score=subscriber.min_score or 0.0)


def describe_changes(old: Preferences, new: Preferences) -> list[str]:
    """One phrase per changed field: 'hour 07:00 → 08:00', 'topics: a; b → c'."""
    def shown(field: str, prefs: Preferences) -> str:
        value = getattr(prefs, field)
        if field == "send_hour":
            return f"{value:02d}:00"
        if isinstance(value, list):
            return ("; " if field in ("topics", "exclude", "authors") else ", ").join(value) or "none"
        return str(value)

    labels = {"topics": "topics:", "categories": "categories:", "exclude": "exclusions:", "authors": "authors:",
              "timezone": "time zone", "send_hour": "hour", "max_papers": "max papers", "cadence": "cadence",
              "min_score": "min score"}
    return [f"{label} {shown(f, old)} → {shown(f, new)}" for f, label in labels.items()
            if getattr(old, f) != getattr(new, f)]


def update_subscriber(session: Session, subscriber: Subscriber, given: dict, name: str | None = None) -> list[str]:
    """Change only the `given` preference fields (and name) of a subscriber; return what changed."""
    old = preferences_of(subscriber)
    new = validate_preferences(**{**asdict(old), **given})
    changes = describe_changes(old, new)
    if name is not None and " ".join(name.split())[:200] != subscriber.name:
        changes.append(f"name {subscriber.name or 'none'} → {' '.join(name.split())[:200] or 'none'}")
        subscriber.name = " ".join(name.split())[:200]
    apply_preferences(subscriber, new)
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


def set_status(subscriber: Subscriber, status: str, now: dt.datetime) -> None:
    """Change the status and record when (status_at)."""
    if subscriber.status != status:
        subscriber.status = status
        subscriber.status_at = now


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


# --- self-service (web) sign-up --------------------------------------------------
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
    dialect = {"postgresql": postgresql, "sqlite": sqlite}.get(session.get_bind().dialect.name)
    if dialect is None:
        if get_subscriber(session, address) is None:
            session.execute(insert(Subscriber).values(**values))
    else:
        session.execute(dialect.insert(Subscriber).values(**values).on_conflict_do_nothing(
            index_elements=["email_key"]))
    return get_subscriber(session, address)


def _confirmation_values(prefs: Preferences) -> dict:
    return {"confirm_nonce": secrets.token_urlsafe(12), "pending_prefs": asdict(prefs)}


def start_confirmation(subscriber: Subscriber, prefs: Preferences) -> None:
    """A new live confirmation link that confirms exactly `prefs`; any older link is superseded."""
    for name, value in _confirmation_values(prefs).items():
        setattr(subscriber, name, value)


def get_pending_preferences(subscriber: Subscriber) -> Preferences:
    """What the live confirmation link confirms (the row's own settings for a link older than nonces)."""
    if subscriber.pending_prefs:
        return Preferences(**subscriber.pending_prefs)
    return preferences_of(subscriber)


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
        apply_preferences(subscriber, get_pending_preferences(subscriber))
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


# --- signed tokens -----------------------------------------------------------------
# A token is bound to one subscriber and one purpose (the salt): a confirm token
# cannot unsubscribe anyone, and an unsubscribe token works only for its owner.
TOKEN_MAX_AGE = {"confirm": 7 * 86400, "unsubscribe": None, "preferences": None}


# A confirm token also carries a keyed digest of the address it was made for: a
# link for a deleted sign-up cannot confirm a later row that reuses its id, and
# the address itself never appears in the URL (or in access logs).


@lru_cache(maxsize=32)
def _serializer(secret: str, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=f"digest.{purpose}")


@lru_cache(maxsize=32)
def _link_key(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode(), f"digest.link.{purpose}".encode(), hashlib.sha256).digest()


def _link_mac(secret: str, purpose: str, subscriber_id: int) -> str:
    mac = hmac.new(_link_key(secret, purpose), str(subscriber_id).encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(mac).decode()


def make_token(secret: str, purpose: str, subscriber_id: int, bind: str | None = None) -> str:
    """A signed token for one subscriber and one purpose.

    Links that never expire (unsubscribe, preferences; two in every digest)
    are `<id>.<HMAC-SHA256>` with a per-purpose key: a few microseconds each.
    Expiring ones (confirm) carry a timestamp through itsdangerous.
    """
    if TOKEN_MAX_AGE.get(purpose, 0) is None and bind is None:
        return f"{subscriber_id}.{_link_mac(secret, purpose, subscriber_id)}"
    value = subscriber_id if bind is None else [subscriber_id, bind]
    return _serializer(secret, purpose).dumps(value)


def _load_token(secret: str, purpose: str, token: str, max_age: int | None):
    if TOKEN_MAX_AGE.get(purpose, 0) is None:
        sid, _, mac = token.partition(".")
        sid_ok = _ID_TEXT.fullmatch(sid) is not None and _is_id(int(sid))
        if sid_ok and hmac.compare_digest(mac, _link_mac(secret, purpose, int(sid))):
            return int(sid)
        raise TokenError("this link is not valid")
    serializer = _serializer(secret, purpose)
    try:
        return serializer.loads(token, max_age=max_age if max_age is not None else TOKEN_MAX_AGE.get(purpose))
    except SignatureExpired:
        raise TokenExpired("this link has expired") from None
    except BadSignature:
        raise TokenError("this link is not valid") from None


# Ids are ASCII digits without a leading zero (one spelling per id, never `٣` or `03`)
# and fit the id column: a larger one is an invalid link, not a database error.
_ID_TEXT = re.compile(r"[1-9][0-9]{0,18}")
MAX_ID = 2**31 - 1


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def read_token(secret: str, purpose: str, token: str, max_age: int | None = None) -> int:
    """The subscriber id inside a token of this purpose, or TokenError (TokenExpired when too old)."""
    value = _load_token(secret, purpose, token, max_age)
    if not _is_id(value):
        raise TokenError("this link is not valid")
    return value


def make_confirm_token(secret: str, subscriber: Subscriber) -> str:
    """A double opt-in link token, bound to the row, its address and its live confirmation nonce."""
    value = [subscriber.id, _address_digest(secret, subscriber.email_key)]
    if subscriber.confirm_nonce:
        value.append(subscriber.confirm_nonce)
    return _serializer(secret, "confirm").dumps(value)


def _address_digest(secret: str, key: str) -> str:
    return hmac.new(secret.encode(), key.encode(), hashlib.sha256).hexdigest()[:20]


def get_confirm_subscriber(session: Session, secret: str, token: str,
                           max_age_days: int) -> tuple[Subscriber, str | None]:
    """The subscriber a confirm token names and the token's nonce, or TokenError (expired, tampered, other address)."""
    value = _load_token(secret, "confirm", token, max_age_days * 86400)
    if not (isinstance(value, list) and len(value) in (2, 3) and _is_id(value[0])):
        raise TokenError("this link is not valid")
    subscriber = session.get(Subscriber, value[0])
    if subscriber is None or not hmac.compare_digest(_address_digest(secret, subscriber.email_key), str(value[1])):
        raise TokenError("this link is not valid")
    return subscriber, (str(value[2]) if len(value) == 3 else None)


def get_token_subscriber(session: Session, secret: str, purpose: str, token: str) -> Subscriber:
    """The subscriber an unsubscribe/preferences token names, or TokenError."""
    subscriber = session.get(Subscriber, read_token(secret, purpose, token))
    if subscriber is None:
        raise TokenError("this link is not valid")
    return subscriber
