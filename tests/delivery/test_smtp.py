"""Delivery over SMTP against a real aiosmtpd server on loopback whose replies the test controls."""

import datetime as dt
import re
import socket
import ssl
import subprocess
import uuid
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select

from helpers import REDIS_URL, SAMPLE, SmtpHandler, free_port, make_env
from digest import delivery, ingest, jobs
from digest.delivery import senders as mail
from digest.email import render
from digest.config import load_settings
from digest.db import session_factory
from digest.models import Digest, Subscriber
from digest.subscriptions import read_token

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(autouse=True)
def no_backoff_sleep(monkeypatch):
    """Record the in-batch backoff instead of sleeping it."""
    slept = []
    monkeypatch.setattr(delivery, "_sleep", slept.append)
    return slept


def smtp_settings(tmp_path, database_url, port, query="timeout=5", scheme="smtp", auth="", **extra):
    env = make_env(tmp_path, database_url, DIGEST_SMTP_URL=f"{scheme}://{auth}127.0.0.1:{port}?{query}", **extra)
    return load_settings(env, read_dotenv=False)


def seeded(settings):
    jobs.run_ingest(settings, [ingest.seeds_spec()], NOW)
    jobs.load_sample_subscribers(settings, NOW)
    return settings


def send(settings):
    return jobs.send_due(settings, NOW, respect_hour=False)


def rows(settings):
    with session_factory(settings.database_url)() as session:
        return {d.subscriber.email: (d.state, d.last_error, d.subscriber.status, d.subscriber.permanent_failures,
                                     d.message_id) for d in session.scalars(select(Digest).order_by(Digest.id))}


def parsed(handler):
    return [message_from_bytes(raw, policy=policy.default) for _, _, raw in handler.messages]


def test_normal_run_sends_one_wellformed_digest_per_subscriber_over_one_connection(tmp_path, db_url, smtp_server):
    handler, port = smtp_server
    settings = seeded(smtp_settings(tmp_path, db_url, port))
    report = send(settings)
    assert report.counts["sent"] == SAMPLE and len(handler.messages) == SAMPLE
    assert handler.sessions == 1  # one connection reused for the batch
    state = rows(settings)
    with session_factory(settings.database_url)() as session:
        ids = {s.email: s.id for s in session.scalars(select(Subscriber))}
    for (mail_from, rcpts, raw), msg in zip(handler.messages, parsed(handler)):
        to = msg["To"].addresses[0].addr_spec
        assert mail_from == "digest@digest.example.org" and rcpts == [to]
        assert not msg.defects and msg.get_content_type() == "multipart/alternative"
        assert str(msg["From"]) == "Paper Digest <digest@digest.example.org>"
        assert msg["Message-ID"] == state[to][4] and msg["Subject"].startswith("Paper digest for ")
        assert msg["Date"].datetime == NOW and msg["Auto-Submitted"] == "auto-generated"
        assert msg["List-Id"] == "<digest.digest.example.org>"
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        link = msg["List-Unsubscribe"].strip("<>")
        assert link.startswith("https://digest.example.org/unsubscribe/")
        assert read_token(settings.signing_key(), "unsubscribe", link.rsplit("/", 1)[1]) == ids[to]
        text, html = msg.get_payload()
        assert [p.get_content_type() for p in (text, html)] == ["text/plain", "text/html"]
        body = html.get_content()
        assert len(body.encode()) < render.HTML_BUDGET and len(raw) < 150_000
        assert f'href="{link}"' in body and link in text.get_content()
        count = int(re.search(r": (\d+) new papers?", msg["Subject"]).group(1))
        assert body.count('class="card"') == count > 0 and f"{count} new paper" in body
    assert send(settings).counts["sent"] == 0 and len(handler.messages) == SAMPLE  # nothing twice


@pytest.mark.parametrize("replies", [["451 4.3.0 Try again later"], ["454 4.7.0 Temporary failure"],
                                     ["451 4.3.0 Busy", "421 4.3.2 Service shutting down"]])
def test_transient_replies_are_retried_in_the_batch_with_backoff(tmp_path, sqlite_url, smtp_server, replies,
                                                                  no_backoff_sleep):
    handler, port = smtp_server
    handler.replies = list(replies)
    settings = seeded(smtp_settings(tmp_path, sqlite_url, port))
    report = send(settings)
    assert report.counts["sent"] == SAMPLE and len(handler.messages) == SAMPLE
    assert len({m["Message-ID"] for m in parsed(handler)}) == SAMPLE
    assert len(no_backoff_sleep) == len(replies)
    for n, delay in enumerate(no_backoff_sleep):
        full = min(delivery.RETRY.cap, delivery.RETRY.base * 2**n)
        assert full / 2 <= delay <= full
    assert handler.sessions == 1 + replies.count("421 4.3.2 Service shutting down")  # 421 closes the connection


