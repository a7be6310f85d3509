"""Senders behind one small interface: SMTP relay, outbox folder, memory (tests).

A sender takes finished message bytes. It raises `TransientError` when trying
again later may work (4xx, dropped connection, timeout) and `PermanentError`
when it will not (5xx), carrying the relay's reply and who it blames
(`classify_reply`). `SenderUnavailable` means the sender cannot work at all
(an outbox folder that is not writable): nothing was handed over.
"""

from __future__ import annotations

import hashlib
import html
import logging
import os
import re
import smtplib
import socket
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Protocol

from digest.config import SmtpConfig
from digest.email.replies import (RECIPIENT, SENDER, TRANSIENT, UNKNOWN, ReplyClass,  # noqa: F401 (public here too)
                            classify_reply, sender_problem)

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    def __init__(self, message: str, code: int | None = None, reply_class: ReplyClass | None = None):
        super().__init__(message)
        self.code = code
        self.reply_class = reply_class or classify_reply(code, message)


class TransientError(DeliveryError):
    """Try again later: a 4xx reply, a dropped connection, a timeout, or a relay we cannot reach.

    `maybe_delivered`: the connection dropped or timed out after the end of
    DATA, so the relay may have queued the message; a resend may duplicate it
    (the stable Message-ID lets the receiving side drop the copy).
    """

    def __init__(self, message: str, code: int | None = None, maybe_delivered: bool = False,
                 session: bool = False):
        super().__init__(message, code, ReplyClass(TRANSIENT, classify_reply(code, message).status))
        self.maybe_delivered = maybe_delivered
        self.session = session  # connect/TLS/AUTH failed, or never tried: the message never left


class PermanentError(DeliveryError):
    """Do not try again: a 5xx reply to this recipient or this message; the message is the relay's reply."""

    @property
    def enhanced_status(self) -> str | None:
        """The RFC 3463 code at the start of the reply text (`5.1.1`), if the relay gave one."""
        return self.reply_class.status

    @property
    def no_such_user(self) -> bool:
        """5.1.1/5.1.10, or a reply without a telling code that says the user is unknown."""
        return self.reply_class.no_such_user


class SenderUnavailable(Exception):
    """The sender cannot work at all (its setting is wrong); the message names the setting."""


class Sender(Protocol):
    def check(self) -> None:
        """Raise SenderUnavailable if this sender cannot work at all; called before any row is claimed."""

    def send(self, sender: str, recipient: str, data: bytes) -> str:
        """Hand one message over; return the relay's reply (or where it went)."""

    def close(self) -> None: ...


@dataclass
class MemorySender:
    """Keeps messages in a list (tests, dry runs)."""

    sent: list[tuple[str, str, bytes]] = field(default_factory=list)

    def check(self) -> None:
        pass

    def send(self, sender: str, recipient: str, data: bytes) -> str:
        self.sent.append((sender, recipient, data))
        return "250 kept in memory"

    def close(self) -> None:
        pass


class OutboxSender:
    """Writes `<edition>/<address>.eml` files and an index.html that links them."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.written: list[Path] = []

    def _unavailable(self, exc: OSError) -> SenderUnavailable:
        why = "it is a file" if self.folder.is_file() else exc.strerror or str(exc)
        return SenderUnavailable(f"DIGEST_OUTBOX_DIR={self.folder} is not a writable folder ({why}): "
                                 "point it at one, or set DIGEST_SMTP_URL to send by SMTP")

    def check(self) -> None:
        """The folder exists (or can be made) and takes a file."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.folder, prefix=".check-"):
                pass
        except OSError as exc:
            raise self._unavailable(exc) from None

    def send(self, sender: str, recipient: str, data: bytes) -> str:
        try:
            return self._write(recipient, data)
        except OSError as exc:  # the folder went away or filled up: nothing was written for this message
            raise self._unavailable(exc) from None

    def _write(self, recipient: str, data: bytes) -> str:
        msg = message_from_bytes(data, policy=policy.default)
        edition = re.sub(r"[^0-9-]", "", msg.get("X-Digest-Edition", "")) or "messages"
        folder = self.folder / edition
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".tmp-", suffix=".eml", delete=False) as tmp:
            tmp.write(data)
        try:
            path = _claim(folder, outbox_stem(recipient), Path(tmp.name))
        finally:
            Path(tmp.name).unlink(missing_ok=True)
        part = msg.get_body(preferencelist=("html",))
        if part is not None:
            try:
                with path.with_suffix(".html").open("x", encoding="utf-8") as fh:
                    fh.write(part.get_content())
            except FileExistsError:  # never overwrite; the .eml is the message itself
                pass
        self.written.append(path)
        return f"written to {path}"

    def close(self) -> None:
        if self.written:
            try:
                write_outbox_index(self.folder)
            except OSError as exc:
                raise self._unavailable(exc) from None
            self.written = []


