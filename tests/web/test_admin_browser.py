"""The operator dashboard in headless chromium, served by a real WSGI server: log in, read the figures,
find a subscriber, see today's digest previewed, log out. Screenshots: tests/shots.py ($DIGEST_SHOTS_DIR/admin/)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from admin_site import seed_dashboard
from digest.config import load_settings
from digest.db import session_factory
from digest.ingest import bulk_upsert_papers
from digest.models import DigestItem, Paper
from digest.sources import PaperEntry
from helpers import free_port, make_env, serving
from history_site import make_history
from shots import Camera
from test_admin_auth import TOKEN

pytestmark = pytest.mark.slow


@pytest.fixture
def site(tmp_path, sqlite_url):
    """A seeded installation, and Ada: the history site's editions (sent, skipped), today's papers waiting."""
    port = free_port()
    settings = load_settings(make_env(tmp_path, sqlite_url, DIGEST_BASE_URL=f"http://127.0.0.1:{port}",
                                      DIGEST_ADMIN_TOKEN=TOKEN), read_dotenv=False)
    history = make_history(settings)
    now = dt.datetime.now(dt.timezone.utc)
    with session_factory(settings.database_url).begin() as session:
        # Ada's Friday papers announced again today under new ids: what her preview shows.
        sent = session.scalars(select(Paper).join(DigestItem, DigestItem.paper_id == Paper.id)
                               .where(DigestItem.subscriber_id == history.ada).limit(5)).all()
        fresh = [PaperEntry(key=f"arxiv:2612.{n:05d}", title=p.title, abstract=p.abstract, authors=p.authors,
                            categories=p.categories, url=f"https://arxiv.org/abs/2612.{n:05d}", version=1,
                            announced_at=now - dt.timedelta(hours=3)) for n, p in enumerate(sent, 1)]
        bulk_upsert_papers(session, fresh, "arxiv-rss", now - dt.timedelta(hours=2))
    seed_dashboard(settings, now)
    with serving(settings, port):
        yield f"http://127.0.0.1:{port}"


def test_the_dashboard_in_a_browser(site, browser, tmp_path):
    camera = Camera(browser, tmp_path / "admin")
    for width, scheme, page in camera.each():
        refused = []
        page.on("console", lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None)
        response = page.goto(f"{site}/admin")
        assert response.status == 401 and page.get_by_role("heading", name="Operator login").is_visible()
        page.get_by_label("Admin token").fill("not the token at all")
        page.get_by_role("button", name="Log in").click()
        assert page.get_by_text("That is not the admin token.").is_visible()
        if width == "390":  # at desktop width the short form leaves too little drawn for the blank-page check
            camera.shoot(page, f"login-{width}-{scheme}")
        page.get_by_label("Admin token").fill(TOKEN)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("heading", name="Operator dashboard").wait_for()
        assert page.locator("svg.chart rect").count() > 60  # 30 days of stacked bars
        assert page.locator("svg.spark polyline").count() >= 3
        assert page.get_by_text("failing 3× in a row").is_visible()
        camera.shoot(page, f"dashboard-{width}-{scheme}")

        page.get_by_label("Find a subscriber").fill("ADA@example.org")
        page.get_by_role("button", name="Find").click()
        page.get_by_role("heading", name="ada@example.org").wait_for()
        assert page.get_by_text("nothing relevant today", exact=False).count() >= 1  # Monday's skip, with its reason
        assert page.locator("ol.picks li").count() >= 1  # yesterday's picks, with score and reason
        frame = page.frame_locator("iframe.preview")
        frame.locator("body").wait_for()
        assert frame.locator("a[href^='https://arxiv.org/abs/2612.']").count() >= 1  # today's papers
        page.wait_for_timeout(300)
        camera.shoot(page, f"subscriber-{width}-{scheme}")

        page.get_by_role("link", name="← Dashboard").click()
        page.get_by_role("button", name="Log out").click()
        page.get_by_role("heading", name="Operator login").wait_for()
        assert page.goto(f"{site}/admin").status == 401
        assert not refused, refused  # nothing on the pages broke the Content-Security-Policy
    camera.publish("admin")
