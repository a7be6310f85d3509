"""bench/faults.py's fast faults, as a test: nobody is lost, and every duplicate is an unknown outcome."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from helpers import REDIS_URL

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import faults  # noqa: E402  (bench/faults.py)

pytestmark = pytest.mark.slow


@pytest.fixture
def bench(tmp_path, pg_database_url):
    from helpers import _truncate

    yield faults.Bench(pg_database_url, subscribers=12, lease=5, tmp=tmp_path)
    _truncate(pg_database_url)


def check(row: faults.Row) -> None:
    assert row.lost == 0, row
    assert row.duplicates <= row.unknown, row
    assert row.received >= row.subscribers - row.refused, row


def test_a_relay_dropping_replies_to_data_loses_nobody_and_duplicates_only_unknown_outcomes(bench):
    row = faults.fault_drop_after_data(bench, rate=0.3)
    check(row)
    assert row.unknown > 0 and row.duplicates > 0  # the fault happened: the relay had each lost-reply message


def test_a_refusing_relay_loses_nobody_and_sends_nothing_twice(bench):
    row = faults.fault_refused_relay(bench)
    check(row)
    assert (row.received, row.duplicates) == (12, 0)


def test_a_worker_killed_mid_batch_loses_nobody_and_sends_at_most_the_message_in_flight_twice(bench, tmp_path):
    # A private Redis when there is one: another suite may restart the machine's meanwhile.
    redis = faults.PrivateRedis(tmp_path) if shutil.which("redis-server") else None
    try:
        row = faults.fault_worker_killed(bench, redis.url if redis else REDIS_URL)
    finally:
        if redis is not None:
            redis.stop()
    check(row)
    assert row.duplicates <= 1  # only the message the relay may have accepted as the worker died
