"""The web edition ("View in browser") and the archive page in headless chromium, served by a real WSGI server:
1000 px and 390 px, light and dark. Screenshots: see tests/shots.py (copied to $DIGEST_SHOTS_DIR/web/)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from digest.config import load_settings
from helpers import free_port, make_env, serving
from history_site import make_history
from shots import Camera, background

pytestmark = pytest.mark.slow


@pytest.fixture
def site(tmp_path, sqlite_url):
    """Ada's history and the app that shows it, on a loopback port."""
    port = free_port()
    settings = load_settings(make_env(tmp_path, sqlite_url, DIGEST_BASE_URL=f"http://127.0.0.1:{port}"),
                             read_dotenv=False)
    history = make_history(settings)
    with serving(settings, port):
        yield history


def test_the_web_edition_and_the_archive_in_a_browser(site, browser, tmp_path):
    mail = site.mail("ada@example.org")
    view = re.search(r"^View in browser: (\S+)$", mail.get_body(("plain",)).get_content(), re.M).group(1)
    camera = Camera(browser, tmp_path / "web")
    backgrounds = {}
    for width, scheme, page in camera.each():
        styles_refused = []
        page.on("console", lambda msg: styles_refused.append(msg.text) if "Content Security Policy" in msg.text
                else None)
        page.goto(view)
        assert page.locator("div.card").count() == 8 and not styles_refused  # the stylesheet passed the CSP
        assert page.locator("strong.followed", has_text="Yann LeCun").count() == 1
        # Each card's key sentence, bold, and never smaller than the abstract under it (phones enlarge the abstract).
        assert page.locator("p.key strong").count() == 8
        key, abstract = (page.evaluate(f"getComputedStyle(document.querySelector('{s}')).fontSize")
                         for s in ("p.key", "p.abstract"))
        assert key == abstract, (width, key, abstract)
        backgrounds[scheme] = background(page, ".container")
        camera.shoot(page, f"edition-{width}-{scheme}")

        page.get_by_role("link", name="All your digests").click()
        page.get_by_role("heading", name="Your digests").wait_for()
        assert page.get_by_text("No new papers: arXiv does not announce on Saturdays.").is_visible()
        assert page.get_by_text("Nothing above your relevance floor").is_visible()
        camera.shoot(page, f"archive-{width}-{scheme}")
        page.get_by_role("link", name="Fri 31 Jul 2026").click()  # back to the edition from the archive
        page.locator("div.card").first.wait_for()
        assert urlsplit(page.url).path == urlsplit(view).path
    camera.publish("web")
    assert backgrounds == {"light": "rgb(255, 255, 255)", "dark": "rgb(39, 39, 42)"}
