"""`digest inbound --imap URL`: read a mailbox, hand its messages to the handler, move them away once committed.

`imap://user:pass@host:143/INBOX?tls=starttls&done=digest-done&refused=digest-refused`
(`imaps://` for implicit TLS, port 993). Each pass takes the messages left in
the mailbox in batches of at most BATCH messages (and BATCH_BYTES bytes): one
FETCH of their sizes, one of their bytes, one database transaction for the
batch (`handler.handle_many`), then, after the commit, the batch is flagged
\\Seen and moved to `done` (or `refused`, where a message we did not read
stays whole for the operator) in one command per folder. A crash between the
commit and the move costs nothing: the next pass finds the Message-IDs
recorded and only moves them. A message over the size cap is never
downloaded: its headers are recorded as refused and it is moved to `refused`.
A message the database did not take (it is away) stays where it is for the
next pass, and the pass stops there.
"""

from __future__ import annotations

import imaplib
import logging
import re
import ssl
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from digest.inbound.handler import Arrived, handle_many

log = logging.getLogger("digest.inbound")
BATCH = 100  # messages in one database transaction
BATCH_BYTES = 32 * 1024 * 1024  # bytes fetched for one transaction (a message over it goes alone)


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
        uids = [uid.decode() for uid in _ok(conn.uid("SEARCH", None, "UNDELETED"), "SEARCH")[0].split()]
        for start in range(0, len(uids), BATCH):
            for batch in _by_bytes(_sizes(conn, uids[start:start + BATCH]), settings.inbound_max_bytes):
                _batch(settings, factory, source, conn, batch, counts)
        if uids:
            conn.expunge()
    finally:
        if own:
            _logout(conn)
    return counts


def _sizes(conn: imaplib.IMAP4, uids: list[str]) -> dict[str, int]:
    sizes = {}
    for line in _ok(conn.uid("FETCH", ",".join(uids), "(RFC822.SIZE)"), "FETCH"):
        head = line[0] if isinstance(line, tuple) else line
        uid, size = re.search(rb"\bUID (\d+)", head or b""), re.search(rb"RFC822\.SIZE (\d+)", head or b"")
        if uid and size:
            sizes[uid[1].decode()] = int(size[1])
    return {uid: sizes[uid] for uid in uids if uid in sizes}  # one expunged meanwhile is left out


def _by_bytes(sizes: dict[str, int], cap: int) -> list[dict[str, int]]:
    """Batches whose bytes to fetch (a message over the cap: its header only) stay under BATCH_BYTES."""
    batches, total = [{}], 0
    for uid, size in sizes.items():
        cost = size if size <= cap else 64 * 1024
        if batches[-1] and total + cost > BATCH_BYTES:
            batches.append({})
            total = 0
        batches[-1][uid] = size
        total += cost
    return [b for b in batches if b]


def _batch(settings, factory, source: ImapSource, conn: imaplib.IMAP4, sizes: dict[str, int],
           counts: dict[str, int]) -> None:
    """Fetch, handle in one transaction, then move what was committed; the first error is raised after the move."""
    raws = {**_fetch(conn, [u for u, n in sizes.items() if n <= settings.inbound_max_bytes], "BODY.PEEK[]"),
            **_fetch(conn, [u for u, n in sizes.items() if n > settings.inbound_max_bytes], "BODY.PEEK[HEADER]")}
    uids = [uid for uid in sizes if uid in raws]
    results = handle_many(settings, factory, [Arrived(raws[uid], "", sizes[uid]) for uid in uids], "imap")
    folders: dict[str, list[str]] = {source.done: [], source.refused: []}
    error = None
    for uid, done in zip(uids, results):
        if isinstance(done, Exception):
            error = error or done
            continue
        folders[source.refused if done.kind == "refused" else source.done].append(uid)
        counts[done.kind] = counts.get(done.kind, 0) + 1
    for folder, moved in folders.items():
        if moved:
            _move(conn, moved, folder)
    if error is not None:
        raise error


def _fetch(conn: imaplib.IMAP4, uids: list[str], part: str) -> dict[str, bytes]:
    """uid -> the bytes of `part`, in one FETCH."""
    if not uids:
        return {}
    data = _ok(conn.uid("FETCH", ",".join(uids), f"({part})"), "FETCH")
    found = {}
    for i, item in enumerate(data):
        if isinstance(item, tuple):
            tail = data[i + 1] if i + 1 < len(data) and isinstance(data[i + 1], bytes) else b""
            uid = re.search(rb"\bUID (\d+)", item[0]) or re.search(rb"\bUID (\d+)", tail)
            if uid:
                found[uid[1].decode()] = item[1]
    return found


def _move(conn: imaplib.IMAP4, uids: list[str], folder: str) -> None:
    uid_set = ",".join(uids)
    _ok(conn.uid("STORE", uid_set, "+FLAGS", "(\\Seen)"), "STORE")
    if b"MOVE" in _capabilities(conn):
        _ok(conn.uid("MOVE", uid_set, _quoted(folder)), "MOVE")
    else:
        _ok(conn.uid("COPY", uid_set, _quoted(folder)), "COPY")
        _ok(conn.uid("STORE", uid_set, "+FLAGS", "(\\Deleted)"), "STORE")


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
