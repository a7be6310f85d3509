"""The whole self-service flow in a real browser (Debian's headless chromium, driven by Playwright).

The app is served on loopback by a real WSGI server, the confirmation email
arrives at a real SMTP server, and every page is saved as a screenshot in
artifacts/screenshots/web/.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import select

from helpers import ROOT, free_port, make_env, serving
from digest import subscriptions as subs
from digest.config import load_settings
from digest.db import session_factory
from digest.email.compose import build_content
from digest.models import Digest, DigestItem, Paper

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "artifacts" / "screenshots" / "web"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]
XSS_TOPIC = '<img src=x onerror="window.__xss=1">'

pytestmark = pytest.mark.slow


@pytest.fixture
def site(tmp_path, sqlite_url, smtp_server):
    """The app on a loopback port, its settings, and the SMTP handler that receives its mail."""
    handler, smtp_port = smtp_server
    port = free_port()
    env = make_env(tmp_path, sqlite_url, DIGEST_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
                   DIGEST_BASE_URL=f"http://127.0.0.1:{port}")
    settings = load_settings(env, read_dotenv=False)
    with serving(settings, port):
        yield settings, handler


@pytest.fixture
def page():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        # A phone-sized viewport in a zone other than the server's default.
        context = browser.new_context(viewport={"width": 390, "height": 844}, timezone_id="Asia/Tokyo")
        context.set_default_timeout(10_000)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def wait_for_mail(handler, count: int = 1, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while len(handler.messages) < count:
        if time.monotonic() > deadline:
            pytest.fail("no confirmation email arrived")
        time.sleep(0.05)
    return message_from_bytes(handler.messages[count - 1][2], policy=policy.default)


def row(settings, email: str):
    with session_factory(settings.database_url)() as session:
        return subs.get_subscriber(session, email)


def add_sent_digest(settings, subscriber_id: int) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    with session_factory(settings.database_url).begin() as session:
        paper = Paper(key="arxiv:2611.04242", title="Scaling laws for protein language models",
                      url="https://arxiv.org/abs/2611.04242", first_seen_at=now, updated_at=now, content_hash="p")
        digest = Digest(subscriber_id=subscriber_id, edition_date=dt.date(2026, 11, 27), state="sent",
                        created_at=now, updated_at=now, sent_at=now)
        session.add_all([paper, digest])
        session.flush()
        session.add(DigestItem(digest_id=digest.id, subscriber_id=subscriber_id, paper_id=paper.id, rank=1,
                               score=0.9, reason="Matches your topic"))


def test_subscribe_confirm_change_preferences_and_unsubscribe_in_a_browser(site, page):
    settings, smtp = site
    base = settings.base_url

    # Subscribe: the time zone defaults to the browser's.
    page.goto(base + "/")
    assert page.locator("#timezone").input_value() == "Asia/Tokyo"
    page.get_by_label("Email address").fill("Grace.Hopper@Example.org")
    page.get_by_label("Topics").fill(f"efficient attention\n{XSS_TOPIC}")
    page.get_by_label("arXiv categories").fill("cs.LG, cs.CL")
    page.get_by_label("Send at").select_option("8")
    page.get_by_label("Weekly").check()
    page.get_by_label("Papers per email").fill("15")
    shot(page, "1-subscribe")
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()
    shot(page, "2-check-your-inbox")
    assert row(settings, "grace.hopper@example.org").status == "pending"

    # The confirmation email arrives; its link shows a button, and only the button confirms.
    mail = wait_for_mail(smtp)
    assert mail["To"] == "Grace.Hopper@example.org"
    link = re.search(rf"{re.escape(base)}/confirm/\S+", mail.get_body(("plain",)).get_content()).group(0)
    page.goto(link)
    shot(page, "3-confirm")
    assert row(settings, "grace.hopper@example.org").status == "pending"
    page.get_by_role("button", name="Confirm my subscription").click()
    page.get_by_role("heading", name="You're subscribed").wait_for()
    shot(page, "4-confirmed")
    subscriber = row(settings, "grace.hopper@example.org")
    assert (subscriber.status, subscriber.timezone, subscriber.send_hour, subscriber.cadence,
            subscriber.max_papers, subscriber.categories) == ("active", "Asia/Tokyo", 8, "weekly", 15, ["cs.LG", "cs.CL"])

    # Preferences: the last digest with its papers; the stored payload stays text.
    add_sent_digest(settings, subscriber.id)
    page.get_by_role("link", name="Manage preferences").click()
    page.get_by_role("link", name="Scaling laws for protein language models").wait_for()
    assert page.evaluate("window.__xss") is None
    assert XSS_TOPIC in page.get_by_label("Topics").input_value()
    page.get_by_label("Topics").fill("protein language models")
    page.get_by_label("Send at").select_option("18")
    page.get_by_label("Daily").check()
    page.get_by_role("button", name="Save preferences").click()
    page.get_by_text("Changes apply from the next edition").wait_for()
    shot(page, "5-preferences-saved")
    subscriber = row(settings, "grace.hopper@example.org")
    assert (subscriber.topics, subscriber.send_hour, subscriber.cadence) == (["protein language models"], 18, "daily")

    # Unsubscribe from the digest footer's link: GET shows a button, the button unsubscribes.
    footer = build_content(settings, subscriber, dt.date(2026, 11, 28), [], {})
    page.goto(footer.unsubscribe_url)
    shot(page, "6-unsubscribe")
    assert row(settings, "grace.hopper@example.org").status == "active"
    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("heading", name="You're unsubscribed").wait_for()
    shot(page, "7-unsubscribed")
    assert row(settings, "grace.hopper@example.org").status == "unsubscribed"


def test_more_like_this_from_a_rendered_digest_in_a_browser(site, page):
    from digest import feedback
    from digest.email.render import render_digest
    from digest.ingest import SourceSpec, ingest_source
    from digest.ranking import Pick

    from helpers import FIXTURES

    settings, _ = site
    now = dt.datetime(2026, 4, 28, 12, tzinfo=dt.timezone.utc)
    with session_factory(settings.database_url).begin() as session:
        ingest_source(session, SourceSpec("cs-lg", str(FIXTURES / "arxiv-rss-new" / "cs.LG_2026-04-27_3items.xml"),
                                          "arxiv-rss"), now)
        reader, _ = subs.subscribe(session, "grace@example.org", subs.validate_preferences(topics=["anomalies"]), now)
        papers = {p.id: p for p in session.scalars(select(Paper).order_by(Paper.id))}
        picks = [Pick(pid, 0.9 - i / 10, "Matches your topic “anomalies”", "anomalies") for i, pid in enumerate(papers)]
        html = render_digest(build_content(settings, reader, now.date(), picks, papers)).html
        reader_id, chosen = reader.id, papers[picks[1].paper_id]
        chosen_id, chosen_title = chosen.id, chosen.title

    # The digest as a mail client shows it; the reader clicks the second card's "More like this".
    page.set_content(html)
    card = page.locator(".card").filter(has_text=chosen_title)
    card.get_by_role("link", name="More like this").click()
    page.get_by_role("heading", name="More like this?").wait_for()
    shot(page, "8-more-like-this")
    assert page.get_by_label("More like this").is_checked() and chosen_title in page.locator("main").inner_text()
    with session_factory(settings.database_url)() as session:
        assert feedback.get_choice(session, reader_id, session.get(Paper, chosen_id)) is None  # the GET changed nothing
    page.get_by_role("button", name="Save my choice").click()
    page.get_by_role("heading", name="Thanks, noted").wait_for()
    shot(page, "9-noted")
    with session_factory(settings.database_url)() as session:
        assert feedback.get_choice(session, reader_id, session.get(Paper, chosen_id)) == feedback.LIKE

    # The answer offers undo; the preferences page lists the paper with a remove button.
    page.get_by_role("button", name="Undo").click()
    page.get_by_role("heading", name="Undone").wait_for()
    with session_factory(settings.database_url)() as session:
        assert feedback.get_choice(session, reader_id, session.get(Paper, chosen_id)) is None
    page.set_content(html)  # the digest again: this time the choice stays
    page.locator(".card").filter(has_text=chosen_title).get_by_role("link", name="More like this").click()
    page.get_by_role("button", name="Save my choice").click()
    page.get_by_role("link", name="See every paper you rated").click()
    page.get_by_role("link", name=chosen_title).wait_for()
    shot(page, "10-rated-on-preferences")
    page.get_by_role("button", name=f"Remove {chosen_title}").click()
    page.get_by_text("Removed. It counts no more").wait_for()
    with session_factory(settings.database_url)() as session:
        assert feedback.get_choice(session, reader_id, session.get(Paper, chosen_id)) is None
