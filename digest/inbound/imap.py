"""`digest inbound --imap URL`: read a mailbox, hand each message to the handler, move it away once committed.

`imap://user:pass@host:143/INBOX?tls=starttls&done=digest-done&refused=digest-refused`
(`imaps://` for implicit TLS, port 993). Each pass takes the messages left in
the mailbox, one at a time: the handler commits, then the message is flagged
\\Seen and moved to `done` (or `refused`, where a message we did not read stays
whole for the operator). A crash between the commit and the move costs
nothing: the next pass finds the Message-ID recorded and only moves it. A
message over the size cap is never downloaded: its headers are recorded as
refused and it is moved to `refused`. A database error leaves the message
where it is for the next pass.
"""

from __future__ import annotations

import imaplib
import logging
import re
import ssl
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from digest.inbound.handler import handle

log = logging.getLogger("digest.inbound")


@dataclass(frozen=True)
class ImapSource:
    host: str
    port: int
    tls: str  # ssl | starttls | none
    user: str
    password: str
    mailbox: str = "INBOX"
    done: str = "digest-done"
    refused: str = "digest-refused"

    def __repr__(self) -> str:  # never print the password
        return f"ImapSource({self.user}@{self.host}:{self.port}/{self.mailbox})"


def parse_imap_url(url: str) -> ImapSource:
    """The mailbox a URL names; ValueError with a one-line reason."""
    parts = urlsplit(url)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname or not parts.username:
        raise ValueError("--imap: expected imap[s]://user:password@host[:port]/MAILBOX[?tls=starttls|none]")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    tls = "ssl" if parts.scheme == "imaps" else query.get("tls", "starttls").lower()
    if tls not in ("ssl", "starttls", "none"):
        raise ValueError(f"--imap: tls must be starttls or none, got {tls!r}")
    try:
        port = parts.port or (993 if tls == "ssl" else 143)
    except ValueError:
        raise ValueError("--imap: the port is not a number") from None
    return ImapSource(parts.hostname, port, tls, unquote(parts.username), unquote(parts.password or ""),
                      unquote(parts.path.lstrip("/")) or "INBOX", query.get("done", "digest-done"),
                      query.get("refused", "digest-refused"))


def connect(source: ImapSource, timeout: float = 30) -> imaplib.IMAP4:
    context = ssl.create_default_context()
    if source.tls == "ssl":
        conn = imaplib.IMAP4_SSL(source.host, source.port, ssl_context=context, timeout=timeout)
    else:
        conn = imaplib.IMAP4(source.host, source.port, timeout=timeout)
        if source.tls == "starttls":
            conn.starttls(context)
    conn.login(source.user, source.password)
    for folder in (source.done, source.refused):
        conn.create(_quoted(folder))  # NO when it exists already: fine
    return conn


def poll_once(settings, factory, source: ImapSource, conn: imaplib.IMAP4 | None = None) -> dict[str, int]:
    """One pass over the mailbox; counts by kind. Raises on an IMAP or database error (the message stays)."""
    own = conn is None
    conn = conn or connect(source)
    counts: dict[str, int] = {}
    try:
        _ok(conn.select(_quoted(source.mailbox)), "SELECT")
        uids = _ok(conn.uid("SEARCH", None, "UNDELETED"), "SEARCH")[0].split()
        for uid in uids:
            kind = _one(settings, factory, source, conn, uid.decode())
            counts[kind] = counts.get(kind, 0) + 1
        if uids:
            conn.expunge()
    finally:
        if own:
            _logout(conn)
    return counts


def _one(settings, factory, source: ImapSource, conn: imaplib.IMAP4, uid: str) -> str:
    data = _ok(conn.uid("FETCH", uid, "(RFC822.SIZE)"), "FETCH")
    size = int(re.search(rb"RFC822\.SIZE (\d+)", data[0] if isinstance(data[0], bytes) else data[0][0])[1])
    part = "BODY.PEEK[]" if size <= settings.inbound_max_bytes else "BODY.PEEK[HEADER]"
    fetched = _ok(conn.uid("FETCH", uid, f"({part})"), "FETCH")
    raw = next(item[1] for item in fetched if isinstance(item, tuple))
    done = handle(settings, factory, raw, "", "imap", size=size)
    folder = source.refused if done.kind == "refused" else source.done
    _ok(conn.uid("STORE", uid, "+FLAGS", "(\\Seen)"), "STORE")
    if b"MOVE" in _capabilities(conn):
        _ok(conn.uid("MOVE", uid, _quoted(folder)), "MOVE")
    else:
        _ok(conn.uid("COPY", uid, _quoted(folder)), "COPY")
        _ok(conn.uid("STORE", uid, "+FLAGS", "(\\Deleted)"), "STORE")
    return done.kind


def poll(settings, factory, source: ImapSource, interval: float, stop=lambda: False) -> None:
    """Pass after pass every `interval` seconds; an error is one log line and the next pass tries again."""
    while not stop():
        try:
            counts = poll_once(settings, factory, source)
            if counts:
                log.info("inbound imap: %s", ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
        except Exception as exc:  # noqa: BLE001 - the server or the database is away: wait and try again
            log.error("inbound imap: pass failed, trying again in %ss: %s", interval,
                      (str(exc).splitlines() or [type(exc).__name__])[0][:200])
        deadline = time.monotonic() + interval
        while time.monotonic() < deadline and not stop():
            time.sleep(0.2)


def _capabilities(conn: imaplib.IMAP4) -> bytes:
    return b" ".join(c.encode() if isinstance(c, str) else c for c in conn.capabilities).upper()


def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ok(response, what: str):
    status, data = response
    if status != "OK":
        raise imaplib.IMAP4.error(f"{what} failed: {data!r}"[:200])
    return data


def _logout(conn: imaplib.IMAP4) -> None:
    try:
        conn.logout()
    except (OSError, imaplib.IMAP4.error):
        pass
