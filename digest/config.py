"""Settings: the one place that reads the environment.

Every value has an embedded default so that `digest demo` works on a fresh
machine with nothing configured. A `.env` file in the working directory is
read if present (it never overrides variables already set). An invalid value
raises `ConfigError` naming the variable; the CLI turns that into a one-line
message and exit status 2.

The mail settings (SMTP relay URL, rate, DKIM, unsubscribe mailto, return path, inbound size cap) are parsed
in `config_mail`, the shared errors live in `config_base`; both are importable
from here.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from email.headerregistry import Address
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.config_base import ConfigError, EnvironmentProblem, env_value as _get
from digest.config_mail import (INBOUND_MAX_BYTES, SMTP_SCHEMES, SMTP_TLS_MODES, DkimConfig, SmtpConfig,
                                parse_bounce_domain, parse_dkim, parse_inbound_max_bytes, parse_mailto, parse_rate,
                                parse_smtp_url)

__all__ = [
    "DEFAULT_BASE_URL", "DEFAULT_BROKER_URL", "DEFAULT_FROM", "DEFAULT_SOURCES", "SMTP_SCHEMES", "SMTP_TLS_MODES",
    "SOURCE_NAME_MAX", "ConfigError", "DkimConfig", "EnvironmentProblem", "Settings", "SmtpConfig", "load_settings",
    "parse_from", "parse_smtp_url", "validate_source_location", "validate_source_name", "validate_timezone",
]

DEFAULT_BROKER_URL = "redis://localhost:6379/0"
DEFAULT_FROM = "digest <digest@localhost>"
DEFAULT_BASE_URL = "http://localhost:8000"
DEFAULT_SOURCES = "seeds"


@dataclass(frozen=True)
class Settings:
    """Frozen settings object; build it with `load_settings()`."""

    data_dir: Path
    database_url: str
    broker_url: str
    smtp: SmtpConfig | None
    from_address: Address
    base_url: str
    secret_key: str | None
    outbox_dir: Path
    sources: tuple[str, ...]
    default_timezone: str = "UTC"
    default_hour: int = 7
    pending_days: int = 7  # unconfirmed sign-ups are deleted after this many days
    proxy_hops: int = 0  # reverse proxies in front of the web app (trusted X-Forwarded-For hops)
    candidate_days: int = 3
    recency_half_life_hours: float = 36.0
    lease_seconds: int = 60  # renewed every third of it while the batch lives; a crash costs about this much
    max_attempts: int = 5
    edition_max_age_hours: int = 18  # an edition kept waiting by a relay outage longer than this is failed
    ingest_interval_minutes: int = 60
    batch_size: int = 100
    mark_every: int = 20  # sent rows marked per commit; a killed worker may resend up to this many (DESIGN.md)
    sender: str = ""  # "null": accept and discard every message (benchmarks); "" : SMTP, else the outbox
    keep_days: int = 0  # digests and their items older than this are pruned (sent papers kept); 0: keep all
    stale_seconds: int = 600
    queue: str = "digest"
    tick_seconds: int = 300
    sweep_seconds: int = 60
    smtp_rate: float = 0.0  # messages per second over all workers; 0 = no limit
    dkim: DkimConfig | None = None
    unsubscribe_mailto: str | None = None
    bounce_domain: str | None = None  # the signed return path's domain (VERP); None: bounces go to the From address
    inbound_max_bytes: int = INBOUND_MAX_BYTES  # the largest message `digest inbound` reads
    admin_token: str | None = field(default=None, repr=False)  # the operator dashboard and /metrics; None: off
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def uses_outbox(self) -> bool:
        return self.smtp is None

    def prepare_data_dir(self) -> Path:
        """Create DIGEST_DATA_DIR if missing; EnvironmentProblem (one line) if it is a file or cannot be made."""
        where = f"DIGEST_DATA_DIR={self.data_dir}"
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise EnvironmentProblem(f"{where}: is a file, not a folder; set DIGEST_DATA_DIR to a folder")
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EnvironmentProblem(f"{where}: cannot create the folder ({exc.strerror or exc}); "
                                     "set DIGEST_DATA_DIR to a writable folder") from None
        return self.data_dir

    def signing_key(self) -> str:
        """DIGEST_SECRET_KEY, else a random key kept in the data folder."""
        return self.secret_key or _data_dir_secret(self.data_dir)


def parse_from(value: str, name: str = "DIGEST_FROM") -> Address:
    """Parse `Display Name <addr@host>` or a bare address into an Address."""
    match = re.fullmatch(r"\s*(?:(.*?)\s*<([^<>\s]+)>|([^<>\s]+))\s*", value)
    if not match:
        raise ConfigError(f"{name}: expected 'Name <address@domain>' or 'address@domain', got {value!r}")
    display = (match.group(1) or "").strip().strip('"')
    addr = match.group(2) or match.group(3)
    if addr.count("@") != 1 or not all(addr.split("@")):
        raise ConfigError(f"{name}: {addr!r} is not an email address")
    local, domain = addr.split("@")
    try:
        return Address(display_name=display, username=local, domain=domain)
    except (ValueError, IndexError) as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _parse_int(env: dict, name: str, default: int, low: int, high: int) -> int:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}: must be between {low} and {high}, got {value}")
    return value


def _parse_database_url(url: str) -> str:
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", url):
        raise ConfigError(f"DIGEST_DATABASE_URL: expected sqlite:///path or postgresql://..., got {url!r}")
    if url.startswith("postgresql://"):
        # psycopg 3 is the driver we install; the bare scheme would ask for psycopg2.
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def validate_timezone(name: str, variable: str = "timezone") -> str:
    """Return `name` if it is a known IANA zone, else raise ConfigError."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{variable}: unknown time zone {name!r} (use an IANA name such as Europe/Berlin)") from None
    return name


