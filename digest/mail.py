"""Senders behind one small interface: SMTP relay, outbox folder, memory (tests).

A sender takes finished message bytes. It raises `TransientError` when trying
again later may work (4xx, dropped connection, timeout) and `PermanentError`
when it will not (5xx), carrying the relay's reply.
"""

from __future__ import annotations

import html
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Protocol

from digest.config import SmtpConfig


class DeliveryError(Exception):
    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class TransientError(DeliveryError):
    """Try again later."""


class PermanentError(DeliveryError):
    """Do not try again; `code`/message is the relay's reply."""

    @property
    def no_such_user(self) -> bool:
        return bool(re.search(r"\b5\.1\.[0-9]\b", str(self))) or self.code in (550, 551, 553) and "user" in str(self).lower()


class Sender(Protocol):
    def send(self, sender: str, recipient: str, data: bytes) -> str:
        """Hand one message over; return the relay's reply (or where it went)."""

    def close(self) -> None: ...


@dataclass
class MemorySender:
    """Keeps messages in a list (tests, dry runs)."""

    sent: list[tuple[str, str, bytes]] = field(default_factory=list)

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

    def send(self, sender: str, recipient: str, data: bytes) -> str:
        msg = message_from_bytes(data, policy=policy.default)
        edition = re.sub(r"[^0-9-]", "", msg.get("X-Digest-Edition", "")) or "messages"
        folder = self.folder / edition
        folder.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9@._+-]", "_", recipient)
        path = folder / f"{stem}.eml"
        tmp = path.with_suffix(".eml.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic: a reader never sees half a message
        part = msg.get_body(preferencelist=("html",))
        if part is not None:
            path.with_suffix(".html").write_text(part.get_content(), encoding="utf-8")
        self.written.append(path)
        return f"written to {path}"

    def close(self) -> None:
        if self.written:
            write_outbox_index(self.folder)


def write_outbox_index(folder: Path) -> Path:
    """index.html linking every .eml (and its HTML view), newest edition first."""
    rows = []
    for path in sorted(folder.glob("*/*.eml"), key=lambda p: (p.parent.name, p.name), reverse=True):
        with path.open("rb") as fh:
            head = fh.read(8192).split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        msg = message_from_bytes(head, policy=policy.default)
        rel = path.relative_to(folder).as_posix()
        view = path.with_suffix(".html")
        rows.append(
            "<tr><td>{e}</td><td>{to}</td><td>{subj}</td><td><a href=\"{rel}\">.eml</a>{view}</td></tr>".format(
                e=html.escape(path.parent.name), to=html.escape(str(msg.get("To", ""))),
                subj=html.escape(str(msg.get("Subject", ""))), rel=html.escape(rel),
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


class SmtpSender:
    """One reused connection to the relay; checked with NOOP before reuse, recycled after N messages."""

    def __init__(self, config: SmtpConfig, recycle_after: int = 100, local_hostname: str | None = None):
        self.config = config
        self.recycle_after = recycle_after
        self.local_hostname = local_hostname
        self._conn: smtplib.SMTP | None = None
        self._count = 0
        self._fresh = False

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        context = ssl.create_default_context()
        try:
            if cfg.tls == "ssl":
                conn = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=context,
                                        local_hostname=self.local_hostname)
            else:
                conn = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout, local_hostname=self.local_hostname)
            # Nagle + delayed ACK stalls large messages on a reused connection.
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.ehlo()
            if cfg.tls == "starttls":
                conn.starttls(context=context)
                conn.ehlo()
            if cfg.username:
                conn.login(cfg.username, cfg.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentError(f"SMTP authentication failed: {exc.smtp_code} {_text(exc.smtp_error)}", exc.smtp_code) from None
        except smtplib.SMTPResponseException as exc:
            raise _classify(exc.smtp_code, exc.smtp_error) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientError(f"cannot connect to {cfg.host}:{cfg.port}: {exc}") from None
        self._count = 0
        return conn

    def _connection(self) -> smtplib.SMTP:
        if self._conn is not None and self._count >= self.recycle_after:
            self.close()
        if self._conn is not None and not self._fresh:
            try:
                if self._conn.noop()[0] != 250:
                    self.close()
            except (OSError, smtplib.SMTPException):
                self._drop()
        if self._conn is None:
            self._conn = self._connect()
            self._fresh = True
        return self._conn

    def send(self, sender: str, recipient: str, data: bytes) -> str:
        conn = self._connection()
        try:
            refused = conn.sendmail(sender, [recipient], data)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = exc.recipients.get(recipient, (550, b"refused"))
            self._fresh = False
            raise _classify(code, reply) from None
        except smtplib.SMTPResponseException as exc:
            self._fresh = False
            if exc.smtp_code in (421,) or exc.smtp_code < 0:
                self._drop()
            else:
                self._reset()
            raise _classify(exc.smtp_code, exc.smtp_error) from None
        except (OSError, smtplib.SMTPServerDisconnected, smtplib.SMTPException) as exc:
            self._drop()
            raise TransientError(f"connection lost: {exc or type(exc).__name__}") from None
        self._count += 1
        self._fresh = False
        if refused:
            code, reply = refused[recipient]
            raise _classify(code, reply)
        return "250 accepted"

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
        return SmtpSender(settings.smtp)
    return OutboxSender(settings.outbox_dir)