def outbox_stem(recipient: str) -> str:
    """A readable file name stem plus a short hash of the exact address: `x_y@example.org-3f2a9c1b`.

    The readable part alone collides (`x/y@` and `x_y@`, or names that differ
    only in case on a case-insensitive disk); the hash does not.
    """
    readable = re.sub(r"[^A-Za-z0-9@._+-]", "_", recipient)[:80].lstrip(".") or "_"
    return f"{readable}-{hashlib.sha256(recipient.encode()).hexdigest()[:10]}"


def _claim(folder: Path, stem: str, tmp: Path) -> Path:
    """Publish `tmp` under the first free `<stem>[-n].eml`, never replacing a file.

    A hard link is atomic and fails if the name exists, so a reader never sees
    half a message and a second message to one address gets a new name.
    """
    for n in range(1, 10_000):
        path = folder / (f"{stem}.eml" if n == 1 else f"{stem}-{n}.eml")
        try:
            os.link(tmp, path)
        except FileExistsError:
            continue
        except OSError:  # a disk without hard links: an exclusive create, not atomic but never overwriting
            try:
                with path.open("xb") as fh:
                    fh.write(tmp.read_bytes())
            except FileExistsError:
                continue
        return path
    raise OSError(f"no free file name for {stem} in {folder}")


def write_outbox_index(folder: Path) -> Path:
    """index.html linking every .eml (and its HTML view), newest edition first."""
    rows = []
    for path in sorted(folder.glob("*/*.eml"), key=lambda p: (p.parent.name, p.name), reverse=True):
        with path.open("rb") as fh:
            head = fh.read(8192).split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        to, subject = _index_headers(head)
        rel = path.relative_to(folder).as_posix()
        view = path.with_suffix(".html")
        rows.append(
            "<tr><td>{e}</td><td>{to}</td><td>{subj}</td><td><a href=\"{rel}\">.eml</a>{view}</td></tr>".format(
                e=html.escape(path.parent.name), to=html.escape(to), subj=html.escape(subject), rel=html.escape(rel),
                view=f' · <a href="{html.escape(view.relative_to(folder).as_posix())}">view</a>' if view.exists() else "",
            )
        )
    index = folder / "index.html"
    index.write_text(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>digest outbox</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 12px;text-align:left}</style></head>"
        f"<body><h1>digest outbox</h1><p>{len(rows)} message(s)</p><table><tr><th>Edition</th><th>To</th>"
        "<th>Subject</th><th>Files</th></tr>" + "".join(rows) + "</table></body></html>",
        encoding="utf-8",
    )
    return index


def _index_headers(head: bytes) -> tuple[str, str]:
    """To and Subject of one outbox file for the index; a header the parser rejects is shown raw."""
    try:
        msg = message_from_bytes(head, policy=policy.default)
        values = [str(msg.get(name, "")) for name in ("To", "Subject")]
    except (ValueError, TypeError, IndexError, LookupError):  # as stored, undecoded: one bad file must not stop the index
        msg = message_from_bytes(head, policy=policy.compat32)
        values = [str(msg.get(name, "")) for name in ("To", "Subject")]
    return " ".join(values[0].split()), " ".join(values[1].split())


