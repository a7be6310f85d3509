"""Claimed rows are never stranded by a failing sender, and a forced resend is a new message."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select

from helpers import SAMPLE, make_env
from digest import delivery, ingest, jobs
from digest.config import load_settings
from digest.db import session_factory
from digest.delivery.senders import MemorySender, OutboxSender, SenderUnavailable
from digest.models import Digest, Subscriber

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(autouse=True)
def no_backoff_sleep(monkeypatch):
    monkeypatch.setattr(delivery, "_sleep", lambda seconds: None)


def seeded(settings):
    jobs.run_ingest(settings, [ingest.seeds_spec()], NOW)
    jobs.load_sample_subscribers(settings, NOW)
    return settings


def rows(settings) -> list[tuple[str, int]]:
    with session_factory(settings.database_url)() as session:
        return [(d.state, d.attempts) for d in session.scalars(select(Digest).order_by(Digest.id))]


def test_outbox_failing_mid_batch_gives_every_claimed_row_back_unspent(settings):
    seeded(settings)
    # The folder passes the check, but the edition's sub-folder cannot be made: every write fails.
    settings.outbox_dir.mkdir(parents=True)
    (settings.outbox_dir / NOW.date().isoformat()).write_text("in the way")
    with pytest.raises(SenderUnavailable, match="DIGEST_OUTBOX_DIR="):
        jobs.send_due(settings, NOW, respect_hour=False)
    assert rows(settings) == [("pending", 0)] * SAMPLE
    (settings.outbox_dir / NOW.date().isoformat()).unlink()
    assert jobs.send_due(settings, NOW, respect_hour=False).counts["sent"] == SAMPLE
    assert rows(settings) == [("sent", 1)] * SAMPLE


def test_an_unwritable_outbox_is_refused_before_anything_is_planned(settings, tmp_path):
    seeded(settings)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SenderUnavailable, match=f"DIGEST_OUTBOX_DIR={blocker}"):
        jobs.send_due(settings, NOW, respect_hour=False, sender=OutboxSender(blocker))
    assert rows(settings) == []


class BrokenSender(MemorySender):
    """A sender with a bug: the second message raises something no sender should."""

    def send(self, sender, recipient, data):
        if len(self.sent) == 1:
            raise RuntimeError("a bug in the sender")
        return super().send(sender, recipient, data)


def test_a_sender_crash_releases_the_batch_and_only_the_message_in_hand_spends_an_attempt(settings):
    seeded(settings)
    with pytest.raises(RuntimeError):
        jobs.send_due(settings, NOW, respect_hour=False, sender=BrokenSender())
    # Sent; in the sender's hands when it broke (it may have left: the attempt counts); never tried.
    assert rows(settings) == [("sent", 1), ("pending", 1)] + [("pending", 0)] * (SAMPLE - 2)
    assert jobs.send_due(settings, NOW, respect_hour=False).counts["sent"] == SAMPLE - 1


def smtp_settings(tmp_path, database_url, port):
    return load_settings(make_env(tmp_path, database_url, DIGEST_SMTP_URL=f"smtp://127.0.0.1:{port}?timeout=5"),
                         read_dotenv=False)


def message_ids(handler) -> list[str]:
    return [message_from_bytes(raw, policy=policy.default)["Message-ID"] for _, _, raw in handler.messages]


def stored_id(settings) -> str:
    with session_factory(settings.database_url)() as session:
        return session.scalar(select(Digest.message_id))


def test_forced_resends_get_new_message_ids_and_a_retry_keeps_its_own(tmp_path, sqlite_url, smtp_server):
    handler, port = smtp_server
    settings = seeded(smtp_settings(tmp_path, sqlite_url, port))
    ada = ["ada@example.org"]
    jobs.send_due(settings, NOW, respect_hour=False, emails=ada)
    jobs.send_due(settings, NOW, respect_hour=False, emails=ada, force=True)
    jobs.send_due(settings, NOW, respect_hour=False, emails=ada, force=True)
    first, second, third = message_ids(handler)
    assert len({first, second, third}) == 3
    # A third forced send meets a busy relay: it is retried later as the same message.
    handler.rcpt_replies["ada@example.org"] = "451 4.3.0 Try again later"
    assert jobs.send_due(settings, NOW, respect_hour=False, emails=ada, force=True).counts["retry"] == 1
    pending_id = stored_id(settings)
    assert pending_id not in (first, second, third)
    handler.rcpt_replies.clear()
    assert jobs.send_due(settings, NOW, respect_hour=False, emails=ada).counts["sent"] == 1
    assert message_ids(handler)[-1] == pending_id == stored_id(settings)


def test_the_first_send_keeps_the_message_id_derived_from_the_row(settings):
    seeded(settings)
    sender = MemorySender()
    jobs.send_due(settings, NOW, respect_hour=False, sender=sender)
    with session_factory(settings.database_url)() as session:
        ids = {s.email: d.message_id for d, s in session.execute(select(Digest, Subscriber).join(Subscriber))}
        derived = {s.email: f"<digest.{d.id}.{d.edition_date}@digest.example.org>"
                   for d, s in session.execute(select(Digest, Subscriber).join(Subscriber))}
    assert ids == derived
    assert {r: message_from_bytes(b, policy=policy.default)["Message-ID"] for _, r, b in sender.sent} == ids
