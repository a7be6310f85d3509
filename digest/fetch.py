"""HTTP for sources: a total deadline, a size cap, redirects, conditional GET, retries with backoff.

One GET per source per run. A 304 (the stored ETag / Last-Modified still
hold) costs that one request and nothing else. 429 and 5xx are retried with
exponential backoff, honouring Retry-After up to `max_wait`; other statuses
and network failures are a `FetchError` whose message is one line.

Each attempt has a total deadline over connect, headers and body: a watchdog
shuts the socket down when it passes, so a server that trickles one byte at a
time cannot hold ingest (and with it the day's planning) past the deadline.
Redirects are followed by hand, at most five, to http(s) URLs only.
"""

from __future__ import annotations

import email.utils
import os
import random
import socket
import stat
import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from digest import __version__
from digest.wording import plural

USER_AGENT = f"digest/{__version__} (self-hosted research paper digest)"
MAX_BYTES = 20 * 1024 * 1024
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_watched = threading.local()  # the sockets the current thread's attempt opened, for its watchdog


class _Watched:
    """Registers each socket it connects, so the attempt's watchdog can shut it down at the deadline."""

    def connect(self):
        super().connect()
        sockets = getattr(_watched, "sockets", None)
        if sockets is not None:
            sockets.append(self.sock)


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


def _new_pool() -> urllib3.PoolManager:
    manager = urllib3.PoolManager(num_pools=2, retries=False)
    manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
    return manager


class FetchError(Exception):
    """The URL could not be fetched; the message is one line for the user."""


class _Retryable(FetchError):
    def __init__(self, message: str, wait: float | None = None):
        super().__init__(message)
        self.wait = wait


@dataclass
class FetchResult:
    """A 200 with its body and validators, or a 304 with an empty body."""

    status: int  # 200 or 304
    body: bytes
    etag: str | None = None
    last_modified: str | None = None
    url: str = ""  # the final URL, after redirects
    attempts: int = 1

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def fetch(url: str, *, etag: str | None = None, last_modified: str | None = None,
          connect_timeout: float = 10.0, read_timeout: float = 30.0, deadline: float = 120.0,
          max_bytes: int = MAX_BYTES, retries: int = 3, backoff: float = 1.0, max_wait: float = 60.0,
          sleep=time.sleep) -> FetchResult:
    """GET `url` (conditionally when validators are given) within `deadline` seconds in all; a 304 has no body."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    ends = time.monotonic() + deadline  # for the whole fetch, retries and their waits included
    attempt = 0
    while True:
        attempt += 1
        try:
            result = _get_once(url, headers, urllib3.Timeout(connect=connect_timeout, read=read_timeout),
                               max_bytes, ends)
        except _Retryable as exc:
            wait = exc.wait if exc.wait is not None else backoff * 2 ** (attempt - 1) + random.uniform(0, backoff / 4)
            wait = min(max_wait, wait)
            if attempt > retries or time.monotonic() + wait >= ends:
                raise FetchError(f"{exc} (gave up after {plural(attempt, 'attempt')})") from None
            sleep(wait)
            continue
        if result.not_modified:
            result.etag, result.last_modified = result.etag or etag, result.last_modified or last_modified
        result.attempts = attempt
        return result


def _get_once(url: str, headers: dict, timeout, max_bytes: int, deadline: float) -> FetchResult:
    """One attempt, redirects included, that ends by `deadline` whatever the server does."""
    sockets: list[socket.socket] = []
    _watched.sockets = sockets
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        for sock in list(sockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), expire)
    watchdog.daemon = True
    watchdog.start()
    manager = _new_pool()
    try:
        result = _follow(manager, url, headers, timeout, max_bytes, deadline)
    except FetchError:
        if expired.is_set():
            raise _Retryable(f"{url}: no complete answer within the deadline") from None
        raise
    else:
        if expired.is_set():  # a shut-down socket can read as a short, complete-looking answer
            raise _Retryable(f"{url}: no complete answer within the deadline")
        return result
    finally:
        watchdog.cancel()
        _watched.sockets = None
        manager.clear()


def _follow(manager, url: str, headers: dict, timeout, max_bytes: int, deadline: float) -> FetchResult:
    """GET, following up to MAX_REDIRECTS redirects to http(s) URLs; the result names the final URL."""
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        response = _request(manager, current, headers, timeout)
        try:
            if response.status not in REDIRECT_STATUSES:
                return _answer(response, current, max_bytes, deadline)
            location = response.headers.get("Location", "").strip()
        finally:
            response.release_conn()
        if not location:
            raise FetchError(f"{current}: HTTP {response.status} without a Location")
        target = urljoin(current, location)
        if urlsplit(target).scheme not in ("http", "https"):
            raise FetchError(f"{current}: redirect to a non-HTTP URL refused ({target[:100]})")
        current = target
    raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects")


def _request(manager, url: str, headers: dict, timeout):
    try:
        return manager.request("GET", url, headers=headers, timeout=timeout, redirect=False,
                               preload_content=False, retries=False)
    except urllib3.exceptions.LocationValueError:
        raise FetchError(f"{url}: not a valid URL") from None
    except urllib3.exceptions.HTTPError as exc:
        reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
        if isinstance(reason, urllib3.exceptions.NewConnectionError) and "timed out" not in str(reason):
            # refused, or no such host: waiting will not help this run; say so now
            raise FetchError(f"{url}: {_reason(reason)}") from None
        raise _Retryable(f"{url}: {_reason(reason)}") from None


def _answer(response, url: str, max_bytes: int, deadline: float) -> FetchResult:
    if response.status == 304:
        return FetchResult(304, b"", response.headers.get("ETag"), response.headers.get("Last-Modified"), url)
    if response.status in RETRY_STATUSES:
        raise _Retryable(f"{url}: HTTP {response.status} {response.reason or ''}".rstrip(),
                         retry_after_seconds(response.headers.get("Retry-After")))
    if response.status != 200:
        raise FetchError(f"{url}: HTTP {response.status} {response.reason or ''}".rstrip())
    body = _read_capped(response, url, max_bytes, deadline)
    return FetchResult(200, body, response.headers.get("ETag"), response.headers.get("Last-Modified"), url)


def _read_capped(response, url: str, max_bytes: int, deadline: float) -> bytes:
    """The (decoded) body, refusing more than max_bytes: a gzip bomb counts by what it expands to."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > max_bytes and not response.headers.get("Content-Encoding"):
        raise FetchError(f"{url}: body of {int(length):,} bytes exceeds the {max_bytes:,}-byte limit")
    chunks, size = [], 0
    try:
        while chunk := response.read1(_CHUNK, decode_content=True):  # returns what has arrived, not a full chunk
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(f"{url}: body exceeds the {max_bytes:,}-byte limit")
            if time.monotonic() > deadline:
                raise _Retryable(f"{url}: download took too long")
            chunks.append(chunk)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise _Retryable(f"{url}: {_reason(exc)}") from None
    return b"".join(chunks)


