"""The digest and confirmation emails as a mail client would show them: headless chromium, 1000 px and 390 px,
light and dark. Screenshots: see tests/shots.py (copied to $DIGEST_SHOTS_DIR/email/)."""

from __future__ import annotations

import datetime as dt
import json
from email import message_from_bytes, policy
from email.headerregistry import Address
from types import SimpleNamespace

import pytest

from digest.email import message, render
from digest.resources import resource_dir
from shots import Camera, background

TOPICS = ["LLM quantization", "efficient attention", "sparse matrices"]
CATEGORIES = [["cs.LG", "cs.AI", "stat.ML"], ["math-ph", "math.AP", "math.MP"], ["cs.CL"], ["cs.DS", "math.CO"]]
AUTHORS = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Kurt Gödel", "Emmy Noether", "Yann LeCun"]

pytestmark = pytest.mark.slow


def seed_paper(i: int, row: dict) -> SimpleNamespace:
    """A seed paper dressed as an arXiv paper: ids, categories, dates, now and then comments, upvotes, stars."""
    categories = CATEGORIES[i % 4]
    return SimpleNamespace(
        id=i, key=f"arxiv:2411.{i:05d}", version=1 + (i % 5 == 0), title=row["title"], abstract=row["abstract"],
        authors=AUTHORS[: 2 + i % 4] + (AUTHORS[5:] if i % 3 == 0 else []), categories=categories,
        url=f"https://arxiv.org/abs/2411.{i:05d}", pdf_url=f"https://arxiv.org/pdf/2411.{i:05d}",
        extra={"primary_category": categories[0], "announce_type": "cross" if i % 4 == 1 else "new",
               "comment": "24 pages, 5 figures; code at https://github.com/org/repo" if i % 3 == 1 else None,
               "journal_ref": "NeurIPS 2024" if i % 4 == 2 else None,
               **({"github_repo": "org/repo", "hf_url": f"https://huggingface.co/papers/2411.{i:05d}"}
                  if i % 4 == 0 else {})},
        announced_at=dt.datetime(2026, 11, 27, 5, tzinfo=dt.timezone.utc), upvotes=17 * i if i % 4 == 0 else 0,
        github_stars=1234 if i % 4 == 0 else 0, content_hash=str(i))


def seed_digest() -> tuple[bytes, list[str]]:
    """A real digest from the bundled seed papers, through render and the MIME builder."""
    rows = json.loads((resource_dir("seeds") / "papers.json").read_text())[:12]
    rows[0]["title"] = r"Sub-quadratic $O(n \log n)$ attention with $\alpha$-entmax"
    edition = render.EditionRenderer()
    cards = []
    for i, row in enumerate(rows, 1):
        topic = TOPICS[i % 3]
        key = row["abstract"].split(". ")[1] + "." if i in (1, 5) else ""
        cards.append(render.Card(edition.card_for(seed_paper(i, row)), f"matches “{topic}”", topic,
                                 f"https://digest.example.org/more/1.{i}.sig", f"https://digest.example.org/less/1.{i}.sig",
                                 key_sentence=key))
    content = render.DigestContent(email="ada@example.org", edition_date=dt.date(2026, 11, 28), cards=cards,
                                   topics=TOPICS, unsubscribe_url="https://digest.example.org/unsubscribe/t",
                                   preferences_url="https://digest.example.org/preferences/t",
                                   view_url="https://digest.example.org/edition/1.20261128.sig",
                                   followed=("Y. LeCun",))
    rendered = edition.assemble(content)
    envelope = message.Envelope(sender=Address("Paper Digest", "digest", "digest.example.org"),
                                to=message.safe_address("ada@example.org", "Ada"),
                                message_id="<digest.1.2026-11-28@digest.example.org>",
                                date=dt.datetime(2026, 11, 28, 7, tzinfo=dt.timezone.utc),
                                list_id="<digest.digest.example.org>", unsubscribe_url=content.unsubscribe_url)
    return message.build_bytes(rendered, envelope), [c.paper.title for c in cards]


def html_part(data: bytes) -> str:
    return message_from_bytes(data, policy=policy.default).get_body(preferencelist=("html",)).get_content()


def test_digest_renders_on_desktop_and_mobile_in_light_and_dark(browser, tmp_path):
    data, titles = seed_digest()
    html = html_part(data)
    camera = Camera(browser, tmp_path / "email")
    backgrounds = {}
    for width, scheme, page in camera.each(offline=True):
        page.set_content(html)
        assert page.locator("div.card").count() == len(titles)
        shown = page.inner_text("body")
        for title in titles:
            assert title.replace("$", "") in shown or "O(n log n)" in shown
        assert "Unsubscribe" in shown and "12 new papers" in shown and "View in browser" in shown
        assert page.locator("strong.followed").count() == 4 and page.locator("p.key strong").count() == 2
        key, abstract = (page.evaluate(f"getComputedStyle(document.querySelector('{s}')).fontSize")
                         for s in ("p.key", "p.abstract"))
        assert key == abstract, (width, key, abstract)  # the bold sentence is never smaller than the abstract
        assert page.locator(".badge").count() == 6 and "math.AP · cross-list from math-ph" in shown
        backgrounds[scheme] = background(page, ".container")
        camera.shoot(page, f"digest-{width}-{scheme}")
    camera.publish("email")
    assert backgrounds["light"] == "rgb(255, 255, 255)"
    assert backgrounds["dark"] == "rgb(39, 39, 42)"  # the prefers-color-scheme block wins over inline styles


@pytest.mark.parametrize("needs_confirmation", [True, False], ids=["confirm", "already-subscribed"])
def test_confirmation_email_has_dark_mode_and_keeps_words_whole_on_a_phone(browser, tmp_path, needs_confirmation):
    from digest.config import load_settings
    from digest.email.confirmation import build_confirmation
    from helpers import make_env

    settings = load_settings(make_env(tmp_path), read_dotenv=False)
    subscriber = SimpleNamespace(id=7, email="grace.hopper@example.org", email_key="grace.hopper@example.org",
                                 confirm_nonce="n0nce", topics=["efficient attention", "protein language models"],
                                 categories=["cs.LG"], exclude=[], authors=[], timezone="Asia/Tokyo", send_hour=8,
                                 max_papers=15, cadence="weekly", min_score=0.0, updates=False,
                                 pending_prefs=None)
    html = html_part(build_confirmation(settings, subscriber, settings.signing_key(), needs_confirmation,
                                        dt.datetime(2026, 11, 28, tzinfo=dt.timezone.utc)))
    camera = Camera(browser, tmp_path / "email")
    name = "confirm" if needs_confirmation else "already-subscribed"
    backgrounds = {}
    for width, scheme, page in camera.each(offline=True):
        page.set_content(html)
        button = page.get_by_role("link", name="Confirm my subscription" if needs_confirmation else "Manage preferences")
        assert button.is_visible()
        backgrounds[scheme] = (background(page, ".container"), page.evaluate(
            "getComputedStyle(document.querySelector('.button')).color"))
        camera.shoot(page, f"{name}-{width}-{scheme}")  # checks that no word is split across lines ("bro/wser")
    camera.publish("email")
    assert backgrounds["light"] == ("rgb(255, 255, 255)", "rgb(255, 255, 255)")
    assert backgrounds["dark"] == ("rgb(39, 39, 42)", "rgb(255, 255, 255)")
