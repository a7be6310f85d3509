"""Each figure of /admin and /metrics against seeded rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from html import unescape

import pytest
import redis
from freezegun import freeze_time

from admin_site import DAILY, PAPERS, TODAY, old_state, seed_dashboard
from digest.config import load_settings
from digest.dashboard import ticks
from digest.web import create_app
from helpers import REDIS_URL, RUN_ID, make_env
from test_admin_auth import BEARER, TOKEN

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def site(tmp_path, db_url):
    settings = load_settings(make_env(tmp_path, db_url, DIGEST_ADMIN_TOKEN=TOKEN, DIGEST_QUEUE=f"admin-{RUN_ID}"),
                             read_dotenv=False)
    seeded = seed_dashboard(settings, NOW)
    client = redis.Redis.from_url(REDIS_URL)
    yield create_app(settings).test_client(), seeded, settings
    client.delete(settings.queue, ticks.TICK_KEY.format(queue=settings.queue))


def _metrics(client) -> dict[str, float]:
    with freeze_time(NOW):
        text = client.get("/metrics", headers=BEARER).get_data(as_text=True)
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


def test_metrics_count_todays_digests_by_state_and_skip_reason(site):
    client, _, _ = site
    m = _metrics(client)
    wanted = Counter(state for _, state, *_ in TODAY)
    for state in ("pending", "sending", "sent", "skipped", "failed", "suppressed"):
        assert m[f'digest_digests{{edition="today",state="{state}"}}'] == wanted[state]
    assert m['digest_skipped_digests{edition="today",reason="nothing relevant"}'] == 1
    assert m['digest_skipped_digests{edition="today",reason="no new papers"}'] == 1
    yesterday = Counter(old_state(1, n)[0] for n in range(len(DAILY)))
    assert m['digest_digests{edition="yesterday",state="sent"}'] == yesterday["sent"]
    assert m['digest_digests{edition="yesterday",state="skipped"}'] == yesterday["skipped"]


def test_metrics_count_relay_replies_by_class(site):
    m = _metrics(site[0])
    sent = sum(1 for _, s, *_ in TODAY if s == "sent") + sum(old_state(1, n)[0] == "sent" for n in range(len(DAILY)))
    assert m['digest_smtp_replies{class="accepted"}'] == sent
    assert m['digest_smtp_replies{class="recipient"}'] == 1 and m['digest_smtp_replies{class="sender"}'] == 1
    assert m['digest_smtp_replies{class="transient"}'] == 0


def test_metrics_give_each_sources_ingest_and_errors(site):
    m = _metrics(site[0])
    assert m['digest_source_entries{source="arxiv-cs-lg",outcome="new"}'] == 5
    assert m['digest_source_entries{source="arxiv-cs-lg",outcome="problems"}'] == 1
    assert m['digest_source_new_papers_today{source="arxiv-cs-lg"}'] == PAPERS["arxiv-cs-lg"][0]
    assert m['digest_source_new_papers_today{source="openreview"}'] == PAPERS["openreview"][0]
    assert m['digest_source_errors{source="openreview"}'] == 3 and m['digest_source_errors{source="arxiv-cs-lg"}'] == 0
    assert m['digest_source_last_success_timestamp_seconds{source="arxiv-cs-lg"}'] == (
        NOW - dt.timedelta(hours=1)).timestamp()


def test_metrics_count_subscribers_and_returned_mail(site):
    m = _metrics(site[0])
    assert m['digest_subscribers{status="active",cadence="daily"}'] == len(DAILY)
    assert m['digest_subscribers{status="active",cadence="weekly"}'] == 2
    assert m['digest_subscribers{status="pending",cadence="weekly"}'] == 1
    assert m['digest_returned_messages{kind="bounce"}'] == 1  # the other two bounces are older than a day
    assert m['digest_returned_messages{kind="complaint"}'] == 1


def test_queue_depth_and_last_tick_come_from_redis_and_are_absent_before(site):
    client, _, settings = site
    before = _metrics(client)
    assert not any(k.startswith("digest_tick_") for k in before)
    assert before[f'digest_celery_queue_depth{{queue="{settings.queue}"}}'] == 0
    r = redis.Redis.from_url(REDIS_URL)
    r.rpush(settings.queue, "a", "b", "c")
    ticks.record_tick(r, settings.queue, NOW - dt.timedelta(minutes=2), 1.25, 7)
    after = _metrics(client)
    assert after[f'digest_celery_queue_depth{{queue="{settings.queue}"}}'] == 3
    assert after["digest_tick_duration_seconds"] == 1.25 and after["digest_tick_queued_digests"] == 7
    assert after["digest_tick_last_timestamp_seconds"] == (NOW - dt.timedelta(minutes=2)).timestamp()


def test_without_a_redis_broker_the_queue_depth_is_left_out(tmp_path, sqlite_url):
    settings = load_settings(make_env(tmp_path, sqlite_url, DIGEST_ADMIN_TOKEN=TOKEN,
                                      DIGEST_BROKER_URL="amqp://guest@127.0.0.1//"), read_dotenv=False)
    text = create_app(settings).test_client().get("/metrics", headers=BEARER).get_data(as_text=True)
    assert "digest_celery_queue_depth" not in text and "digest_subscribers" in text


def _cells(html: str, heading: str) -> str:
    """The dashboard's section under `heading`, up to the next one, tags removed."""
    section = html.split(f"<h2>{heading}", 1)[1].split("<h2>", 1)[0]
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section)))


