"""HTTP for sources: connect and read timeouts, a size cap, conditional GET, retries with backoff.

One GET per source per run. A 304 (the stored ETag / Last-Modified still
hold) costs that one request and nothing else. 429 and 5xx are retried with
exponential backoff, honouring Retry-After up to `max_wait`; other statuses
and network failures are a `FetchError` whose message is one line.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

import urllib3

from digest import __version__

USER_AGENT = f"digest/{__version__} (self-hosted research paper digest)"
MAX_BYTES = 20 * 1024 * 1024
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_CHUNK = 64 * 1024
_POOL = urllib3.PoolManager(num_pools=8, retries=False)


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
    url: str = ""
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
    """GET `url` (conditionally when validators are given); a 304 returns an empty body."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    attempt = 0
    while True:
        attempt += 1
        try:
            result = _get_once(url, headers, urllib3.Timeout(connect=connect_timeout, read=read_timeout),
                               max_bytes, time.monotonic() + deadline)
        except _Retryable as exc:
            if attempt > retries:
                raise FetchError(f"{exc} (gave up after {attempt} attempts)") from None
            wait = exc.wait if exc.wait is not None else backoff * 2 ** (attempt - 1) + random.uniform(0, backoff / 4)
            sleep(min(max_wait, wait))
            continue
        if result.not_modified:
            result.etag, result.last_modified = result.etag or etag, result.last_modified or last_modified
        result.attempts = attempt
        return result


def _get_once(url: str, headers: dict, timeout, max_bytes: int, deadline: float) -> FetchResult:
    try:
        response = _POOL.request("GET", url, headers=headers, timeout=timeout, redirect=True,
                                 preload_content=False, retries=urllib3.Retry(total=False, redirect=5))
    except urllib3.exceptions.LocationValueError:
        raise FetchError(f"{url}: not a valid URL") from None
    except urllib3.exceptions.HTTPError as exc:
        reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
        if isinstance(reason, urllib3.exceptions.NewConnectionError) and "timed out" not in str(reason):
            # refused, or no such host: waiting will not help this run; say so now
            raise FetchError(f"{url}: {_reason(reason)}") from None
        raise _Retryable(f"{url}: {_reason(reason)}") from None
    try:
        if response.status == 304:
            return FetchResult(304, b"", response.headers.get("ETag"), response.headers.get("Last-Modified"), url)
        if response.status in RETRY_STATUSES:
            raise _Retryable(f"{url}: HTTP {response.status} {response.reason or ''}".rstrip(),
                             retry_after_seconds(response.headers.get("Retry-After")))
        if response.status != 200:
            raise FetchError(f"{url}: HTTP {response.status} {response.reason or ''}".rstrip())
        body = _read_capped(response, url, max_bytes, deadline)
        return FetchResult(200, body, response.headers.get("ETag"), response.headers.get("Last-Modified"),
                           response.geturl() or url)
    finally:
        response.release_conn()


def _read_capped(response, url: str, max_bytes: int, deadline: float) -> bytes:
    """The (decoded) body, refusing more than max_bytes: a gzip bomb counts by what it expands to."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > max_bytes and not response.headers.get("Content-Encoding"):
        raise FetchError(f"{url}: body of {int(length):,} bytes exceeds the {max_bytes:,}-byte limit")
    chunks, size = [], 0
    try:
        for chunk in response.stream(_CHUNK, decode_content=True):
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(f"{url}: body exceeds the {max_bytes:,}-byte limit")
            if time.monotonic() > deadline:
                raise _Retryable(f"{url}: download took too long")
            chunks.append(chunk)
    except urllib3.exceptions.HTTPError as exc:
        raise _Retryable(f"{url}: {_reason(exc)}") from None
    return b"".join(chunks)


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