class SmtpSender:
    """One reused connection to the relay, recycled after N messages; explicit timeouts; TCP_NODELAY.

    A connection idle for more than `noop_after` seconds is checked with NOOP
    before reuse; between back-to-back messages the previous 250 already
    proved it alive, and a NOOP there would cost a round trip per message.
    """

    def __init__(self, config: SmtpConfig, recycle_after: int | None = None, local_hostname: str | None = None,
                 limiter: RateLimiter | None = None, noop_after: float = 2.0):
        self.config = config
        self.recycle_after = recycle_after or config.recycle_after
        self.local_hostname = local_hostname
        self.limiter = limiter
        self.noop_after = noop_after
        self._conn: smtplib.SMTP | None = None
        self._count = 0
        self._used_at = 0.0

    def check(self) -> None:
        """Nothing to check up front: an unreachable relay is transient and handled per batch."""

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.config.cafile)
        if not self.config.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> smtplib.SMTP:
        """Connect, EHLO, STARTTLS, AUTH. Any failure here is the relay's or ours, never the recipient's."""
        cfg = self.config
        try:
            if cfg.tls == "ssl":
                conn = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=self._tls_context(),
                                        local_hostname=self.local_hostname)
            else:
                conn = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout, local_hostname=self.local_hostname)
            # Nagle + delayed ACK stalls large messages on a reused connection.
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.ehlo()
            if cfg.tls == "starttls":
                conn.starttls(context=self._tls_context())
                conn.ehlo()
            if cfg.username:
                conn.login(cfg.username, cfg.password or "")
        except smtplib.SMTPResponseException as exc:
            raise TransientError(f"relay {cfg.host}:{cfg.port} refused the session: {exc.smtp_code} "
                                 f"{_text(exc.smtp_error)}", exc.smtp_code, session=True) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientError(f"cannot connect to {cfg.host}:{cfg.port}: {exc or type(exc).__name__}",
                                 session=True) from None
        self._count = 0
        return conn

    def _connection(self) -> smtplib.SMTP:
        if self._conn is not None and self._count >= self.recycle_after:
            self.close()
        if self._conn is not None and time.monotonic() - self._used_at > self.noop_after:
            try:
                if self._conn.noop()[0] != 250:
                    self.close()
            except (OSError, smtplib.SMTPException):
                self._drop()
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def send(self, sender: str, recipient: str, data: bytes) -> str:
        """MAIL, RCPT, DATA on the shared connection; return the relay's final reply.

        A reused connection the relay closed while idle is replaced once: nothing was handed over on it.
        """
        if self.limiter is not None:
            self.limiter.acquire()
        reused = self._conn is not None
        try:
            return self._transaction(self._connection(), sender, recipient, data, last=not reused)
        except _ClosedBeforeMail:
            return self._transaction(self._connection(), sender, recipient, data, last=True)

    def _transaction(self, conn: smtplib.SMTP, sender: str, recipient: str, data: bytes, last: bool) -> str:
        """One message on `conn`. The stage a lost connection happens in decides what it means:

        before MAIL FROM's reply, the relay never saw the message (an outage:
        no attempt spent); after the end of DATA, it may have queued it (an
        unknown outcome: `maybe_delivered`, never resent at once); in between,
        an ordinary transient failure.
        """
        stage = "mail"
        try:
            options = [f"SIZE={len(data)}"] if conn.has_extn("size") else []
            code, reply = conn.mail(sender, options)
            stage = "envelope"
            if code != 250:
                # MAIL FROM concerns our sender address, not the recipient: retry later.
                raise self._refused(code, reply, TransientError)
            code, reply = conn.rcpt(recipient)
            if code not in (250, 251):
                raise self._refused(code, reply)
            stage = "data"
            code, reply = conn.docmd("data")
            if code != 354:
                raise self._refused(code, reply)
            conn.send(_dot_stuffed(data))
            stage = "sent"  # the end of DATA is on the wire: from here the relay may accept it
            code, reply = conn.getreply()
            if code != 250:
                raise self._refused(code, reply)
        except UnicodeEncodeError:  # a non-ASCII address: smtplib cannot even say it
            self._reset()
            raise PermanentError(f"address not representable in SMTP: {recipient!r}",
                                 reply_class=ReplyClass(RECIPIENT)) from None
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            if stage == "mail" and not last:
                raise _ClosedBeforeMail() from None
            raise TransientError(f"connection lost: {exc or type(exc).__name__}", session=stage == "mail",
                                 maybe_delivered=stage == "sent") from None
        finally:
            self._used_at = time.monotonic()
        self._count += 1
        return f"{code} {_text(reply)}"

    def _refused(self, code: int, reply, kind: type[DeliveryError] | None = None) -> DeliveryError:
        """The error for a refusal; the connection is reset for the next message, or dropped on 421."""
        if code == 421 or code < 0:
            self._drop()
        else:
            self._reset()
        error = _classify(code, reply)
        return kind(str(error), code) if kind is not None else error

    def _reset(self) -> None:
        try:
            self._conn.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass
        self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._drop()