def read_file(path: str, max_bytes: int = MAX_BYTES, *, head: bool = False) -> bytes:
    """A local file's bytes under the same cap as an HTTP body (`head`: its first `max_bytes`, never refused).

    Only regular files: a FIFO would block ingest until someone writes to it, /dev/zero never ends, a
    directory has no bytes. At most max_bytes + 1 bytes are read, so memory stays bounded whatever the size.
    """
    try:
        # O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise FetchError(f"{path}: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    refusal = (f"{path}: is a directory, not a feed file" if stat.S_ISDIR(info.st_mode)
               else f"{path}: not a regular file (a device, FIFO or socket); save the feed to a file"
               if not stat.S_ISREG(info.st_mode)
               else f"{path}: file of {info.st_size:,} bytes exceeds the {max_bytes:,}-byte limit"
               if not head and info.st_size > max_bytes else None)
    if refusal:
        os.close(fd)
        raise FetchError(refusal)
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise FetchError(f"{path}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        if head:
            return data[:max_bytes]
        raise FetchError(f"{path}: file exceeds the {max_bytes:,}-byte limit")  # it grew while we read it
    return data


def _reason(exc) -> str:
    """One line out of urllib3's nested exception text (NewConnectionError subclasses ConnectTimeoutError)."""
    errors = urllib3.exceptions
    if isinstance(exc, errors.NameResolutionError):
        return "host not found"
    if isinstance(exc, errors.ConnectTimeoutError) and "timed out" in str(exc):
        return "connection timed out"
    if isinstance(exc, errors.NewConnectionError):
        return "connection refused" if "refused" in str(exc).lower() else "could not connect"
    if isinstance(exc, errors.ReadTimeoutError):
        return "timed out"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
