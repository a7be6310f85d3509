"""Mail settings: the SMTP relay URL (DIGEST_SMTP_URL), its rate, DKIM signing, the unsubscribe mailto,
the return-path domain and the size cap of mail that comes back."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.headerregistry import Address
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from digest.config_base import ConfigError, env_value as _get

SMTP_SCHEMES = ("smtp", "smtps")
SMTP_TLS_MODES = ("none", "starttls", "ssl")


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to hand messages to the relay."""

    host: str
    port: int
    tls: str  # none | starttls | ssl
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    recycle_after: int = 100  # messages per connection before a fresh one
    cafile: str | None = None  # extra CA bundle (a private relay's self-signed certificate)
    verify: bool = True

    def __repr__(self) -> str:  # never print the password
        user = f"{self.username}@" if self.username else ""
        return f"SmtpConfig({user}{self.host}:{self.port}, tls={self.tls})"


@dataclass(frozen=True)
class DkimConfig:
    """DKIM signing key; the signature covers both List-Unsubscribe headers."""

    selector: str
    domain: str
    private_key: bytes = field(repr=False)


def parse_smtp_url(url: str, name: str = "DIGEST_SMTP_URL") -> SmtpConfig:
    """Parse `smtp://user:pass@host:587?tls=starttls` (or `smtps://host` for implicit TLS)."""
    parts = urlsplit(url)
    if parts.scheme not in SMTP_SCHEMES or not parts.hostname:
        raise ConfigError(f"{name}: expected smtp://[user:pass@]host[:port][?tls=starttls|ssl|none] or smtps://..., got {url!r}")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    tls = query.get("tls", "ssl" if parts.scheme == "smtps" else "none").lower()
    if tls in ("true", "yes", "1"):
        tls = "starttls"
    if tls not in SMTP_TLS_MODES:
        raise ConfigError(f"{name}: tls must be one of {', '.join(SMTP_TLS_MODES)}, got {tls!r}")
    try:
        port = parts.port or (465 if tls == "ssl" else 587 if tls == "starttls" else 25)
        timeout = float(query.get("timeout", "30"))
        recycle = int(query.get("recycle", "100"))
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    if not 0 < timeout <= 600 or recycle < 1:
        raise ConfigError(f"{name}: timeout must be in (0, 600] seconds and recycle at least 1")
    verify = query.get("verify", "true").lower()
    if verify not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"{name}: verify must be true or false, got {verify!r}")
    return SmtpConfig(
        host=parts.hostname,
        port=port,
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        timeout=timeout,
        recycle_after=recycle,
        cafile=query.get("cafile") or None,
        verify=verify in ("true", "1", "yes"),
    )


def parse_rate(env: dict) -> float:
    raw = _get(env, "DIGEST_SMTP_RATE")
    if raw is None:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"DIGEST_SMTP_RATE: expected messages per second (a number), got {raw!r}") from None
    if not 0 <= value <= 10_000:
        raise ConfigError(f"DIGEST_SMTP_RATE: must be between 0 (no limit) and 10000, got {raw}")
    return value


def parse_dkim(env: dict, from_address: Address) -> DkimConfig | None:
    """DIGEST_DKIM_KEY_FILE (PEM) + DIGEST_DKIM_SELECTOR [+ DIGEST_DKIM_DOMAIN, default the From domain]."""
    path, selector = _get(env, "DIGEST_DKIM_KEY_FILE"), _get(env, "DIGEST_DKIM_SELECTOR")
    if path is None and selector is None:
        return None
    if path is None or selector is None:
        missing = "DIGEST_DKIM_KEY_FILE" if path is None else "DIGEST_DKIM_SELECTOR"
        raise ConfigError(f"{missing}: required when DKIM signing is configured")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", selector):
        raise ConfigError(f"DIGEST_DKIM_SELECTOR: not a DNS label, got {selector!r}")
    domain = _get(env, "DIGEST_DKIM_DOMAIN", from_address.domain)
    if not re.fullmatch(r"[A-Za-z0-9.-]+\.[A-Za-z]{2,}", domain):
        raise ConfigError(f"DIGEST_DKIM_DOMAIN: not a domain name, got {domain!r}")
    try:
        key = Path(path).expanduser().read_bytes()
        from dkim.crypto import parse_pem_private_key

        parse_pem_private_key(key)
    except OSError as exc:
        raise ConfigError(f"DIGEST_DKIM_KEY_FILE: cannot read {path}: {exc.strerror}") from None
    except Exception:  # noqa: BLE001 - dkimpy raises several types for a bad key
        raise ConfigError(f"DIGEST_DKIM_KEY_FILE: {path} is not a PEM RSA private key") from None
    return DkimConfig(selector=selector, domain=domain, private_key=key)


def parse_mailto(env: dict) -> str | None:
    raw = _get(env, "DIGEST_LIST_UNSUBSCRIBE_MAILTO")
    if raw is None:
        return None
    address = raw.removeprefix("mailto:")
    if not re.fullmatch(r"[^@\s<>,\"]+@[A-Za-z0-9.-]+", address):
        raise ConfigError(f"DIGEST_LIST_UNSUBSCRIBE_MAILTO: expected an email address, got {raw!r}")
    return address


_DOMAIN = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")
INBOUND_MAX_BYTES = 10 * 1024 * 1024


def parse_bounce_domain(env: dict) -> str | None:
    """DIGEST_BOUNCE_DOMAIN: where the signed return path `bounces+<id>.<mac>@domain` points; unset: no VERP."""
    raw = _get(env, "DIGEST_BOUNCE_DOMAIN")
    if raw is None:
        return None
    if not _DOMAIN.fullmatch(raw):
        raise ConfigError(f"DIGEST_BOUNCE_DOMAIN: expected a domain name such as mail.example.org, got {raw!r}")
    return raw.lower()


def parse_inbound_max_bytes(env: dict) -> int:
    """DIGEST_INBOUND_MAX_BYTES: the largest message `digest inbound` reads (64 KiB to 100 MiB)."""
    raw = _get(env, "DIGEST_INBOUND_MAX_BYTES")
    if raw is None:
        return INBOUND_MAX_BYTES
    if not raw.isdigit() or not 65536 <= int(raw) <= 100 * 1024 * 1024:
        raise ConfigError(f"DIGEST_INBOUND_MAX_BYTES: expected a size in bytes from 65536 to 104857600, got {raw!r}")
    return int(raw)
