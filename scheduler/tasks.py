"""Thin task wrappers: ids and ISO dates in, digest/ functions do the work."""

from __future__ import annotations

import logging
import signal
import threading
import time

import redis
from celery import shared_task

from digest.config import load_settings
from digest.dashboard.ticks import record_tick
from digest.db import utcnow
from digest import jobs

log = logging.getLogger(__name__)
# Lock names carry the queue name: installations (or test runs) sharing one Redis keep their own locks.
TICK_LOCK = "digest:lock:tick:{queue}"
INGEST_LOCK = "digest:lock:ingest:{queue}"
# Ingestion has its own time limit, under the app's: each fetch already has a total deadline, and a run
# of many slow sources is cut here (the sources not reached are due first next time). The lock outlives it.
INGEST_SOFT_TIME_LIMIT, INGEST_TIME_LIMIT = 600, 660
STOPPING = threading.Event()




def _stop_between_messages_on_sigterm() -> None:
    """A pool process that gets SIGTERM (systemd and honcho signal the whole group)
    finishes the message in hand, releases the rest of its batch, and lets the
    main process complete the warm shutdown. Installed when a batch starts:
    billiard resets SIGTERM after worker_process_init, so earlier is too early."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: STOPPING.set())


def _settings():
    return load_settings()


def _enqueue(batches: list[list[int]]) -> int:
    for ids in batches:
        deliver_batch.delay(ids)
    return sum(len(b) for b in batches)


@shared_task(name="digest.tick")
def tick() -> int:
    """Start ingesting due sources, plan due digests, fan the batches out. One tick at a time, however many beats."""
    settings = _settings()
    client = redis.Redis.from_url(settings.broker_url)
    # Two beats would tick twice; the lock makes the second tick a no-op (the
    # per-row claim would make it harmless anyway, this just saves the work).
    lock = client.lock(TICK_LOCK.format(queue=settings.queue), timeout=600, blocking=False)
    if not lock.acquire(blocking=False):
        log.info("tick skipped: another tick holds the lock")
        return 0
    started_at, started = utcnow(), time.monotonic()
    try:
        # Ingest in a task of its own: planning and sending go on with the papers already stored,
        # however long a source takes to answer.
        ingest_sources.delay()
        count = _enqueue(jobs.plan_tick(settings, utcnow()))
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            pass
    record_tick(client, settings.queue, started_at, time.monotonic() - started, count)  # for /admin and /metrics
    log.info("tick: %d digests queued", count)
    return count


@shared_task(name="digest.ingest", soft_time_limit=INGEST_SOFT_TIME_LIMIT, time_limit=INGEST_TIME_LIMIT)
def ingest_sources() -> int:
    """Ingest the configured sources that are due; one ingestion at a time, whatever the ticks."""
    settings = _settings()
    lock = redis.Redis.from_url(settings.broker_url).lock(INGEST_LOCK.format(queue=settings.queue), timeout=INGEST_TIME_LIMIT + 60,
                                                          blocking=False)
    if not lock.acquire(blocking=False):
        log.info("ingest skipped: another ingestion is still running")
        return 0
    try:
        summaries = jobs.ingest_due(settings, utcnow())
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            pass
    for summary in summaries:
        log.info("ingest %s", summary.line())
    return len(summaries)


@shared_task(name="digest.sweep")
def sweep() -> int:
    """Re-queue rows whose worker died (lease expired) or whose task was lost."""
    count = _enqueue(jobs.plan_sweep(_settings(), utcnow()))
    if count:
        log.warning("sweep: %d stalled digests re-queued", count)
    return count


@shared_task(name="digest.housekeeping")
def housekeeping() -> dict:
    """Delete expired unconfirmed sign-ups; drop ranking features of papers too old to be ranked."""
    settings, now = _settings(), utcnow()
    return {"expired": jobs.expire_pending(settings, now), "features_pruned": jobs.prune_features(settings, now)}


@shared_task(name="digest.prune")
def prune() -> dict:
    """Daily: prune digests older than DIGEST_KEEP_DAYS; the papers they sent stay recorded (never sent again)."""
    digests, items = jobs.prune_digests(_settings(), utcnow())
    if digests:
        log.info("prune: %d digests and %d items older than DIGEST_KEEP_DAYS removed", digests, items)
    return {"digests": digests, "items": items}


@shared_task(name="digest.deliver_batch", bind=True, max_retries=5)
def deliver_batch(self, digest_ids: list[int]) -> dict:
    """Claim, rank, render and send one batch; rows others hold are left to them."""
    _stop_between_messages_on_sigterm()
    report = jobs.deliver_ids(_settings(), [int(i) for i in digest_ids], utcnow(), should_stop=STOPPING.is_set)
    return dict(report.counts)


def check_broker(url: str, timeout: float = 3.0) -> None:
    """Raise (a redis error) unless the broker at `url` answers now; asked before planning work for it."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()


def enqueue_batches(batches: list[list[int]]) -> int:
    """Queue planned batches on the workers (`digest send --enqueue`)."""
    return _enqueue(batches)
