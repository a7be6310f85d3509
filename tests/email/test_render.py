"""Rendering: once-per-edition inlining, per-subscriber assembly, escaping, LaTeX, the size budget."""

import datetime as dt
import html as htmllib
import json
import re
from types import SimpleNamespace

import pytest

from digest.email import render
from digest.latex import readable
from digest.resources import resource_dir

EDITION = dt.date(2026, 11, 28)


def paper(i, title="A paper", abstract="Some words. " * 30, authors=("Ada Lovelace", "Alan Turing"), **kw):
    row = dict(id=i, title=title, abstract=abstract, authors=list(authors), url=f"https://arxiv.org/abs/2411.{i:05d}",
               pdf_url=f"https://arxiv.org/pdf/2411.{i:05d}", extra={}, content_hash=f"h{i}")
    row.update(kw)
    return SimpleNamespace(**row)


def content(cards, topics=("LLM quantization",), email="ada@example.org"):
    return render.DigestContent(email=email, edition_date=EDITION, cards=cards, topics=list(topics),
                                unsubscribe_url="https://digest.example.org/unsubscribe/tok?a=1&b=2",
                                preferences_url="https://digest.example.org/preferences/tok")


def seed_cards(n=20):
    rows = json.loads((resource_dir("seeds") / "papers.json").read_text())
    return [render.paper_card(paper(i, r["title"], r["abstract"])) for i, r in enumerate(rows[:n], 1)]


@pytest.fixture(scope="module")
def edition():
    return render.EditionRenderer()


def test_latex_in_titles_and_abstracts_reads_as_unicode():
    assert readable(r"Sorting in $O(n^2)$ time") == "Sorting in O(n²) time"
    assert readable(r"$\alpha$-divergence and $\ell_1$ bounds") == "α-divergence and ℓ₁ bounds"
    assert readable(r"Schr\"odinger meets Erd\H{o}s and G{\'e}rard") == "Schrödinger meets Erdős and Gérard"
    assert readable(r"99% of R&D at $\leq 10^{-3}$ cost") == "99% of R&D at ≤ 10⁻³ cost"
    assert readable("plain text stays") == "plain text stays"
    assert readable(r"\begin{foo} { $") == r"\begin{foo} { $"  # unknown and unpaired: kept as written


def test_card_shows_title_authors_reason_abstract_and_links(edition):
    row = paper(1, title=r"Fast $O(n \log n)$ sorting", authors=[f"Author {i}" for i in range(8)],
                extra={"hf_url": "https://huggingface.co/papers/2411.00001", "github_repo": "org/repo"})
    card = render.paper_card(row)
    assert card.authors == "Author 0, Author 1, Author 2, … Author 7"
    out = edition.assemble(content([render.Card(card, "matches “LLM quantization”", "LLM quantization")]))
    shown = htmllib.unescape(out.html)
    assert "Fast O(n log n) sorting" in shown and "$" not in shown.split("<body", 1)[1]
    assert "Author 0, Author 1, Author 2, … Author 7" in shown
    assert "Why: matches “LLM quantization”" in shown
    for link in ("https://arxiv.org/abs/2411.00001", "https://arxiv.org/pdf/2411.00001",
                 "https://huggingface.co/papers/2411.00001", "https://github.com/org/repo"):
        assert f'href="{link}"' in out.html and link in out.text
    assert "1 new paper matched your topics" in shown and "Sat 28 Nov 2026" in shown
    assert out.subject == "Paper digest for Sat 28 Nov 2026: 1 new paper on LLM quantization"


def test_cards_are_grouped_by_the_subscribers_topics_in_their_order(edition):
    cards = seed_cards(4)
    picks = [render.Card(cards[0], "r", "b topic"), render.Card(cards[1], "r", "a topic"),
             render.Card(cards[2], "r", "b topic"), render.Card(cards[3], "r", None)]
    out = edition.assemble(content(picks, topics=["a topic", "b topic"]))
    html = htmllib.unescape(out.html)
    assert html.index(">a topic</h2>") < html.index(cards[1].title) < html.index(">b topic</h2>")
    assert html.index(cards[0].title) < html.index(cards[2].title) < html.index(cards[3].title)
    assert "== a topic ==" in out.text and out.text.index("== a topic ==") < out.text.index("== b topic ==")