def test_transient_failures_past_the_limit_wait_for_the_next_run_then_fail(tmp_path, sqlite_url, smtp_server):
    handler, port = smtp_server
    settings = seeded(smtp_settings(tmp_path, sqlite_url, port, DIGEST_MAX_ATTEMPTS=2))
    handler.replies = ["451 4.3.0 Try again later"] * delivery.RETRY.tries
    first = send(settings)
    assert first.counts["retry"] == 1 and first.counts["sent"] == SAMPLE - 1
    state, error = rows(settings)["ada@example.org"][:2]
    assert state == "pending" and error.startswith("451 4.3.0")
    handler.replies = ["451 4.3.0 Still busy"] * delivery.RETRY.tries
    second = send(settings)
    assert second.counts["failed"] == 1
    assert rows(settings)["ada@example.org"][:3] == ("failed", "451 4.3.0 Still busy", "active")
    assert len(handler.messages) == SAMPLE - 1


def test_no_such_user_fails_with_the_reply_and_suppresses_the_address(tmp_path, sqlite_url, smtp_server):
    handler, port = smtp_server
    handler.rcpt_replies["ada@example.org"] = "550 5.1.1 <ada@example.org>: Recipient address rejected: User unknown"
    settings = seeded(smtp_settings(tmp_path, sqlite_url, port))
    report = send(settings)
    assert report.counts["failed"] == 1 and report.counts["sent"] == SAMPLE - 1
    state, error, status, failures, _ = rows(settings)["ada@example.org"]
    assert (state, status, failures) == ("failed", "bounced", 1)
    assert error == "550 5.1.1 <ada@example.org>: Recipient address rejected: User unknown"


def test_refusals_count_against_the_reader_only_when_they_blame_the_mailbox(tmp_path, sqlite_url, smtp_server):
    handler, port = smtp_server
    settings = seeded(smtp_settings(tmp_path, sqlite_url, port))
    with session_factory(settings.database_url).begin() as session:
        for subscriber in session.scalars(select(Subscriber)):
            subscriber.permanent_failures = 2 if subscriber.email == "grace@example.org" else 0
    handler.replies = ["552 5.3.4 Message size exceeds fixed limit", "250 OK",
                       "552 5.2.2 Mailbox full"]  # ada, grace... in subscriber order
    send(settings)
    state = rows(settings)
    # 5.3.4 is the size of our message, not the reader's mailbox: not counted against ada.
    assert state["ada@example.org"][:4] == ("failed", "552 5.3.4 Message size exceeds fixed limit", "active", 0)
    assert state["grace@example.org"][0] == "sent" and state["grace@example.org"][3] == 0  # success resets
    third = [email for email, row in state.items() if row[1] == "552 5.2.2 Mailbox full"]
    assert len(third) == 1 and state[third[0]][2:4] == ("active", 1)
    assert len(handler.messages) == SAMPLE - 2


def test_three_mailbox_refusals_in_a_row_suppress_the_address(tmp_path, sqlite_url, smtp_server):
    handler, port = smtp_server
    settings = seeded(smtp_settings(tmp_path, sqlite_url, port))
    with session_factory(settings.database_url).begin() as session:
        session.scalar(select(Subscriber).where(Subscriber.email == "ada@example.org")).permanent_failures = 2
    handler.replies = ["552 5.2.2 Mailbox full"]
    send(settings)
    assert rows(settings)["ada@example.org"][:4] == ("failed", "552 5.2.2 Mailbox full", "bounced", 3)


def test_connection_dropped_after_data_is_not_resent_at_once_but_later_with_the_same_message_id(
        tmp_path, sqlite_url, smtp_server, no_backoff_sleep):
    handler, port = smtp_server
    handler.drop_in_data = 1  # the relay hangs up after the end of DATA: it may have queued the message
    settings = seeded(smtp_settings(tmp_path, sqlite_url, port))
    first = send(settings)
    assert (first.counts["sent"], first.counts["unknown"]) == (SAMPLE - 1, 1) and not no_backoff_sleep
    waiting = {email: row for email, row in rows(settings).items() if row[0] == "pending"}
    assert len(waiting) == 1
    again = send(settings)  # a second run at once resends nothing: the retry waits
    assert again.counts["sent"] == 0 and not again.all_handled and "waiting to be retried" in again.summary()
    later = jobs.send_due(settings, NOW + dt.timedelta(minutes=11), respect_hour=False)
    assert later.counts["sent"] == 1
    ids = [m["Message-ID"] for m in parsed(handler)]
    assert len(ids) == len(set(ids)) == SAMPLE
    (email,) = waiting
    assert ids[-1] == waiting[email][4] == rows(settings)[email][4]