def load_settings(env: dict | None = None, read_dotenv: bool = True) -> Settings:
    """Build Settings from `env` (default: os.environ plus ./.env)."""
    if env is None:
        if read_dotenv:
            from dotenv import dotenv_values

            env = {k: v for k, v in dotenv_values(".env").items() if v is not None}
            env.update(os.environ)
        else:
            env = dict(os.environ)
    data_dir = Path(_get(env, "DIGEST_DATA_DIR", "digest-data")).expanduser()
    database_url = _parse_database_url(
        _get(env, "DIGEST_DATABASE_URL", f"sqlite:///{(data_dir / 'digest.sqlite3').resolve()}")
    )
    broker_url = _get(env, "DIGEST_BROKER_URL", DEFAULT_BROKER_URL)
    if not re.match(r"^(redis|rediss|amqp|memory)://", broker_url):
        raise ConfigError(f"DIGEST_BROKER_URL: expected redis://host:port/db, got {broker_url!r}")
    smtp_url = _get(env, "DIGEST_SMTP_URL")
    _refuse_control_characters(env, ("DIGEST_BASE_URL", "DIGEST_FROM", "DIGEST_LIST_UNSUBSCRIBE_MAILTO"))
    base_url = _get(env, "DIGEST_BASE_URL", DEFAULT_BASE_URL).rstrip("/")
    if not re.match(r"^https?://[^/\s]+", base_url):
        raise ConfigError(f"DIGEST_BASE_URL: expected an http(s):// URL, got {base_url!r}")
    secret = _get(env, "DIGEST_SECRET_KEY")
    if secret is not None and len(secret) < 16:
        raise ConfigError("DIGEST_SECRET_KEY: must be at least 16 characters")
    sources = _parse_sources(_get(env, "DIGEST_SOURCES", DEFAULT_SOURCES))
    from_address = parse_from(_get(env, "DIGEST_FROM", DEFAULT_FROM))
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        broker_url=broker_url,
        smtp=parse_smtp_url(smtp_url) if smtp_url else None,
        from_address=from_address,
        base_url=base_url,
        secret_key=secret,
        outbox_dir=Path(_get(env, "DIGEST_OUTBOX_DIR", str(data_dir / "outbox"))).expanduser(),
        sources=sources,
        default_timezone=validate_timezone(_get(env, "DIGEST_DEFAULT_TIMEZONE", "UTC"), "DIGEST_DEFAULT_TIMEZONE"),
        sender=_parse_sender(env),
        queue=_parse_queue(env),
        **_numbers(env),
        smtp_rate=parse_rate(env),
        dkim=parse_dkim(env, from_address),
        unsubscribe_mailto=parse_mailto(env),
        bounce_domain=parse_bounce_domain(env),
        inbound_max_bytes=parse_inbound_max_bytes(env),
        admin_token=_parse_admin_token(env),
    )


def _numbers(env: dict) -> dict[str, int]:
    """The integer settings, each with its default and bounds (a value out of bounds is a one-line ConfigError)."""
    return {
        "default_hour": _parse_int(env, "DIGEST_DEFAULT_HOUR", 7, 0, 23),
        "candidate_days": _parse_int(env, "DIGEST_CANDIDATE_DAYS", 3, 1, 60),
        "lease_seconds": _parse_int(env, "DIGEST_LEASE_SECONDS", 60, 5, 86400),
        "ingest_interval_minutes": _parse_int(env, "DIGEST_INGEST_INTERVAL_MINUTES", 60, 1, 7 * 24 * 60),
        "batch_size": _parse_int(env, "DIGEST_BATCH_SIZE", 100, 1, 5000),
        "mark_every": _parse_int(env, "DIGEST_MARK_EVERY", 20, 1, 1000),
        "keep_days": _parse_int(env, "DIGEST_KEEP_DAYS", 0, 0, 36500),
        "stale_seconds": _parse_int(env, "DIGEST_STALE_SECONDS", 600, 1, 86400),
        "tick_seconds": _parse_int(env, "DIGEST_TICK_SECONDS", 300, 1, 3600),
        "sweep_seconds": _parse_int(env, "DIGEST_SWEEP_SECONDS", 60, 1, 3600),
        "max_attempts": _parse_int(env, "DIGEST_MAX_ATTEMPTS", 5, 1, 100),
        "edition_max_age_hours": _parse_int(env, "DIGEST_EDITION_MAX_AGE_HOURS", 18, 1, 7 * 24),
        "pending_days": _parse_int(env, "DIGEST_PENDING_DAYS", 7, 1, 365),
        "proxy_hops": _parse_int(env, "DIGEST_PROXY_HOPS", 0, 0, 5),
    }


