"""Signed link tokens: one subscriber, one purpose; pure (no database).

A token is bound to one subscriber and one purpose (the salt): a confirm token
cannot unsubscribe anyone, and an unsubscribe token works only for its owner.
A paper token ("more / less like this" in a digest) is bound to one subscriber
and one paper; an edition token ("View in browser") to one subscriber and one
edition date.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
from functools import lru_cache
from typing import TYPE_CHECKING

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

if TYPE_CHECKING:
    from digest.models import Subscriber

# None: never expires. "archive" and "feed" are read-only views of a subscriber's past digests; the feed's
# link goes into a feed reader, so it opens nothing else.
TOKEN_MAX_AGE = {"confirm": 7 * 86400, "unsubscribe": None, "preferences": None, "archive": None, "feed": None,
                 "admin": 12 * 3600}

# Ids are ASCII digits without a leading zero (one spelling per id, never `٣` or `03`)
# and fit the id column: a larger one is an invalid link, not a database error.
_ID_TEXT = re.compile(r"[1-9][0-9]{0,18}")
MAX_ID = 2**31 - 1


class TokenError(ValueError):
    """A signed link is invalid, tampered with, or expired."""


class TokenExpired(TokenError):
    """A signed link that was valid but is too old."""


# A confirm token also carries a keyed digest of the address it was made for: a
# link for a deleted sign-up cannot confirm a later row that reuses its id, and
# the address itself never appears in the URL (or in access logs).


@lru_cache(maxsize=32)
def _serializer(secret: str, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=f"digest.{purpose}")


@lru_cache(maxsize=32)
def _link_key(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode(), f"digest.link.{purpose}".encode(), hashlib.sha256).digest()


def _link_mac(secret: str, purpose: str, subject: int | str) -> str:
    mac = hmac.new(_link_key(secret, purpose), str(subject).encode(), hashlib.sha256).digest()[:18]
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


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def read_token(secret: str, purpose: str, token: str, max_age: int | None = None) -> int:
    """The subscriber id inside a token of this purpose, or TokenError (TokenExpired when too old)."""
    value = _load_token(secret, purpose, token, max_age)
    if not _is_id(value):
        raise TokenError("this link is not valid")
    return value


def _make_pair(secret: str, purpose: str, subscriber_id: int, subject: int) -> str:
    """`<subscriber>.<subject>.<HMAC-SHA256>`: one subscriber's never-expiring link about one thing."""
    return f"{subscriber_id}.{subject}.{_link_mac(secret, purpose, f'{subscriber_id}.{subject}')}"


def _read_pair(secret: str, purpose: str, token: str) -> tuple[int, int]:
    """(subscriber id, subject) inside a `_make_pair` token of this purpose, or TokenError."""
    sid, subject, mac = (token.split(".", 2) + ["", ""])[:3]
    if _ID_TEXT.fullmatch(sid) and _ID_TEXT.fullmatch(subject) and _is_id(int(sid)) and int(subject) <= 2**63:
        if hmac.compare_digest(mac, _link_mac(secret, purpose, f"{sid}.{subject}")):
            return int(sid), int(subject)
    raise TokenError("this link is not valid")


def make_paper_token(secret: str, subscriber_id: int, paper_id: int) -> str:
    """`<subscriber>.<paper>.<HMAC-SHA256>`: one subscriber's link about one paper; never expires."""
    return _make_pair(secret, "paper", subscriber_id, paper_id)


def read_paper_token(secret: str, token: str) -> tuple[int, int]:
    """(subscriber id, paper id) inside a paper token, or TokenError."""
    sid, pid = _read_pair(secret, "paper", token)
    if not _is_id(pid):
        raise TokenError("this link is not valid")
    return sid, pid


def make_edition_token(secret: str, subscriber_id: int, edition_date: dt.date) -> str:
    """`<subscriber>.<YYYYMMDD>.<HMAC-SHA256>`: one subscriber's edition as a web page; never expires."""
    return _make_pair(secret, "edition", subscriber_id, int(edition_date.strftime("%Y%m%d")))


def read_edition_token(secret: str, token: str) -> tuple[int, dt.date]:
    """(subscriber id, edition date) inside an edition token, or TokenError."""
    sid, day = _read_pair(secret, "edition", token)
    try:
        return sid, dt.datetime.strptime(str(day), "%Y%m%d").date()
    except ValueError:
        raise TokenError("this link is not valid") from None


def make_confirm_token(secret: str, subscriber: Subscriber) -> str:
    """A double opt-in link token, bound to the row, its address and its live confirmation nonce."""
    value = [subscriber.id, _address_digest(secret, subscriber.email_key)]
    if subscriber.confirm_nonce:
        value.append(subscriber.confirm_nonce)
    return _serializer(secret, "confirm").dumps(value)


def _address_digest(secret: str, key: str) -> str:
    return hmac.new(secret.encode(), key.encode(), hashlib.sha256).hexdigest()[:20]


def read_confirm_token(secret: str, token: str, max_age_days: int) -> tuple[int, str, str | None]:
    """(subscriber id, address digest, nonce or None) inside a confirm token, or TokenError (TokenExpired)."""
    value = _load_token(secret, "confirm", token, max_age_days * 86400)
    if not (isinstance(value, list) and len(value) in (2, 3) and _is_id(value[0])):
        raise TokenError("this link is not valid")
    return value[0], str(value[1]), (str(value[2]) if len(value) == 3 else None)


def is_made_for(secret: str, address_digest: str, email_key: str) -> bool:
    """Whether a confirm token's address digest names this address (compared in constant time)."""
    return hmac.compare_digest(_address_digest(secret, email_key), address_digest)


# The operator's session (the /admin login cookie): a timestamped signature over a keyed digest of
# DIGEST_ADMIN_TOKEN, so changing the token ends every session signed for the old one.
ADMIN_SESSION_SECONDS = TOKEN_MAX_AGE["admin"]


def _admin_digest(secret: str, admin_token: str) -> str:
    return hmac.new(_link_key(secret, "admin"), admin_token.encode(), hashlib.sha256).hexdigest()[:32]


def make_admin_session(secret: str, admin_token: str) -> str:
    """The signed value of the operator's session cookie (valid ADMIN_SESSION_SECONDS)."""
    return _serializer(secret, "admin").dumps(_admin_digest(secret, admin_token))


def check_admin_session(secret: str, value: str, admin_token: str, max_age: int = ADMIN_SESSION_SECONDS) -> None:
    """Nothing when `value` is a live session for this token; TokenError when tampered or for another token,
    TokenExpired when older than `max_age` seconds."""
    digest = _load_token(secret, "admin", value, max_age)
    if not (isinstance(digest, str) and hmac.compare_digest(digest, _admin_digest(secret, admin_token))):
        raise TokenError("this session is not valid")
