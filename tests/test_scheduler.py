"""The Celery pipeline with real parts: Redis, PostgreSQL, worker and beat processes, an SMTP server."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import select

from helpers import REDIS_URL, make_env
from digest.config import load_settings
from digest.db import session_factory
from digest.jobs import run_ingest
from digest.ingest import seeds_spec
from digest.models import Digest
from digest.subscriptions import subscribe, validate_preferences
from faultproxy import TrickleServer
from procs import restart_redis, start_beat, start_worker, wait_until

pytestmark = pytest.mark.slow
TOPICS = ["LLM quantization", "efficient attention", "sparse matrices", "quantum algorithms", "graph neural networks"]


@pytest.fixture
def pipeline(tmp_path, pg_url, smtp_server):
    """Seeds ingested, N subscribers due now, an env for worker/beat processes, and cleanup."""
    handler, port = smtp_server
    queue = f"digest-test-{uuid.uuid4().hex[:8]}"
    env = make_env(tmp_path, pg_url, DIGEST_SMTP_URL=f"smtp://127.0.0.1:{port}", DIGEST_QUEUE=queue,
                   DIGEST_LEASE_SECONDS=6, DIGEST_STALE_SECONDS=4, DIGEST_TICK_SECONDS=2, DIGEST_SWEEP_SECONDS=2,
                   DIGEST_BATCH_SIZE=5)
    settings = load_settings(env, read_dotenv=False)
    now = dt.datetime.now(dt.timezone.utc)
    run_ingest(settings, [seeds_spec()], now)
    procs = []

    class P:
        pass

    p = P()
    p.handler, p.env, p.settings, p.url, p.tmp = handler, env, settings, pg_url, tmp_path
    p.app = Celery(broker=REDIS_URL)

    def add_subscribers(n):
        with session_factory(pg_url).begin() as session:
            for i in range(n):
                prefs = validate_preferences(topics=[TOPICS[i % len(TOPICS)]], send_hour=0, max_papers=3)
                subscribe(session, f"reader{i}@example.org", prefs, now)

    def worker(name="w", concurrency=1, **extra):
        proc = start_worker({**env, **{k: str(v) for k, v in extra.items()}}, tmp_path / f"{name}-{len(procs)}.log",
                            concurrency=concurrency)
        procs.append(proc)
        return proc

    def beat(name="beat"):
        proc = start_beat({**env, "DIGEST_DATA_DIR": str(tmp_path / f"{name}-data")}, tmp_path / f"{name}.log")
        procs.append(proc)
        return proc

    def send(task, *args):
        p.app.send_task(task, args=list(args), queue=queue)

    def per_recipient():
        return Counter(r for _, rcpts, _ in handler.messages for r in rcpts)

    def states():
        with session_factory(pg_url)() as session:
            return Counter(session.scalars(select(Digest.state)).all())

    p.add_subscribers, p.worker, p.beat, p.send, p.per_recipient, p.states = (
        add_subscribers, worker, beat, send, per_recipient, states)
    yield p
    for proc in procs:
        proc.stop()
    p.app.close()


def assert_exactly_one_each(p, n):
    counts = p.per_recipient()
    assert len(counts) == n, counts
    assert set(counts.values()) == {1}, counts
    assert p.states() == Counter({"sent": n})


def test_worker_process_runs_the_daily_tick_end_to_end(pipeline):
    p = pipeline
    p.add_subscribers(3)
    p.worker()
    p.send("digest.tick")
    wait_until(lambda: p.states().get("sent") == 3, 60, what="3 digests sent by the worker")
    assert_exactly_one_each(p, 3)
    for _, _, data in p.handler.messages:
        assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in data


def test_kill_9_mid_batch_then_new_worker_sends_each_exactly_once(pipeline):
    p = pipeline
    n = 12
    p.add_subscribers(n)
    p.handler.delay = 0.4  # a slow relay: the batch is in flight when the worker dies
    first = p.worker("victim")
    p.send("digest.tick")
    wait_until(lambda: len(p.handler.messages) >= 3, 60, what="the first messages")
    first.kill()  # SIGKILL to the worker and its pool child
    assert len(p.handler.messages) < n, "the kill came too late to test anything"
    p.handler.delay = 0.0
    p.worker("rescuer")
    p.beat()  # its sweep re-queues the rows whose lease expired
    # A crash costs about a lease (6 s here) and a sweep (2 s), plus starting the processes.
    wait_until(lambda: p.states().get("sent") == n, 6 + 2 + 40, what="all digests sent after the kill")
    assert_exactly_one_each(p, n)


def test_a_batch_outliving_its_lease_renews_it_and_no_other_worker_takes_its_rows(pipeline):
    p = pipeline
    n = 10
    p.add_subscribers(n)
    p.handler.delay = 0.8  # ten messages take 8 s: longer than the 5 s lease, renewed every third of it
    env = dict(DIGEST_LEASE_SECONDS=5, DIGEST_SWEEP_SECONDS=1, DIGEST_BATCH_SIZE=n)
    p.worker("holder", **env)
    p.send("digest.tick")
    wait_until(lambda: len(p.handler.messages) >= 1, 60, what="the batch to start")
    p.worker("rival", **env)
    beat = p.beat()  # sweeps every 2 s: a lease left to expire would hand rows to the rival
    wait_until(lambda: p.states().get("sent") == n, 60, what="all digests sent")
    beat.stop()
    assert_exactly_one_each(p, n)


def test_two_beats_at_once_send_one_message_per_subscriber(pipeline):
    p = pipeline
    n = 8
    p.add_subscribers(n)
    p.worker(concurrency=2)
    p.beat("beat-a")
    p.beat("beat-b")
    wait_until(lambda: p.states().get("sent") == n, 90, what="all digests sent")
    time.sleep(5)  # more ticks from both beats: still nothing twice
    assert_exactly_one_each(p, n)


def test_redis_restart_during_a_run_loses_nothing_and_doubles_nothing(pipeline):
    p = pipeline
    n = 12
    p.add_subscribers(n)
    p.handler.delay = 0.3
    p.worker(concurrency=1)
    p.beat()
    wait_until(lambda: len(p.handler.messages) >= 2, 60, what="the run to start")
    restart_redis()
    p.handler.delay = 0.0
    wait_until(lambda: p.states().get("sent") == n, 120, what="all digests sent after the Redis restart")
    time.sleep(3)
    assert_exactly_one_each(p, n)


def test_run_twice_and_enqueue_while_the_worker_runs_send_one_each(pipeline):
    from click.testing import CliRunner

    from digest.cli import cli

    p = pipeline
    n = 10
    p.add_subscribers(n)
    p.handler.delay = 0.1
    p.worker(concurrency=2)
    p.send("digest.tick")
    runner = CliRunner()
    first = runner.invoke(cli, ["send", "--enqueue"], env=p.env, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    inline = runner.invoke(cli, ["run"], env=p.env, catch_exceptions=False)
    again = runner.invoke(cli, ["run"], env=p.env, catch_exceptions=False)
    assert inline.exit_code == 0 and again.exit_code == 0
    wait_until(lambda: p.states().get("sent") == n, 90, what="all digests sent")
    time.sleep(2)
    assert_exactly_one_each(p, n)


def test_sigterm_releases_the_rest_of_the_batch_and_nothing_is_lost(pipeline):
    p = pipeline
    n = 5
    p.add_subscribers(n)
    p.handler.delay = 0.5
    worker = p.worker()
    p.send("digest.tick")
    wait_until(lambda: len(p.handler.messages) >= 1, 60, what="the batch to start")
    worker.kill(signal.SIGTERM)  # to the whole group, as systemd and honcho do
    worker.popen.wait(60)
    states = p.states()
    assert "sending" not in states, states  # finished or released, never left leased
    assert states["sent"] >= 1 and states["sent"] + states["pending"] == n, states
    p.handler.delay = 0.0
    p.worker("next")
    p.beat()
    wait_until(lambda: p.states().get("sent") == n, 60, what="the released rest sent by the next worker")
    assert_exactly_one_each(p, n)


def test_procfile_runs_web_worker_and_beat_under_honcho(pipeline, tmp_path):
    """The three Procfile lines under a real process manager: pages served, digests sent, clean stop."""
    import shutil
    import urllib.request

    from helpers import free_port
    from procs import Proc

    p = pipeline
    p.add_subscribers(4)
    port = free_port()
    root = Path(__file__).resolve().parents[1]
    honcho = shutil.which("honcho", path=str(Path(sys.executable).parent)) or "honcho"
    proc = Proc([honcho, "-f", str(root / "Procfile"), "-d", str(tmp_path), "start"],
                {**p.env, "DIGEST_PORT": str(port), "DIGEST_WORKER_CONCURRENCY": "1",
                 "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}, tmp_path / "honcho.log")
    try:
        wait_until(lambda: p.states().get("sent") == 4, 90, what="digests sent by the Procfile's worker and beat")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            assert response.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert b"<form" in response.read()
    finally:
        proc.stop(timeout=30)
    assert proc.popen.returncode is not None
    assert_exactly_one_each(p, 4)


def test_a_source_that_hangs_never_holds_up_planning_or_sending(pipeline):
    """Ingestion is a task of its own, under its own lock: a feed trickling a byte a second does not stop the day."""
    p = pipeline
    stuck = TrickleServer(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100_000, every=1.0)
    try:
        p.add_subscribers(4)
        p.worker(DIGEST_SOURCES=f"stuck={stuck.url}", concurrency=2)
        p.send("digest.tick")
        wait_until(lambda: stuck.connections >= 1, 60, what="the ingestion to start reading the stuck source")
        wait_until(lambda: p.states().get("sent") == 4, 60, what="4 digests sent while the source hangs")
        p.send("digest.tick")  # a second tick while the first ingestion still hangs: no second reader
        time.sleep(3)
        assert stuck.connections == 1
        assert_exactly_one_each(p, 4)
    finally:
        stuck.close()
