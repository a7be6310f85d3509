"""Faults between us and the relay, with real parts: aiosmtpd, a misbehaving TCP proxy, PostgreSQL.

What they pin: an outage delays an edition and never spends it; an unknown
outcome (the reply to DATA lost) is never resent at once, and costs at most
one extra copy, with the same Message-ID; the database lost between the
relay's 250 and the commit sends nothing twice when it comes back.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from email import message_from_bytes, policy

import pytest
from click.testing import CliRunner
from freezegun import freeze_time
from sqlalchemy import select

from helpers import PG_ADMIN_URL, SmtpHandler, free_port, make_env
from digest import delivery, ingest, jobs
from digest.cli import cli
from digest.config import load_settings
from digest.db import session_factory
from digest.models import Digest, Subscriber
from digest.delivery.outcomes import unknown_outcomes
from faultproxy import DatabaseLosingHandler, FaultProxy

NOW = dt.datetime(2026, 11, 26, 9, 12, tzinfo=dt.timezone.utc)
EDITION = NOW.date()


@pytest.fixture(autouse=True)
def no_backoff_sleep(monkeypatch):
    monkeypatch.setattr(delivery, "_sleep", lambda seconds: None)


def relay_settings(tmp_path, database_url, port, **extra):
    env = make_env(tmp_path, database_url, DIGEST_SMTP_URL=f"smtp://127.0.0.1:{port}?timeout=3", **extra)
    return load_settings(env, read_dotenv=False)


def seeded(settings):
    jobs.run_ingest(settings, [ingest.seeds_spec()], NOW)
    jobs.load_sample_subscribers(settings, NOW)
    with session_factory(settings.database_url)() as session:
        return len(session.scalars(select(Subscriber.id)).all())


def send(settings, at: dt.timedelta = dt.timedelta()):
    return jobs.send_due(settings, NOW + at, respect_hour=False, edition_date=EDITION)


def rows(settings) -> list[Digest]:
    with session_factory(settings.database_url)() as session:
        found = session.scalars(select(Digest).order_by(Digest.id)).all()
        session.expunge_all()
        return found


@pytest.fixture
def through_proxy(tmp_path, db_url):
    """A factory: a FaultProxy in `mode` in front of `port`, settings that send through it, seeded; killed after."""
    proxies = []

    def make(port: int, mode: str):
        proxies.append(FaultProxy(port, mode=mode))
        settings = relay_settings(tmp_path, db_url, proxies[-1].port)
        return proxies[-1], settings, seeded(settings)

    yield make
    for proxy in proxies:
        proxy.kill()


def received(handler) -> Counter:
    return Counter(r for _, rcpts, _ in handler.messages for r in rcpts)


def test_relay_outage_keeps_every_edition_pending_without_spending_attempts_until_it_is_too_old(
        tmp_path, db_url, through_proxy):
    proxy, settings, n = through_proxy(free_port(), "refuse")
    for minutes in range(0, 6 * 60, 60):  # six runs an hour apart, as the scheduler would
        report = send(settings, dt.timedelta(minutes=minutes))
        assert report.counts["retry"] == n and not report.counts["failed"], report.summary()
    assert {(d.state, d.attempts, d.failure_class) for d in rows(settings)} == {("pending", 0, "transient")}
    assert all(d.reason.startswith("relay unreachable since 2026-11-26 09:12 UTC; next try at ")
               for d in rows(settings))
    soon = send(settings, dt.timedelta(hours=5, minutes=1))  # inside the backoff: nothing is tried
    assert soon.counts["retry"] == 0 and "waiting to be retried later" in soon.summary() and not soon.all_handled
    with freeze_time(NOW + dt.timedelta(hours=6)):
        status = CliRunner().invoke(cli, ["status"], env=make_env(tmp_path, db_url), catch_exceptions=False)
    assert f"relay unreachable since 2026-11-26 09:12 UTC: {n} digests waiting" in status.output
    late = send(settings, dt.timedelta(hours=18))
    assert late.counts["failed"] == n
    assert {(d.state, d.reason, d.failure_class) for d in rows(settings)} == {
        ("failed", "relay unreachable for 18 h", "sender")}


def test_a_relay_back_within_the_edition_age_gets_every_digest_out_once(smtp_server, through_proxy):
    handler, port = smtp_server
    proxy, settings, n = through_proxy(port, "refuse")
    for hours in range(4):
        send(settings, dt.timedelta(hours=hours))
    proxy.mode = "pass"
    assert send(settings, dt.timedelta(hours=5)).counts["sent"] == n
    assert set(received(handler).values()) == {1} and len(received(handler)) == n
    assert {(d.state, d.attempts) for d in rows(settings)} == {("sent", 1)}


def test_a_lost_reply_to_data_is_not_resent_at_once_and_costs_at_most_one_copy(tmp_path, db_url, smtp_server,
                                                                                through_proxy):
    handler, port = smtp_server
    proxy, settings, n = through_proxy(port, "drop-after-data")
    first = send(settings)
    unknown = first.counts["unknown"]
    assert unknown == delivery.RETRY.relay_down_after and proxy.drops == unknown
    assert set(received(handler).values()) == {1}  # the relay has them; none was resent in the batch
    proxy.mode = "pass"
    assert send(settings, dt.timedelta(minutes=2)).counts["sent"] == n - unknown  # the outage's rows
    assert set(received(handler).values()) == {1}  # the unknown ones still wait
    with freeze_time(NOW + dt.timedelta(minutes=3)):
        status = CliRunner().invoke(cli, ["status"], env=make_env(tmp_path, db_url), catch_exceptions=False)
    assert f"outcome unknown after DATA: {unknown} digests waiting to be retried with the same Message-ID" \
        in status.output
    assert send(settings, dt.timedelta(minutes=11)).counts["sent"] == unknown
    counts = received(handler)
    assert len(counts) == n and sum(counts.values()) - n == unknown  # one extra copy per unknown outcome
    by_recipient: dict[str, set] = {}
    for _, rcpts, raw in handler.messages:
        by_recipient.setdefault(rcpts[0], set()).add(message_from_bytes(raw, policy=policy.default)["Message-ID"])
    assert all(len(ids) == 1 for ids in by_recipient.values())  # the copy carries the same Message-ID
    assert sum(unknown_outcomes(d.reason) for d in rows(settings)) == unknown


def test_a_relay_connection_killed_mid_batch_costs_at_most_one_copy_per_unknown_outcome(
        tmp_path, db_url, smtp_server):
    handler, port = smtp_server
    handler.delay = 0.2
    proxy = FaultProxy(port)
    settings = relay_settings(tmp_path, db_url, proxy.port)
    n = seeded(settings)

    def kill_after_two():
        while len(handler.messages) < 2:
            time.sleep(0.005)
        proxy.kill()

    threading.Thread(target=kill_after_two, daemon=True).start()
    first = send(settings)
    assert first.counts["sent"] < n
    handler.delay = 0
    settings = relay_settings(tmp_path, db_url, port)  # the relay, reached directly again
    for minutes in (2, 11, 22):
        send(settings, dt.timedelta(minutes=minutes))
    counts = received(handler)
    unknown = sum(unknown_outcomes(d.reason) for d in rows(settings))
    assert {d.state for d in rows(settings)} == {"sent"} and len(counts) == n
    assert sum(counts.values()) - n <= unknown


def test_the_database_lost_between_the_250_and_the_commit_sends_nothing_twice(tmp_path, pg_database_url):
    from aiosmtpd.controller import Controller

    from helpers import _truncate
    from digest.db import ensure_schema

    ensure_schema(pg_database_url)
    hook = DatabaseLosingHandler(SmtpHandler(), PG_ADMIN_URL, pg_database_url.rsplit("/", 1)[1], outage=1.0)
    handler = hook.install()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        settings = relay_settings(tmp_path, pg_database_url, controller.port)
        n = seeded(settings)
        report = send(settings)
        assert report.counts["sent"] == n, report.summary()
        send(settings, dt.timedelta(minutes=11))
        send(settings, dt.timedelta(minutes=22))
        assert {d.state for d in rows(settings)} == {"sent"}
        assert set(received(handler).values()) == {1} and len(received(handler)) == n
    finally:
        controller.stop()
        hook.allow(True)
        _truncate(pg_database_url)


def test_a_connection_the_relay_closed_while_idle_is_replaced_and_the_message_sent(smtp_server):
    from digest.config import parse_smtp_url
    from digest.delivery.senders import SmtpSender

    handler, port = smtp_server
    proxy = FaultProxy(port)
    try:
        sender = SmtpSender(parse_smtp_url(f"smtp://127.0.0.1:{proxy.port}?timeout=3"))
        assert sender.send("digest@example.org", "ada@example.org", b"Subject: 1\r\n\r\none\r\n").startswith("250")
        with proxy.lock:  # the relay drops the idle connection (not the listener)
            proxy._cut(*proxy.sockets)
        assert sender.send("digest@example.org", "bob@example.org", b"Subject: 2\r\n\r\ntwo\r\n").startswith("250")
        sender.close()
    finally:
        proxy.kill()
    assert received(handler) == Counter({"ada@example.org": 1, "bob@example.org": 1}) and handler.sessions == 2


def test_a_crash_holds_rows_for_a_minute_and_an_outage_waits_18_hours_by_default(tmp_path):
    settings = load_settings({"DIGEST_DATA_DIR": str(tmp_path)}, read_dotenv=False)
    assert (settings.lease_seconds, settings.edition_max_age_hours) == (60, 18)