def test_slow_server_times_out_and_rows_wait_for_the_next_run(tmp_path, sqlite_url, smtp_server, no_backoff_sleep):
    handler, port = smtp_server
    handler.delay = 1.0
    settings = seeded(smtp_settings(tmp_path, sqlite_url, port, query="timeout=0.3"))
    report = send(settings)
    relay_down = delivery.RETRY.relay_down_after
    assert (report.counts["unknown"], report.counts["retry"], report.counts["sent"]) == (
        relay_down, SAMPLE - relay_down, 0)
    errors = [row[1] for row in rows(settings).values()]
    # A timeout waiting for the DATA reply is not resent at once (the relay may have queued it) ...
    assert all("timed out" in e for e in errors[:relay_down]) and not no_backoff_sleep
    # ... and after a few in a row the batch stops trying and leaves the rest pending.
    assert all(e.startswith("relay unavailable") for e in errors[relay_down:])
    handler.delay = 0
    assert send(settings).counts["sent"] == 0  # the maybe-queued ones wait; the untried ones wait for the relay
    later = jobs.send_due(settings, NOW + dt.timedelta(minutes=11), respect_hour=False)
    assert later.counts["sent"] == SAMPLE
    # The only duplicates are the maybe-queued ones, and they carry the same Message-ID.
    assert {m["Message-ID"] for m in parsed(handler)} == {row[4] for row in rows(settings).values()}


def test_connection_is_recycled_after_n_messages(tmp_path, sqlite_url, smtp_server):
    handler, port = smtp_server
    settings = seeded(smtp_settings(tmp_path, sqlite_url, port, query="timeout=5&recycle=2"))
    assert send(settings).counts["sent"] == SAMPLE and handler.sessions == 3


def test_idle_connection_is_checked_with_noop_and_replaced_when_dead(tmp_path, smtp_server):
    handler, port = smtp_server
    sender = mail.SmtpSender(load_settings(make_env(tmp_path, DIGEST_SMTP_URL=f"smtp://127.0.0.1:{port}"),
                                           read_dotenv=False).smtp, noop_after=0.0)
    data = b"Subject: x\r\n\r\nbody\r\n"
    assert sender.send("a@example.org", "b@example.org", data).startswith("250")
    sender._conn.sock.shutdown(socket.SHUT_RDWR)  # the connection died while idle
    assert sender.send("a@example.org", "c@example.org", data).startswith("250")
    sender.close()
    assert handler.sessions == 2 and len(handler.messages) == 2


