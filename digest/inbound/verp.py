"""The signed return path (VERP): `bounces+<digest id>.<mac>@<domain>` as the envelope sender of a digest; pure.

A bounce comes back to the envelope sender, so its envelope recipient names
the digest, and through it the subscriber, even when the remote system strips
everything else. The MAC (48 bits of HMAC-SHA256 under the signing key, in
lower-case hex because some systems lower-case local parts) makes the address
unforgeable: a report for another subscriber's digest needs the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re

PREFIX = "bounces"
MAC_CHARS = 12
_VERP = re.compile(rf"{PREFIX}\+([0-9]{{1,10}})\.([0-9a-z]+)@([^@\s]+)", re.IGNORECASE)


class ForgedReturnPath(ValueError):
    """A return path shaped like ours whose MAC does not match: a forged report."""


def _mac(secret: str, digest_id: int) -> str:
    key = hmac.new(secret.encode(), b"digest.verp", hashlib.sha256).digest()
    return hmac.new(key, str(digest_id).encode(), hashlib.sha256).hexdigest()[:MAC_CHARS]


def return_path(secret: str, digest_id: int, domain: str) -> str:
    """`bounces+<digest id>.<mac>@<domain>`."""
    return f"{PREFIX}+{digest_id}.{_mac(secret, digest_id)}@{domain}"


def read_return_path(secret: str, address: str, domain: str | None = None) -> int | None:
    """The digest id an address of ours names; None for any other address; ForgedReturnPath for a bad MAC.

    With `domain`, only addresses at that domain count as ours.
    """
    match = _VERP.fullmatch((address or "").strip().strip("<>"))
    if match is None or (domain is not None and match[3].lower() != domain.lower()):
        return None
    digest_id, mac = int(match[1]), match[2].lower()
    if not (1 <= digest_id <= 2**31 - 1 and hmac.compare_digest(mac, _mac(secret, digest_id))):
        raise ForgedReturnPath(f"return path {address[:80]!r} does not carry our signature")
    return digest_id


def envelope_sender(settings, digest_id: int) -> str:
    """MAIL FROM for one digest: its signed return path when DIGEST_BOUNCE_DOMAIN is set, else the From address."""
    if settings.bounce_domain:
        return return_path(settings.signing_key(), digest_id, settings.bounce_domain)
    return settings.from_address.addr_spec
