"""The scheduler's tick leaves its duration in Redis for /admin and /metrics; the queue's depth is read there."""

from __future__ import annotations

import datetime as dt

import redis

from digest.dashboard import ticks
from helpers import REDIS_URL, RUN_ID, make_env


def test_a_tick_records_when_it_started_how_long_it_took_and_what_it_queued(tmp_path, sqlite_url, monkeypatch):
    queue = f"tick-{RUN_ID}"
    for name, value in make_env(tmp_path, sqlite_url, DIGEST_QUEUE=queue).items():
        monkeypatch.setenv(name, value)
    from celery import current_app

    from scheduler.celery_app import make_app
    from scheduler import tasks

    previous, app = current_app._get_current_object(), make_app()
    app.set_current()  # the tick's tasks go to this test's queue
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert ticks.get_last_tick(REDIS_URL, queue) is None
        before = dt.datetime.now(dt.timezone.utc)
        assert tasks.tick() == 0  # nobody is due
        tick = ticks.get_last_tick(REDIS_URL, queue)
        assert tick is not None and tick.queued == 0
        assert before <= tick.started_at <= dt.datetime.now(dt.timezone.utc)
        assert 0 < tick.seconds < 60
        # The tick queued the ingestion task on this queue: the depth /metrics reports.
        assert ticks.get_queue_depth(REDIS_URL, queue) == 1
    finally:
        client.delete(queue, ticks.TICK_KEY.format(queue=queue))
        app.close()
        previous.set_current()


def test_an_unreachable_redis_gives_no_tick_and_no_depth_rather_than_an_error():
    assert ticks.get_last_tick("redis://127.0.0.1:9/0", "digest") is None
    assert ticks.get_queue_depth("redis://127.0.0.1:9/0", "digest") is None
    assert ticks.get_queue_depth("memory://", "digest") is None