def test_css_is_inlined_and_dark_mode_and_mobile_blocks_are_kept(edition):
    html = edition.assemble(content([render.Card(c, "r") for c in seed_cards(2)])).html
    assert 'class="card" style="' in html and 'name="color-scheme" content="light dark"' in html
    style = html.split("<style>", 1)[1].split("</style>", 1)[0]
    assert "@media (prefers-color-scheme: dark)" in style and "max-width: 600px" in style
    assert "&#34;" not in style and "&lt;" not in style  # the stylesheet is not HTML-escaped


def test_premailer_runs_once_per_edition_not_per_subscriber(monkeypatch):
    calls = []
    real = render.inline_css
    monkeypatch.setattr(render, "inline_css", lambda html: calls.append(1) or real(html))
    edition = render.EditionRenderer()
    cards = seed_cards(20)
    edition.prepare(cards)
    after_prepare = len(calls)
    for n in range(30):
        edition.assemble(content([render.Card(c, f"reason {n}") for c in cards[n % 5 :]], email=f"u{n}@example.org"))
    assert after_prepare == 3  # shell, fragments, every card in one document
    assert len(calls) == after_prepare


def test_feed_and_subscriber_text_is_escaped_everywhere(edition):
    evil = '<script>alert(1)</script><img src=x onerror=alert(2)>"\''
    row = paper(2, title=evil, authors=[evil, "B"], abstract=evil, url="javascript:alert(3)",
                extra={"github_repo": 'x" onclick="alert(4)', "hf_url": "data:text/html,hi"})
    card = render.paper_card(row)
    out = edition.assemble(content([render.Card(card, evil, evil)], topics=[evil], email='a"<b>@example.org'))
    body = out.html.split("<body", 1)[1]
    assert "<script" not in body and "<img" not in body and "javascript:" not in body and "data:text" not in body
    assert 'onclick="' not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_feed_text_cannot_forge_a_hole_marker():
    edition = render.EditionRenderer()
    marker = f"{edition._nonce}reason{edition._nonce}"
    card = render.paper_card(paper(3, title=f"title {marker}"))
    out = edition.assemble(content([render.Card(card, "the reason")]))
    assert out.html.count("the reason") == 1


def test_size_budget_trims_abstracts_then_cards_and_keeps_the_footer():
    # Non-ASCII text is sent as character references (7 bytes per CJK character): the budget counts those.
    cards = [render.paper_card(paper(i, title=f"Paper {i} " + "论文" * 80, abstract="数据" * 300)) for i in range(50)]
    picks = [render.Card(c, "matches “x”") for c in cards]
    full = render.EditionRenderer(budget=10**7).assemble(content(picks[:25]))
    assert len(full.html) > render.HTML_BUDGET

    trimmed = render.EditionRenderer().assemble(content(picks[:25]))
    assert full.html.isascii() and len(trimmed.html) <= render.HTML_BUDGET
    assert trimmed.paper_ids == [c.paper_id for c in cards[:25]]  # abstracts shortened, every card kept
    assert trimmed.html.count("&#25968;") < full.html.count("&#25968;")

    tight = render.EditionRenderer().assemble(content(picks))
    assert len(tight.html) <= render.HTML_BUDGET
    assert 0 < len(tight.paper_ids) < 50 and tight.paper_ids == [c.paper_id for c in cards[: len(tight.paper_ids)]]
    assert "&#25968;" not in tight.html  # abstracts went first, then cards
    assert f"{50 - len(tight.paper_ids)} more matching paper(s)" in tight.html
    assert tight.text.count(". Paper ") == len(tight.paper_ids)
    for out in (trimmed, tight):
        assert "Unsubscribe</a>" in out.html and "https://digest.example.org/unsubscribe/tok?a=1&amp;b=2" in out.html
        assert out.html.rstrip().endswith("</html>")