class RateLimiter(Protocol):
    def acquire(self) -> float:
        """Block until the next message may go; return the seconds waited."""


class LocalRateLimiter:
    """Messages per second within this process (GCRA: each message reserves the next slot)."""

    def __init__(self, rate: float, burst: int = 1, clock=time.monotonic, sleep=time.sleep):
        self.interval = 1.0 / rate
        self.tolerance = self.interval * (burst - 1)
        self.clock, self.sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        with self._lock:
            now = self.clock()
            slot = max(self._next, now)
            self._next = slot + self.interval
        wait = max(0.0, slot - now - self.tolerance)
        if wait:
            self.sleep(wait)
        return wait


# GCRA on Redis: one key holds the next free slot (server clock, ms); every worker
# reserves atomically, so the relay's quota holds across processes and machines.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2])
local slot = math.max(tonumber(redis.call('GET', KEYS[1]) or 0), now)
redis.call('SET', KEYS[1], tostring(slot + interval), 'PX', math.ceil(slot + interval - now) + 1000)
return tostring(math.max(0, slot - now - tolerance))
"""


class RedisRateLimiter:
    """Messages per second over every worker sharing one Redis; local limiting if Redis is unreachable."""

    def __init__(self, url: str, rate: float, burst: int = 1, key: str = "digest:smtp-rate", sleep=time.sleep):
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.script = self.client.register_script(_GCRA)
        self.interval_ms = 1000.0 / rate
        self.tolerance_ms = self.interval_ms * (burst - 1)
        self.key, self.sleep = key, sleep
        self.fallback = LocalRateLimiter(rate, burst, sleep=sleep)

    def acquire(self) -> float:
        try:
            wait = float(self.script(keys=[self.key], args=[self.interval_ms, self.tolerance_ms])) / 1000
        except Exception as exc:  # noqa: BLE001 - a Redis outage must not stop mail; keep this process in quota
            log.warning("rate limiter: Redis unavailable (%s); limiting this process only", exc)
            return self.fallback.acquire()
        if wait:
            self.sleep(wait)
        return wait


def make_limiter(settings) -> RateLimiter | None:
    """DIGEST_SMTP_RATE over Redis (the broker) when it is Redis, else per process; None if unlimited."""
    if not settings.smtp_rate:
        return None
    if settings.broker_url.startswith(("redis://", "rediss://")):
        return RedisRateLimiter(settings.broker_url, settings.smtp_rate)
    return LocalRateLimiter(settings.smtp_rate)


class _ClosedBeforeMail(Exception):
    """A reused connection was gone before MAIL FROM was answered."""


def _dot_stuffed(data: bytes) -> bytes:
    """The message body as DATA sends it: leading dots doubled, ended by CRLF.CRLF (RFC 5321 4.5.2)."""
    body = re.sub(rb"(?m)^\.", b"..", data)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"


def _text(reply) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _classify(code: int, reply) -> DeliveryError:
    message = f"{code} {_text(reply)}".strip()
    if 500 <= code < 600:
        return PermanentError(message, code)
    return TransientError(message, code)


def make_sender(settings) -> Sender:
    """SMTP when DIGEST_SMTP_URL is set, else the outbox folder."""
    if settings.smtp is not None:
        return SmtpSender(settings.smtp, limiter=make_limiter(settings))
    return OutboxSender(settings.outbox_dir)