def _parse_sender(env: dict) -> str:
    value = (_get(env, "DIGEST_SENDER", "") or "").strip().lower()
    if value not in ("", "null"):
        raise ConfigError(f"DIGEST_SENDER: expected null (discard every message) or unset, got {value!r}")
    return value


SOURCE_NAME_MAX = 200  # the sources.name column


def validate_source_name(name: str, variable: str = "") -> str:
    """A name that fits the column and prints on one line, or ConfigError (prefixed with `variable`)."""
    where = f"{variable}: " if variable else ""
    if not name or len(name) > SOURCE_NAME_MAX:
        raise ConfigError(f"{where}a source name needs 1 to {SOURCE_NAME_MAX} characters, got {name[:60]!r}")
    if any(not ch.isprintable() for ch in name) or name == "seeds" or "=" in name:
        raise ConfigError(f"{where}invalid source name {name[:60]!r} (printable characters, no '=', not 'seeds')")
    return name


def validate_source_location(location: str, variable: str = "") -> str:
    """An http(s) URL with a host, or a file path; any other scheme (ftp:, javascript:) is refused."""
    where = f"{variable}: " if variable else ""
    shown = repr(location[:200])
    if not location or any(not ch.isprintable() for ch in location):
        raise ConfigError(f"{where}invalid location {shown}")
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", location)
    if scheme and len(scheme.group(1)) > 1:  # one letter is a Windows drive (C:\\feeds)
        try:
            parts = urlsplit(location)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise ConfigError(f"{where}not a valid URL: {shown}") from None
        if parts.scheme.lower() not in ("http", "https"):
            raise ConfigError(f"{where}only http:// and https:// URLs (or a file path), got {shown}")
        if not parts.hostname:
            raise ConfigError(f"{where}URL without a host: {shown}")
    return location


def _parse_sources(raw: str) -> tuple[str, ...]:
    """DIGEST_SOURCES: names, URLs, paths or name=location items, separated by commas or new lines."""
    items = [s.strip() for s in re.split(r"[,\n]", raw.strip().strip(","))]
    for item in items:
        if not item:
            raise ConfigError(f"DIGEST_SOURCES: empty item in {raw[:200]!r} (two commas in a row?)")
        name, location = item, item
        if "=" in item and not item.startswith(("http://", "https://", "/", ".")):
            name, location = (part.strip() for part in item.split("=", 1))
            validate_source_name(name, "DIGEST_SOURCES")
        validate_source_location(location, "DIGEST_SOURCES")
    return tuple(items)


def _parse_queue(env: dict) -> str:
    queue = _get(env, "DIGEST_QUEUE", "digest")
    if not re.fullmatch(r"[A-Za-z0-9._:-]{1,100}", queue):
        raise ConfigError(f"DIGEST_QUEUE: letters, digits and . _ : - only, got {queue!r}")
    return queue


def _parse_admin_token(env: dict) -> str | None:
    """DIGEST_ADMIN_TOKEN: the operator's password for /admin and /metrics; unset turns both off."""
    token = _get(env, "DIGEST_ADMIN_TOKEN")
    if token is None:
        return None
    if len(token) < 16 or not token.isprintable():
        raise ConfigError("DIGEST_ADMIN_TOKEN: needs at least 16 printable characters "
                          "(e.g. the output of `openssl rand -hex 24`)")
    return token


def _refuse_control_characters(env: dict, names: tuple[str, ...]) -> None:
    """ConfigError naming the first variable that holds a line break or other control character.

    These values end up in mail headers: a CR/LF inside would start a header of
    its own (a base URL becoming `Bcc:`).
    """
    for name in names:
        value = env.get(name)
        if value and not value.isprintable():
            raise ConfigError(f"{name}: must not contain line breaks or other control characters, got {value!r}")


@lru_cache(maxsize=8)
def _data_dir_secret(data_dir: Path) -> str:
    """A random key kept in the data folder, so signed links survive restarts.

    Without a configured key, links signed by one process would not verify in
    another; this default is stable per data folder instead.
    """
    path = data_dir / "secret.key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        path.write_text(key)
        path.chmod(0o600)
        return key
    except OSError:
        # Read-only location: fall back to a per-process key.
        return secrets.token_urlsafe(32)