def test_the_dashboard_shows_today_by_state(site):
    client, _, _ = site
    with freeze_time(NOW):
        html = client.get("/admin", headers=BEARER).get_data(as_text=True)
    today = _cells(html, "Today")
    wanted = Counter(state for _, state, *_ in TODAY)
    for state in ("pending", "sending", "sent", "skipped", "failed", "suppressed"):
        assert f" {wanted[state]} {state} " in today
    assert "1 no new papers, 1 nothing relevant" in today


def test_the_chart_has_a_bar_for_each_day_and_series(site):
    client, _, _ = site
    with freeze_time(NOW):
        html = client.get("/admin", headers=BEARER).get_data(as_text=True)
    titles = re.findall(r"<title>(\d{4}-\d\d-\d\d): (\d+) ([a-z: ]+)</title>", html)
    bars = {(d, label): int(n) for d, n, label in titles}
    for days_ago in (1, 3, 5, 29):
        date = (NOW.date() - dt.timedelta(days=days_ago)).isoformat()
        wanted = Counter(old_state(days_ago, n) for n in range(len(DAILY)))
        assert bars.get((date, "sent"), 0) == wanted[("sent", None)]
        assert bars.get((date, "skipped: no new papers"), 0) == wanted[("skipped", "no new papers today")]
        assert bars.get((date, "skipped: nothing relevant"), 0) == wanted[("skipped", "nothing relevant today")]
        assert bars.get((date, "failed"), 0) == wanted[("failed", "gave up after 5 tries")]
    assert bars[(NOW.date().isoformat(), "suppressed")] == 2
    assert not any(d < (NOW.date() - dt.timedelta(days=29)).isoformat() for d, _ in bars)


def test_the_dashboard_lists_failures_with_the_smtp_reply(site):
    client, seeded, _ = site
    with freeze_time(NOW):
        html = client.get("/admin", headers=BEARER).get_data(as_text=True)
    failures = _cells(html, "Failures")
    assert "reader4@example.org recipient refused by the recipient's server 550 5.1.1" in failures
    assert "zen.spamhaus.org" in failures
    assert f'href="/admin/subscribers/{seeded.ids["reader4@example.org"]}"' in html
    assert failures.count("421 4.4.2 connection dropped") == 1  # days 5 (in the week); day 10 is older


def test_the_dashboard_shows_sources_subscribers_and_returned_mail(site):
    client, _, _ = site
    with freeze_time(NOW):
        html = client.get("/admin", headers=BEARER).get_data(as_text=True)
    sources = _cells(html, "Sources")
    assert sources.index("openreview") < sources.index("arxiv-cs-lg")  # the failing source first
    assert "failing 3× in a row" in sources and "HTTP 503 Service Unavailable" in sources
    window = sum(n for d, n in PAPERS["arxiv-cs-lg"].items() if d < 30)
    assert f"{window} new papers in 30 days" in html and f"{sum(PAPERS['openreview'].values())} new papers" in html
    subscribers = _cells(html, "Subscribers")
    assert f"active {len(DAILY)} 2 {len(DAILY) + 2}" in subscribers and "complained 1 0 1" in subscribers
    returned = _cells(html, "Bounces and complaints")
    assert "2 bounces" in returned and "1 complaint " in returned  # the 40-day-old bounce is out
    assert "spam@example.org" in returned and "MAILER-DAEMON@mx.example.org" in returned


def test_an_unknown_subscriber_is_a_404_whatever_the_id(site):
    client, seeded, _ = site
    for path in ("/admin/subscribers/999999", "/admin/subscribers/99999999999999999999/preview"):
        assert client.get(path, headers=BEARER).status_code == 404
    missing = client.get("/admin/subscribers?email=nobody@example.org", headers=BEARER)
    assert missing.status_code == 404 and "Nobody is subscribed as nobody@example.org" in missing.get_data(as_text=True)
    found = client.get("/admin/subscribers?email=Reader4@Example.org", headers=BEARER)
    assert found.status_code == 303 and found.location == f"/admin/subscribers/{seeded.ids['reader4@example.org']}"