# --- TLS and AUTH ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls_server(certificate):
    """aiosmtpd requiring STARTTLS and AUTH (user/secret), or implicit TLS, with a self-signed certificate."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"user", b"secret")
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd replies 535 itself

    started = []

    def start(implicit=False):
        handler = SmtpHandler()
        # With implicit TLS aiosmtpd cannot see the session is encrypted, so it must not insist on STARTTLS for AUTH.
        options = (dict(ssl_context=context, auth_require_tls=False) if implicit
                   else dict(tls_context=context, require_starttls=True))
        controller = Controller(handler, hostname="127.0.0.1", port=free_port(), authenticator=authenticator,
                                auth_required=True, **options)
        controller.start()
        started.append(controller)
        return handler, controller.port

    yield start
    for controller in started:
        controller.stop()


def test_starttls_with_a_self_signed_certificate_and_auth(tmp_path, sqlite_url, tls_server, certificate):
    handler, port = tls_server()
    settings = seeded(smtp_settings(tmp_path, sqlite_url, port, auth="user:secret@",
                                    query=f"tls=starttls&cafile={certificate[0]}&timeout=5"))
    assert send(settings).counts["sent"] == SAMPLE and len(handler.messages) == SAMPLE


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls_with_auth(tmp_path, sqlite_url, tls_server, certificate):
    handler, port = tls_server(implicit=True)
    settings = seeded(smtp_settings(tmp_path, sqlite_url, port, scheme="smtps", auth="user:secret@",
                                    query=f"cafile={certificate[0]}&timeout=5"))
    assert send(settings).counts["sent"] == SAMPLE and len(handler.messages) == SAMPLE


@pytest.mark.parametrize("auth, query, error", [
    ("user:wrong@", "tls=starttls&cafile={cert}&timeout=1", "535"),
    ("user:secret@", "tls=starttls&timeout=1", "CERTIFICATE_VERIFY_FAILED"),
])
def test_relay_session_failures_leave_rows_pending_and_never_blame_the_subscriber(
        tmp_path, sqlite_url, tls_server, certificate, auth, query, error):
    handler, port = tls_server()
    settings = seeded(smtp_settings(tmp_path, sqlite_url, port, auth=auth, query=query.format(cert=certificate[0])))
    report = send(settings)
    assert report.counts["retry"] == SAMPLE and not handler.messages
    errors = []
    for state, last_error, status, failures, _ in rows(settings).values():
        assert state == "pending" and status == "active" and failures == 0
        errors.append(last_error)
    # A session failure is the relay's (or ours): the first digest says why, the batch stops there.
    assert error in errors[0] and all(e == f"relay unavailable: {errors[0]}" for e in errors[1:])


# --- the global rate limit ------------------------------------------------------------------


def test_redis_rate_limit_is_shared_by_every_worker():
    key = f"digest:test-rate:{uuid.uuid4().hex}"
    waits = []
    workers = [mail.RedisRateLimiter(REDIS_URL, rate=20, key=key, sleep=waits.append) for _ in range(2)]
    for n in range(10):
        workers[n % 2].acquire()
    # Ten reservations at 20/s from two workers: the tenth waits about 9 × 50 ms.
    assert waits == sorted(waits) and 0.40 <= waits[-1] <= 0.46
    assert all(0.04 <= b - a <= 0.06 for a, b in zip(waits[1:], waits[2:]))


def test_local_rate_limit_spaces_messages():
    clock, slept = [100.0], []
    limiter = mail.LocalRateLimiter(rate=4, clock=lambda: clock[0], sleep=slept.append)
    for _ in range(5):
        limiter.acquire()
    assert slept == [0.25, 0.5, 0.75, 1.0]


def test_rate_limit_setting_reaches_the_smtp_sender(tmp_path):
    settings = load_settings(make_env(tmp_path, DIGEST_SMTP_URL="smtp://relay.example", DIGEST_SMTP_RATE="2.5"),
                             read_dotenv=False)
    sender = mail.make_sender(settings)
    assert isinstance(sender.limiter, mail.RedisRateLimiter) and sender.limiter.interval_ms == 400


# --- hostile input through the whole pipeline --------------------------------------------------

PAYLOAD = "<script>alert(1)</script><img src=x onerror=alert(2)> =?UTF-8?Q?=0A?=Bcc: victim@evil.example\r\nBcc: x@evil"


def test_injection_in_titles_authors_topics_and_names_reaches_no_header_and_no_markup(tmp_path, sqlite_url,
                                                                                        smtp_server):
    from digest.models import Paper

    handler, port = smtp_server
    settings = seeded(smtp_settings(tmp_path, sqlite_url, port))
    with session_factory(settings.database_url).begin() as session:
        for paper in session.scalars(select(Paper)):
            paper.title = f"{paper.title} {PAYLOAD}"
            paper.authors = [PAYLOAD, *(paper.authors or [])]
        for subscriber in session.scalars(select(Subscriber)):
            subscriber.name = PAYLOAD
            subscriber.topics = [f"{(subscriber.topics or ['x'])[0]} {PAYLOAD}", *(subscriber.topics or [])[1:]]
    assert send(settings).counts["sent"] >= 1
    for (_, rcpts, raw), msg in zip(handler.messages, parsed(handler)):
        head = raw.split(b"\r\n\r\n", 1)[0]
        names = [line.split(b":", 1)[0].lower() for line in head.split(b"\r\n") if line[:1] not in b" \t"]
        assert b"bcc" not in names and names.count(b"to") == 1 and names.count(b"subject") == 1
        assert msg["To"].addresses[0].addr_spec == rcpts[0] and "\n" not in msg["To"].addresses[0].display_name
        body = msg.get_body(preferencelist=("html",)).get_content().split("<body", 1)[1]
        assert "<script" not in body and "<img" not in body and "&lt;script&gt;" in body


def test_international_domain_goes_out_as_idna(tmp_path, sqlite_url, smtp_server):
    from digest.subscriptions import subscribe, validate_preferences

    handler, port = smtp_server
    settings = seeded(smtp_settings(tmp_path, sqlite_url, port))
    with session_factory(settings.database_url).begin() as session:
        subscribe(session, "ann@bücher.example", validate_preferences(topics=["LLM quantization"]), NOW)
    send(settings)
    sent = {rcpts[0]: msg for (_, rcpts, _), msg in zip(handler.messages, parsed(handler))}
    assert str(sent["ann@xn--bcher-kva.example"]["To"]) == "ann@xn--bcher-kva.example"
