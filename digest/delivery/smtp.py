"""The SMTP sender (one reused connection to the relay) and the rate limiters that pace it."""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import ssl
import threading
import time
from typing import Protocol

from digest.config import SmtpConfig
from digest.delivery.errors import DeliveryError, PermanentError, TransientError
from digest.email.replies import RECIPIENT, ReplyClass

log = logging.getLogger("digest.delivery.senders")


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
