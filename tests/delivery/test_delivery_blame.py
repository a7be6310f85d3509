"""Who a refusal blames, by its RFC 3463 code, against a real aiosmtpd server whose replies the test controls."""

import datetime as dt

import pytest
from click.testing import CliRunner
from freezegun import freeze_time
from sqlalchemy import select

from helpers import SAMPLE, make_env
from digest import delivery, ingest, jobs
from digest.delivery import senders as mail
from digest.cli import cli
from digest.config import load_settings
from digest.db import session_factory
from digest.models import Digest, Subscriber

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.timezone.utc)
ADA = "ada@example.org"


@pytest.fixture(autouse=True)
def no_backoff_sleep(monkeypatch):
    monkeypatch.setattr(delivery, "_sleep", lambda seconds: None)


def smtp_settings(tmp_path, database_url, port):
    env = make_env(tmp_path, database_url, DIGEST_SMTP_URL=f"smtp://127.0.0.1:{port}?timeout=5")
    settings = load_settings(env, read_dotenv=False)
    jobs.run_ingest(settings, [ingest.seeds_spec()], NOW)
    jobs.load_sample_subscribers(settings, NOW)
    return settings


def ada(settings):
    """(digest states, failure classes, subscriber status, permanent failures) of ada's editions."""
    with session_factory(settings.database_url)() as session:
        subscriber = session.scalar(select(Subscriber).where(Subscriber.email == ADA))
        digests = session.scalars(select(Digest).where(Digest.subscriber_id == subscriber.id)
                                  .order_by(Digest.edition_date)).all()
        return ([d.state for d in digests], [d.failure_class for d in digests], subscriber.status,
                subscriber.permanent_failures)


def set_failures(settings, count):
    with session_factory(settings.database_url).begin() as session:
        session.scalar(select(Subscriber).where(Subscriber.email == ADA)).permanent_failures = count


@pytest.mark.parametrize("reply, state, blame, status, failures", [
    ("550 5.1.1 <ada@example.org>: Recipient address rejected: User unknown", "failed", "recipient", "bounced", 2),
    ("552 5.2.2 Mailbox full", "failed", "recipient", "active", 2),
    ("554 5.7.1 Message rejected as spam", "failed", "sender", "active", 1),
    ("550 5.7.26 Unauthenticated email is not accepted due to the sender's DMARC policy", "failed", "sender",
     "active", 1),
    ("554 5.3.4 Message too big for system", "failed", "sender", "active", 1),
    ("554 5.4.4 Unable to route", "failed", "sender", "active", 1),
    # No enhanced code: a 550 to RCPT counts against the mailbox (the common convention) ...
    ("550 Not accepted here", "failed", "recipient", "active", 2),
    # ... and one that says the user is unknown suppresses at once, as a 5.1.1 does.
    ("550 No such user here", "failed", "recipient", "bounced", 2),
    ("554 Transaction failed", "failed", "unknown", "active", 1),
    ("451 4.7.1 Greylisted, try again later", "pending", "transient", "active", 1),
])
def test_each_reply_class_blames_the_right_party(tmp_path, sqlite_url, smtp_server, reply, state, blame, status,
                                                 failures):
    handler, port = smtp_server
    settings = smtp_settings(tmp_path, sqlite_url, port)
    set_failures(settings, 1)  # one refusal before: a sender problem must neither raise nor reset it
    handler.rcpt_replies[ADA] = reply
    report = jobs.send_due(settings, NOW, respect_hour=False)
    assert ada(settings) == ([state], [blame], status, failures)
    assert report.counts["sent"] == SAMPLE - 1 and ADA not in [r for _, rcpts, _ in handler.messages for r in rcpts]
    with session_factory(settings.database_url)() as session:
        assert session.scalar(select(Digest.last_error).join(Subscriber).where(Subscriber.email == ADA)) == reply


def send_edition(settings, day: int):
    return jobs.send_due(settings, NOW + dt.timedelta(days=day), respect_hour=False, emails=[ADA])


