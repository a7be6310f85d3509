"""The digest email as a mail client would show it: headless chromium, desktop and mobile, light and dark.

Screenshots are saved under artifacts/screenshots/email/ (git-ignored) for a human to look at.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from email import message_from_bytes, policy
from email.headerregistry import Address
from pathlib import Path
from types import SimpleNamespace

import pytest

from digest.email import message, render
from helpers import ROOT
from digest.resources import resource_dir

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "artifacts" / "screenshots" / "email"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "mobile": {"width": 375, "height": 740}}
TOPICS = ["LLM quantization", "efficient attention", "sparse matrices"]

pytestmark = pytest.mark.slow

# Decode the screenshot in the page itself: how many distinct colours, how much is not background.
PIXELS = """async (src) => {
  const img = new Image(); img.src = src; await img.decode();
  const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
  const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  const colours = new Set(); let differs = 0; const bg = [d[0], d[1], d[2]];
  for (let i = 0; i < d.length; i += 4 * 7) {
    colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    if (Math.abs(d[i] - bg[0]) + Math.abs(d[i + 1] - bg[1]) + Math.abs(d[i + 2] - bg[2]) > 30) differs++;
  }
  return {colours: colours.size, differs: differs / (d.length / 28)};
}"""


def seed_digest() -> tuple[bytes, list[str]]:
    """A real digest from the bundled seed papers, through render and the MIME builder."""
    rows = json.loads((resource_dir("seeds") / "papers.json").read_text())[:12]
    rows[0]["title"] = r"Sub-quadratic $O(n \log n)$ attention with $\alpha$-entmax"
    edition = render.EditionRenderer()
    cards = []
    for i, row in enumerate(rows, 1):
        paper = SimpleNamespace(id=i, title=row["title"], abstract=row["abstract"],
                                authors=["Ada Lovelace", "Grace Hopper", "Alan Turing", "Kurt Gödel", "Emmy Noether"],
                                url=f"https://arxiv.org/abs/2411.{i:05d}", pdf_url=f"https://arxiv.org/pdf/2411.{i:05d}",
                                extra={"github_repo": "org/repo"} if i % 4 == 0 else {}, content_hash=str(i))
        topic = TOPICS[i % 3]
        cards.append(render.Card(edition.card_for(paper), f"matches “{topic}”", topic))
    content = render.DigestContent(email="ada@example.org", edition_date=dt.date(2026, 11, 28), cards=cards,
                                   topics=TOPICS, unsubscribe_url="https://digest.example.org/unsubscribe/t",
                                   preferences_url="https://digest.example.org/preferences/t")
    rendered = edition.assemble(content)
    envelope = message.Envelope(sender=Address("Paper Digest", "digest", "digest.example.org"),
                                to=message.safe_address("ada@example.org", "Ada"),
                                message_id="<digest.1.2026-11-28@digest.example.org>",
                                date=dt.datetime(2026, 11, 28, 7, tzinfo=dt.timezone.utc),
                                list_id="<digest.digest.example.org>", unsubscribe_url=content.unsubscribe_url)
    return message.build_bytes(rendered, envelope), [c.paper.title for c in cards]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield browser
        browser.close()


def test_digest_renders_on_desktop_and_mobile_in_light_and_dark(browser):
    data, titles = seed_digest()
    html = message_from_bytes(data, policy=policy.default).get_body(preferencelist=("html",)).get_content()
    SHOTS.mkdir(parents=True, exist_ok=True)
    backgrounds = {}
    for scheme in ("light", "dark"):
        for name, viewport in VIEWPORTS.items():
            context = browser.new_context(viewport=viewport, color_scheme=scheme, is_mobile=name == "mobile")
            page = context.new_page()
            page.route("**/*", lambda route: route.abort())  # an email must not need the network
            page.set_content(html)
            assert page.locator("div.card").count() == len(titles)
            shown = page.inner_text("body")
            for title in titles:
                assert title.replace("$", "") in shown or "O(n log n)" in shown
            assert "Unsubscribe" in shown and "12 new papers" in shown
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll
            backgrounds[scheme] = page.evaluate("getComputedStyle(document.querySelector('.container')).backgroundColor")
            png = page.screenshot(full_page=True)
            (SHOTS / f"digest-{name}-{scheme}.png").write_bytes(png)
            pixels = page.evaluate(PIXELS, "data:image/png;base64," + base64.b64encode(png).decode())
            assert pixels["colours"] > 20 and pixels["differs"] > 0.05, pixels
            context.close()
    assert backgrounds["light"] == "rgb(255, 255, 255)"
    assert backgrounds["dark"] == "rgb(39, 39, 42)"  # the prefers-color-scheme block wins over inline styles
