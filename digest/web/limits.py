"""What keeps the web app from being flooded: sign-up rate limits shared through Redis, and the body size cap."""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import time

from flask import abort, request

log = logging.getLogger("digest.web")

# Per client IP, every POST to the form counts; per address, only accepted
# sign-ups do, and past the limit the page looks the same but no mail goes out
# (nobody can use the form to flood someone's inbox).
RATE_LIMITS = {"ip": (10, 3600), "address": (3, 3600)}
MAX_FORM_BYTES = 64 * 1024


class LimiterUnavailable(Exception):
    """The shared counters cannot be reached; sign-ups wait rather than run unlimited."""


class RateLimiter:
    """Fixed-window counters in Redis, shared by every gunicorn worker.

    Counters kept per process would multiply the limit by the number of
    workers, so while Redis is unreachable `allow` raises LimiterUnavailable
    and the form answers 503. Only `local=True` (`digest serve`, one process)
    counts in memory when no Redis is configured.
    """

    def __init__(self, url: str, secret: str, prefix: str = "digest:ratelimit", local: bool = False):
        import redis

        self._errors = (redis.RedisError, OSError)
        self.redis = (redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
                      if url.startswith(("redis://", "rediss://")) else None)
        self.secret = secret.encode()
        self.prefix = prefix
        self.local = local
        self.memory: dict[str, int] = {}

    def allow(self, kind: str, value: str, limit: int, window: int) -> bool:
        """Count one hit for `value`; False once it is over `limit` in this window."""
        # Keys hold a keyed hash, never the address or IP itself.
        digest = hmac.new(self.secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]
        key = f"{self.prefix}:{kind}:{digest}:{int(time.time() // window)}"
        if self.redis is None:
            if not self.local:
                raise LimiterUnavailable("DIGEST_BROKER_URL is not a redis:// URL")
            if len(self.memory) > 10000:
                self.memory.clear()
            count = self.memory[key] = self.memory.get(key, 0) + 1
            return count <= limit
        try:
            pipe = self.redis.pipeline()
            pipe.incr(key)
            pipe.expire(key, window + 1)
            count = pipe.execute()[0]
        except self._errors as exc:
            log.warning("sign-ups paused: the rate limit's Redis (DIGEST_BROKER_URL) is unreachable: %s", exc)
            raise LimiterUnavailable(str(exc)) from None
        return count <= limit


def cap_streamed_body() -> None:
    """Hold a body sent without Content-Length (chunked) to MAX_FORM_BYTES like one with it, or answer 413.

    Werkzeug checks MAX_CONTENT_LENGTH against Content-Length, but a chunked
    body it reads for the form may be cut short silently instead; so it is read
    here, at most one byte past the cap, and handed on with its length.
    """
    environ = request.environ
    if request.content_length is not None or not environ.get("wsgi.input_terminated"):
        return  # a declared length is checked by werkzeug; without one and unterminated, werkzeug reads nothing
    data = environ["wsgi.input"].read(MAX_FORM_BYTES + 1)
    if len(data) > MAX_FORM_BYTES:
        abort(413)
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    environ.update({"wsgi.input": io.BytesIO(data), "CONTENT_LENGTH": str(len(data))})
