"""The scheduler's last tick and the Celery queue's depth, kept in (and read from) the broker's Redis.

The tick writes one small key when it ends (its start, duration and digests
queued): a SET per tick, no table and no migration. Readers give up after a
second and report nothing rather than wait for an unreachable Redis.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from functools import lru_cache

log = logging.getLogger("digest.dashboard")

TICK_KEY = "digest:tick:last:{queue}"
# Kombu's Redis transport keeps a queue in one list per priority step (none given: the first).
_PRIORITY_SEPARATOR, _PRIORITY_STEPS = "\x06\x16", (3, 6, 9)


@dataclass(frozen=True)
class Tick:
    started_at: dt.datetime
    seconds: float
    queued: int


@lru_cache(maxsize=4)  # one connection pool per broker URL, shared by every request
def _client(url: str):
    import redis

    if not url.startswith(("redis://", "rediss://")):
        return None
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)


def record_tick(client, queue: str, started_at: dt.datetime, seconds: float, queued: int) -> None:
    """Keep the tick that just ended (never raises: a lost figure must not fail the tick)."""
    value = json.dumps({"started_at": started_at.isoformat(), "seconds": round(seconds, 6), "queued": queued})
    try:
        client.set(TICK_KEY.format(queue=queue), value)
    except Exception as exc:  # noqa: BLE001 - redis errors and OSError alike; the tick itself went through
        log.warning("could not record the tick's duration: %s", exc)


def get_last_tick(url: str, queue: str) -> Tick | None:
    """The last tick that ended, or None (no tick yet, no Redis broker, Redis unreachable)."""
    try:
        client = _client(url)
        raw = client.get(TICK_KEY.format(queue=queue)) if client is not None else None
    except Exception as exc:  # noqa: BLE001
        log.warning("last tick unknown: %s", exc)
        return None
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return Tick(dt.datetime.fromisoformat(data["started_at"]), float(data["seconds"]), int(data["queued"]))
    except (ValueError, KeyError, TypeError):
        return None


def get_queue_depth(url: str, queue: str) -> int | None:
    """Messages waiting in the Celery queue (Redis list lengths), or None without a reachable Redis broker."""
    try:
        client = _client(url)
        if client is None:
            return None
        pipe = client.pipeline()
        for name in (queue, *(f"{queue}{_PRIORITY_SEPARATOR}{step}" for step in _PRIORITY_STEPS)):
            pipe.llen(name)
        return sum(pipe.execute())
    except Exception as exc:  # noqa: BLE001
        log.warning("queue depth unknown: %s", exc)
        return None
