"""No input forges mail: every known header-injection payload through the web form, the CLI and the send path.

Real parts only: the Flask app served over HTTP by werkzeug on loopback, the
aiosmtpd server from conftest, the `digest` console script in a subprocess,
and rows inserted straight into the database for the send path.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes, policy
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, build_opener

import pytest
from email_validator import validate_email
from sqlalchemy import insert, select

from helpers import free_port, make_env
from webserver import serving
from digest import ingest, jobs
from digest.config import ConfigError, load_settings
from digest.db import session_factory
from digest.models import Digest, Subscriber
from digest.subscriptions import normalise_email, validate_preferences
from digest.web import create_app
from payloads import ADDRESS_PAYLOADS

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.timezone.utc)
CONFIRMATION_HEADERS = {"from", "to", "subject", "date", "message-id", "auto-submitted", "mime-version",
                        "content-type"}
FORM = {"topics": "graphs", "categories": "", "exclude": "", "authors": "", "timezone": "UTC", "send_hour": "7",
        "cadence": "daily", "max_papers": "10"}


def ascii_address(address: str) -> str:
    return validate_email(address, check_deliverability=False).ascii_email


def assert_untouched(raw: bytes, rcpt_tos: list[str], address: str, headers: set[str]) -> None:
    """One message to exactly `address`, with exactly `headers`, and nothing a payload could add."""
    msg = message_from_bytes(raw, policy=policy.default)
    assert {name.lower() for name in msg.keys()} == headers
    assert rcpt_tos == [ascii_address(address)]
    (to,) = msg["To"].addresses
    assert to.addr_spec == ascii_address(address)
    for forged in (b"X-Injected", b"Bcc", b"evil@", b"FAKE BODY"):
        assert forged not in raw


def test_no_payload_is_accepted_by_the_rules_unless_it_is_one_plain_mailbox():
    assert len(ADDRESS_PAYLOADS) >= 25
    for label, address, expected in ADDRESS_PAYLOADS:
        try:
            normalise_email(address)
            outcome = "accept"
        except ValueError:
            outcome = "refuse"
        assert outcome == expected, label


# --- the web form, over real HTTP -------------------------------------------------------------


@pytest.fixture
def served(tmp_path, sqlite_url, smtp_server):
    """The app on a loopback port (werkzeug's server in a thread); yields (base URL, settings, SMTP handler)."""
    handler, smtp_port = smtp_server
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = load_settings(make_env(tmp_path, sqlite_url, DIGEST_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
                                      DIGEST_BASE_URL=base), read_dotenv=False)
    app = create_app(settings)
    app.extensions["digest"].limiter.prefix = f"digest-test:{uuid.uuid4().hex}"
    app.config["RATE_LIMITS"] = {"ip": (1000, 3600), "address": (1000, 3600)}
    with serving(app, port):
        yield base, settings, handler


def post_sign_up(base: str, email: str) -> tuple[int, str]:
    opener = build_opener(HTTPCookieProcessor(CookieJar()))
    page = opener.open(base + "/", timeout=10).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    body = urlencode({**FORM, "email": email, "csrf_token": token}).encode()
    try:
        with opener.open(base + "/", data=body, timeout=10) as response:
            return response.status, response.read().decode()
    except HTTPError as exc:
        return exc.code, exc.read().decode()


def stored_emails(settings) -> list[str]:
    with session_factory(settings.database_url)() as session:
        return list(session.scalars(select(Subscriber.email).order_by(Subscriber.id)))


def test_every_payload_through_the_web_form_is_refused_or_mailed_untouched(served, capsys):
    base, settings, handler = served
    handled, accepted = [], []
    for label, address, expected in ADDRESS_PAYLOADS:
        mails_before = len(handler.messages)
        status, page = post_sign_up(base, address)
        new_mail = handler.messages[mails_before:]
        if expected == "refuse":
            ok = status == 400 and "invalid email address" in page and not new_mail
        else:
            accepted.append(normalise_email(address))
            ok = status == 200 and len(new_mail) == 1
            if ok:
                _, rcpt_tos, raw = new_mail[0]
                assert_untouched(raw, rcpt_tos, address, CONFIRMATION_HEADERS)
        if ok:
            handled.append(label)
    assert stored_emails(settings) == accepted  # nothing refused was written
    with capsys.disabled():
        print(f"\nweb: {len(ADDRESS_PAYLOADS)} tried, {len(handled)} handled")
    assert [label for label, _, _ in ADDRESS_PAYLOADS] == handled


# --- the CLI, as a console script -------------------------------------------------------------


def test_every_payload_through_the_console_script_is_refused_with_one_line_or_added_untouched(
        tmp_path, sqlite_url, capsys):
    env = {**os.environ, **make_env(tmp_path, sqlite_url)}
    exe = Path(sys.executable).with_name("digest")
    # An argument cannot carry NUL (execve refuses it), so those payloads never reach the CLI.
    tried = [p for p in ADDRESS_PAYLOADS if "\x00" not in p[1]]

    def run(address: str):
        return subprocess.run([str(exe), "subscribe", address, "--topic", "graphs"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, [address for _, address, _ in tried]))
    handled = []
    for (label, address, expected), result in zip(tried, results):
        if expected == "refuse":
            ok = (result.returncode == 2 and result.stderr.strip().count("\n") == 0
                  and "invalid email address" in result.stderr and "Traceback" not in result.stderr)
        else:
            ok = result.returncode == 0 and f"subscribed {normalise_email(address)}" in result.stdout
        if ok:
            handled.append(label)
    settings = load_settings(make_env(tmp_path, sqlite_url), read_dotenv=False)
    assert sorted(stored_emails(settings)) == sorted(normalise_email(a) for _, a, e in tried if e == "accept")
    with capsys.disabled():
        print(f"\ncli: {len(tried)} tried, {len(handled)} handled")
    assert [label for label, _, _ in tried] == handled


# --- the send path: rows stored by an older version ------------------------------------------


def insert_hostile_rows(settings) -> list[str]:
    """Subscribers whose stored address the rules refuse, written straight to the table."""
    hostile = [address for _, address, expected in ADDRESS_PAYLOADS if expected == "refuse"
               and not ("\x00" in address and settings.database_url.startswith("postgresql"))]  # PG stores no NUL
    prefs = validate_preferences(topics=["quantization", "attention", "graphs"])
    rows = [{"email": address, "email_key": f"hostile-{n}", "status": "active", "status_at": NOW,
             "created_at": NOW, "confirmed_at": NOW, "permanent_failures": 0, "name": "",
             **{k: v for k, v in prefs.__dict__.items()}} for n, address in enumerate(hostile)]
    with session_factory(settings.database_url).begin() as session:
        session.execute(insert(Subscriber), rows)
    return hostile


def seeded_with_hostile_rows(settings) -> list[str]:
    jobs.run_ingest(settings, [ingest.seeds_spec()], NOW)
    jobs.load_sample_subscribers(settings, NOW)
    return insert_hostile_rows(settings)


def digest_states(settings) -> dict[str, tuple[str, str | None]]:
    with session_factory(settings.database_url)() as session:
        return {d.subscriber.email: (d.state, d.last_error) for d in session.scalars(select(Digest))}


def test_stored_hostile_addresses_fail_with_a_reason_and_the_others_are_sent(tmp_path, db_url, smtp_server):
    handler, port = smtp_server
    settings = load_settings(make_env(tmp_path, db_url, DIGEST_SMTP_URL=f"smtp://127.0.0.1:{port}"),
                             read_dotenv=False)
    hostile = seeded_with_hostile_rows(settings)
    report = jobs.send_due(settings, NOW, respect_hour=False)
    states = digest_states(settings)
    sent = {address for address, (state, _) in states.items() if state == "sent"}
    assert sent and not sent & set(hostile)
    for address in hostile:
        state, error = states[address]
        assert state == "failed" and "invalid email address" in error
    assert report.counts["failed"] == len(hostile)
    assert len(handler.messages) == len(sent)
    for _, rcpt_tos, raw in handler.messages:
        assert len(rcpt_tos) == 1 and rcpt_tos[0] in sent
        for forged in (b"X-Injected", b"Bcc", b"evil@", b"FAKE BODY"):
            assert forged not in raw


# --- seeds / demo import -----------------------------------------------------------------------


def test_sample_import_skips_refused_addresses_and_keeps_the_rest(tmp_path, sqlite_url):
    settings = load_settings(make_env(tmp_path, sqlite_url), read_dotenv=False)
    seeds = tmp_path / "subscribers.json"
    rows = [{"email": address} for _, address, _ in ADDRESS_PAYLOADS]
    seeds.write_text(__import__("json").dumps(rows), encoding="utf-8")
    created = jobs.load_sample_subscribers(settings, NOW, seeds)
    expected = [normalise_email(a) for _, a, e in ADDRESS_PAYLOADS if e == "accept"]
    assert created == len(expected)
    assert sorted(stored_emails(settings)) == sorted(expected)


# --- settings that reach headers -------------------------------------------------------------


@pytest.mark.parametrize("variable, value", [
    ("DIGEST_BASE_URL", "https://digest.example.org\r\nBcc: evil@x.com"),
    ("DIGEST_BASE_URL", "https://digest.example.org\nBcc: evil@x.com"),
    ("DIGEST_BASE_URL", "https://digest.example.org/\x00"),
    ("DIGEST_FROM", "Digest\rBcc: evil@x.com <digest@example.org>"),
    ("DIGEST_FROM", "Digest\u2028Bcc: evil@x.com <digest@example.org>"),
    ("DIGEST_FROM", "Digest <digest@example.org>\r\nBcc: evil@x.com"),
    ("DIGEST_LIST_UNSUBSCRIBE_MAILTO", "unsubscribe@example.org\r\nBcc: evil@x.com"),
    ("DIGEST_LIST_UNSUBSCRIBE_MAILTO", "unsub\tscribe@example.org"),
])
def test_settings_with_line_breaks_or_control_characters_are_refused_naming_the_variable(tmp_path, variable, value):
    with pytest.raises(ConfigError) as refused:
        load_settings(make_env(tmp_path, **{variable: value}), read_dotenv=False)
    assert str(refused.value).startswith(f"{variable}:") and "\n" not in str(refused.value)


def test_console_script_refuses_a_base_url_with_a_line_break_in_one_line(tmp_path, sqlite_url):
    env = {**os.environ, **make_env(tmp_path, sqlite_url, DIGEST_BASE_URL="https://x.example\nBcc: evil@x.com")}
    exe = Path(sys.executable).with_name("digest")
    result = subprocess.run([str(exe), "status"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0 and "DIGEST_BASE_URL" in result.stderr
