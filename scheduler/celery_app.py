"""The Celery app and the settings chosen for it (each one says why)."""

from __future__ import annotations

import sys

from celery import Celery, signals

from digest.config import ConfigError, EnvironmentProblem, load_settings

# One visibility timeout everywhere: Redis redelivers a message that is not
# acknowledged within it, so every time limit below stays well under it and we
# never use long ETA/countdown tasks (they would be redelivered and run twice).
VISIBILITY_TIMEOUT = 3600
TASK_TIME_LIMIT = 900  # hard kill; a batch of 100 digests takes seconds
TASK_SOFT_TIME_LIMIT = 840


def make_app() -> Celery:
    try:
        settings = load_settings()
    except ConfigError as exc:  # a bad environment value: one line, not a traceback
        print(f"digest: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    queue = settings.queue
    tick, sweep = float(settings.tick_seconds), float(settings.sweep_seconds)
    app = Celery("digest", broker=settings.broker_url, include=["scheduler.tasks"])
    try:
        settings.prepare_data_dir()
    except EnvironmentProblem as exc:
        print(f"digest: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    app.conf.update(
        # Side effects are idempotent (rows are claimed), so prefer redelivery
        # over loss: acknowledge after the task ran, and requeue when the
        # worker process dies under it.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # A worker holds one message at a time: a batch waits in Redis, not in
        # a busy worker's prefetch buffer, so another worker can take it.
        worker_prefetch_multiplier=1,
        task_time_limit=TASK_TIME_LIMIT,
        task_soft_time_limit=TASK_SOFT_TIME_LIMIT,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
        result_backend_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
        # Results live in the database rows; nothing reads Celery results.
        task_ignore_result=True,
        # Bound memory growth of long-lived worker processes.
        worker_max_tasks_per_child=200,
        worker_max_memory_per_child=400_000,  # KiB
        broker_connection_retry_on_startup=True,
        task_default_queue=queue,
        task_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        worker_hijack_root_logger=False,
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
        beat_schedule={
            # Due work is computed from the database on every tick, in UTC;
            # no per-subscriber crontab entries (Celery's DST handling in
            # crontab has open bugs; zoneinfo does it in digest.delivery).
            "tick": {"task": "digest.tick", "schedule": tick, "options": {"expires": tick}},
            "sweep": {"task": "digest.sweep", "schedule": sweep, "options": {"expires": sweep}},
            "housekeeping": {"task": "digest.housekeeping", "schedule": 3600.0, "options": {"expires": 3600}},
            # DIGEST_KEEP_DAYS retention; a no-op while it is 0.
            "prune": {"task": "digest.prune", "schedule": 86400.0, "options": {"expires": 3600}},
        },
    )
    return app


def check_database(**_kwargs) -> None:
    """At worker start: a database the worker cannot reach stops it here, before it reports ready.

    Otherwise it would take every task from the queue and fail each one.
    """
    from digest.db import ensure_schema, get_engine

    url = load_settings().database_url
    try:
        ensure_schema(url)
    except EnvironmentProblem as exc:
        print(f"digest: {exc}", file=sys.stderr)
        raise SystemExit(1) from None  # SystemExit, not Exception: Celery logs and ignores a signal handler's errors
    # The pool processes are forked from this one: they must not inherit its open database
    # connections (two processes on one socket garble the protocol: "received 4 results from BEGIN").
    get_engine(url).dispose()


signals.worker_init.connect(check_database, weak=False)

app = make_app()