def test_a_full_mailbox_once_is_not_suppressed_but_in_three_editions_in_a_row_is(tmp_path, sqlite_url,
                                                                                  smtp_server):
    handler, port = smtp_server
    settings = smtp_settings(tmp_path, sqlite_url, port)
    handler.rcpt_replies[ADA] = "552 5.2.2 Mailbox full"
    send_edition(settings, 0)
    assert ada(settings) == (["failed"], ["recipient"], "active", 1)
    send_edition(settings, 1)
    assert ada(settings)[2:] == ("active", 2)
    send_edition(settings, 2)
    assert ada(settings) == (["failed"] * 3, ["recipient"] * 3, "bounced", 3)
    assert send_edition(settings, 3).counts == {} and len(ada(settings)[0]) == 3  # not planned any more


def test_three_spam_refusals_never_suppress_the_reader(tmp_path, sqlite_url, smtp_server):
    handler, port = smtp_server
    settings = smtp_settings(tmp_path, sqlite_url, port)
    handler.rcpt_replies[ADA] = "554 5.7.1 Message rejected as spam"
    for day in range(3):
        report = send_edition(settings, day)
        assert "sender problem: refused as policy/spam (5.7.1)" in report.lines[0]
    assert ada(settings) == (["failed"] * 3, ["sender"] * 3, "active", 0)
    del handler.rcpt_replies[ADA]
    assert send_edition(settings, 3).counts["sent"] == 1  # the relay fixed: ada still gets her digest


def test_status_flags_the_sender_when_the_relay_refuses_as_spam(tmp_path, db_url, smtp_server):
    handler, port = smtp_server
    settings = smtp_settings(tmp_path, db_url, port)
    handler.replies = ["554 5.7.1 Message rejected as spam"] * 3 + ["550 5.7.26 DMARC policy"]
    report = jobs.send_due(settings, NOW, respect_hour=False)
    assert report.counts["failed"] == 4 and report.counts["sent"] == SAMPLE - 4
    with freeze_time(NOW + dt.timedelta(hours=1)):  # status shows the last few editions
        result = CliRunner().invoke(cli, ["status"], env=make_env(tmp_path, db_url), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert ("sender problem: 3 digests refused by the relay as policy/spam (5.7.1) — check SPF/DKIM/DMARC and "
            "the relay's reputation") in result.output
    assert "sender problem: 1 digest refused by the relay as failing sender authentication (5.7.26)" in result.output
    with session_factory(db_url)() as session:
        assert set(session.scalars(select(Subscriber.status))) == {"active"}
        assert set(session.scalars(select(Subscriber.permanent_failures))) == {0}


@pytest.mark.parametrize("code, text, blame, status, at_once", [
    (550, "5.1.1 <a@b.example>: User unknown", "recipient", "5.1.1", True),
    (550, "5.1.10 Recipient address has null MX", "recipient", "5.1.10", True),
    (550, "5.1.2 Host unknown", "recipient", "5.1.2", False),
    (552, "5.2.2 Mailbox full", "recipient", "5.2.2", False),
    (554, "5.7.1 rejected as spam", "sender", "5.7.1", False),
    (550, "5.7.26 DMARC", "sender", "5.7.26", False),
    (554, "5.3.4 too big", "sender", "5.3.4", False),
    (554, "5.4.4 no route", "sender", "5.4.4", False),
    (550, "User unknown", "recipient", None, True),
    (550, "Rejected", "recipient", None, False),
    (554, "Transaction failed", "unknown", None, False),
    (451, "4.7.1 greylisted", "transient", "4.7.1", False),
    (None, "552 5.2.2 Mailbox full", "recipient", "5.2.2", False),  # the code read from the reply itself
])
def test_classify_reply_reads_the_enhanced_code_then_the_basic_one(code, text, blame, status, at_once):
    assert mail.classify_reply(code, text) == mail.ReplyClass(blame, status, at_once)
