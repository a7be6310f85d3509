"""HTTP for sources: timeouts, a size cap, conditional GET, retries with backoff."""

from __future__ import annotations

import email.utils
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from digest import __version__

USER_AGENT = f"digest/{__version__} (self-hosted research paper digest)"
MAX_BYTES = 20 * 1024 * 1024
RETRY_STATUSES = {429, 500, 502, 503, 504}


class FetchError(Exception):
    """The URL could not be fetched; the message is one line for the user."""


@dataclass
class FetchResult:
    status: int  # 200 or 304
    body: bytes
    etag: str | None = None
    last_modified: str | None = None
    url: str = ""

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def _retry_after(value: str | None, default: float) -> float:
    if not value:
        return default
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return default


def fetch(url: str, *, etag: str | None = None, last_modified: str | None = None,
          connect_timeout: float = 10.0, read_timeout: float = 30.0, max_bytes: int = MAX_BYTES,
          retries: int = 3, backoff: float = 1.0, max_wait: float = 60.0, sleep=time.sleep) -> FetchResult:
    """GET `url`; a 304 returns an empty body. Raises FetchError with a one-line reason."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    attempt = 0
    while True:
        attempt += 1
        request = urllib.request.Request(url, headers=headers)
        try:
            # urllib has one timeout for connect and each read; use the larger.
            with urllib.request.urlopen(request, timeout=max(connect_timeout, read_timeout)) as response:
                length = response.headers.get("Content-Length")
                if length and length.isdigit() and int(length) > max_bytes:
                    raise FetchError(f"{url}: body of {int(length):,} bytes exceeds the {max_bytes:,}-byte limit")
                body = response.read(max_bytes + 1)
                if len(body) > max_bytes:
                    raise FetchError(f"{url}: body exceeds the {max_bytes:,}-byte limit")
                return FetchResult(200, body, response.headers.get("ETag"),
                                   response.headers.get("Last-Modified"), response.geturl())
        except urllib.error.HTTPError as exc:
            if exc.code == 304:
                return FetchResult(304, b"", etag, last_modified, url)
            if exc.code in RETRY_STATUSES and attempt <= retries:
                wait = _retry_after(exc.headers.get("Retry-After"), backoff * 2 ** (attempt - 1))
                sleep(min(max_wait, wait) + random.uniform(0, backoff / 4))
                continue
            raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            if attempt <= retries and not isinstance(exc.reason, (ValueError,)):
                sleep(backoff * 2 ** (attempt - 1))
                continue
            raise FetchError(f"{url}: {exc.reason}") from None
        except (TimeoutError, OSError) as exc:
            if attempt <= retries:
                sleep(backoff * 2 ** (attempt - 1))
                continue
            raise FetchError(f"{url}: {exc}") from None
