"""A Celery worker that cannot reach its database stops at start with one line, instead of failing every task."""

from __future__ import annotations

import pytest

from helpers import make_env
from procs import start_worker

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("url, words", [
    ("postgresql://postgres@127.0.0.1:1/x", "connection refused"),
    ("postgresql://postgres:secret@127.0.0.1:5432/nosuchdb_for_worker", "database \"nosuchdb_for_worker\" does not exist"),
])
def test_worker_with_an_unreachable_database_exits_at_start(tmp_path, url, words):
    env = make_env(tmp_path, url, DIGEST_QUEUE=f"digest-start-{tmp_path.name}")
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        status = worker.popen.wait(120)
    finally:
        worker.stop()
    output = worker.log.read_text(errors="replace")
    assert status != 0, output
    assert "ready" not in output and "Traceback" not in output
    lines = [line for line in output.splitlines() if line.startswith("digest: ")]
    assert len(lines) == 1 and "DIGEST_DATABASE_URL=" in lines[0] and words in lines[0], output
    assert "secret" not in output
