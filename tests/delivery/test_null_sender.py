"""DIGEST_SENDER=null: every message is accepted and discarded (benchmarks measure the pipeline without a relay)."""

from __future__ import annotations

import datetime as dt

import pytest

from helpers import make_env
from digest import ingest, jobs
from digest.config import ConfigError, load_settings
from digest.delivery.senders import NullSender, make_sender

NOW = dt.datetime(2026, 11, 26, 9, 12, tzinfo=dt.timezone.utc)


def test_the_null_sender_marks_every_digest_sent_and_writes_nothing(tmp_path, sqlite_url):
    settings = load_settings(make_env(tmp_path, sqlite_url, DIGEST_SENDER="null",
                                      DIGEST_SMTP_URL="smtp://127.0.0.1:9"), read_dotenv=False)  # nothing listens
    assert isinstance(make_sender(settings), NullSender)
    jobs.run_ingest(settings, [ingest.seeds_spec()], NOW)
    jobs.load_sample_subscribers(settings, NOW)
    report = jobs.send_due(settings, NOW, respect_hour=False)
    assert report.counts["sent"] >= 3 and report.counts["failed"] == report.counts["retry"] == 0, report.summary()
    assert not (tmp_path / "outbox").exists() or not any((tmp_path / "outbox").iterdir())


def test_an_unknown_sender_is_refused_in_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"^DIGEST_SENDER: expected null \(discard every message\) or unset, got 'smtp'$"):
        load_settings(make_env(tmp_path, DIGEST_SENDER="smtp"), read_dotenv=False)