def test_a_changed_paper_gets_a_fresh_card(edition):
    first = edition.card_for(paper(77, title="Old title"))
    edition.prepare([first])
    second = edition.card_for(paper(77, title="New title", content_hash="changed"))
    out = edition.assemble(content([render.Card(second, "r")]))
    assert "New title" in out.html and "Old title" not in out.html


def test_a_reader_without_topics_is_not_told_the_papers_matched_their_topics(edition):
    out = edition.assemble(content([render.Card(render.paper_card(paper(1)), "trending: 31 upvotes", None)], topics=()))
    shown = htmllib.unescape(out.html)
    assert "1 new paper picked for you" in shown and "1 new paper picked for you" in out.text
    assert "matched your topics" not in shown and "matched your topics" not in out.text


def feedback_card(card, reader: int, reason="matches “x”"):
    token = f"{reader}.{card.paper_id}.SIGNATURE-{reader}"
    return render.Card(card, reason, None, f"https://digest.example.org/more/{token}",
                       f"https://digest.example.org/less/{token}")


def test_every_card_carries_its_readers_own_feedback_links_in_html_and_text(edition):
    cards = seed_cards(3)
    ada = edition.assemble(content([feedback_card(c, 1) for c in cards]))
    bob = edition.assemble(content([feedback_card(c, 2) for c in cards], email="bob@example.org"))  # same cache
    for reader, out in ((1, ada), (2, bob)):
        for card in cards:
            for choice, label in (("more", "More like this"), ("less", "Less like this")):
                url = f"https://digest.example.org/{choice}/{reader}.{card.paper_id}.SIGNATURE-{reader}"
                assert re.search(rf'<a href="{re.escape(url)}"[^>]*>{label}</a>', out.html)
                assert f"   {label}: {url}\n" in out.text
        assert out.html.count(">More like this</a>") == out.html.count('class="card"') == 3
        assert f"SIGNATURE-{3 - reader}" not in out.html + out.text  # nothing of the other reader's
    assert 'class="feedback" style="' in ada.html  # styled once per edition like the rest of the card
    plain = edition.assemble(content([render.Card(c, "r") for c in cards]))  # a preview without links
    assert "like this" not in plain.html + plain.text


def test_size_budget_counts_the_feedback_links():
    cards = [render.paper_card(paper(i, title=f"Paper {i} " + "论文" * 80, abstract="数据" * 300)) for i in range(50)]
    picks = [feedback_card(c, 123456) for c in cards]
    without = render.EditionRenderer().assemble(content([render.Card(c, "matches “x”") for c in cards]))
    tight = render.EditionRenderer().assemble(content(picks))
    assert len(tight.html) <= render.HTML_BUDGET and "Unsubscribe</a>" in tight.html
    assert 0 < len(tight.paper_ids) < len(without.paper_ids)  # the links take room: fewer cards fit
    assert tight.html.count(">More like this</a>") == tight.html.count(">Less like this</a>") == len(tight.paper_ids)
    assert f"{50 - len(tight.paper_ids)} more matching paper(s)" in tight.html


def test_a_digests_feedback_links_are_signed_for_its_reader_and_paper(tmp_path):
    from digest.config import load_settings
    from digest.email.compose import build_content
    from digest.tokens import read_paper_token
    from helpers import make_env
    from digest.ranking import Pick

    settings = load_settings(make_env(tmp_path), read_dotenv=False)
    reader = SimpleNamespace(id=42, email="ada@example.org", topics=["x"])
    rows = {7: paper(7), 9: paper(9)}
    picks = [Pick(7, 0.9, "r", "x"), Pick(9, 0.8, "r", "x")]
    shown = build_content(settings, reader, EDITION, picks, rows)
    for card, pick in zip(shown.cards, picks):
        more, less = card.more_url, card.less_url
        assert more.startswith("https://digest.example.org/more/") and less.startswith("https://digest.example.org/less/")
        assert more.rsplit("/", 1)[1] == less.rsplit("/", 1)[1]
        assert read_paper_token(settings.signing_key(), more.rsplit("/", 1)[1]) == (42, pick.paper_id)
