"""What each card says the paper is: arXiv id, categories, date, comments, badges, followed authors, key sentence."""

from __future__ import annotations

import datetime as dt
import html as htmllib
import re
from dataclasses import replace
from types import SimpleNamespace

import pytest

from digest.email import cards, render
from digest.sources import parse
from helpers import FIXTURES

EDITION = dt.date(2026, 11, 28)


def row_of(entry, paper_id: int = 1, **kw) -> SimpleNamespace:
    """A paper row as ingest stores a parsed entry (extra without empty values)."""
    values = dict(id=paper_id, key=entry.key, version=entry.version, title=entry.title, abstract=entry.abstract,
                  authors=entry.authors, categories=entry.categories, url=entry.url, pdf_url=entry.pdf_url,
                  extra={k: v for k, v in entry.extra.items() if v not in (None, "", [])},
                  announced_at=entry.announced_at, upvotes=entry.upvotes, github_stars=entry.github_stars,
                  content_hash=f"h{paper_id}")
    values.update(kw)
    return SimpleNamespace(**values)


def entry(kind: str, path, key: str):
    return next(e for e in parse(kind, path.read_bytes()).entries if e.key == key)


def digest(*picks, edition: render.EditionRenderer | None = None, **kw) -> render.Rendered:
    content = render.DigestContent(email="ada@example.org", edition_date=EDITION, cards=list(picks), **kw)
    return (edition or render.EditionRenderer()).assemble(content)


def card_text(out: render.Rendered, title: str) -> str:
    """One card of the text part: from its numbered title line to the next blank line."""
    return re.search(rf"^\d+\. {re.escape(title)}\n(.*?)\n\n", out.text, re.S | re.M).group(0)


def plain(text: str) -> str:
    """Non-breaking spaces (inside dates) as spaces."""
    return text.replace("\u00a0", " ")


def card_html(out: render.Rendered, title: str) -> str:
    body = plain(htmllib.unescape(out.html))
    start = body.index(title)
    return body[start:body.index("</div>", start)]


@pytest.mark.parametrize("categories, primary, announce_type, expected", [
    (["cs.LG", "cs.AI", "stat.ML"], "cs.LG", "new", "cs.LG · also cs.AI, stat.ML"),
    (["math-ph", "math.AP", "math.MP"], "math-ph", "cross", "math.AP · cross-list from math-ph"),  # math.MP = math-ph
    (["math-ph", "math.AP", "math.MP"], "math-ph", "replace-cross", "math.AP · cross-list from math-ph"),
    (["cs.CL"], "", "new", "cs.CL"),  # the first listed stands in for a missing primary
    (["cs.DS"], "cs.DS", "cross", "cross-list from cs.DS"),  # old RDF feeds name only the primary
    (["math.NA", "cs.NA", "cs.LG"], "math.NA", "replace", "math.NA · also cs.LG"),
    (["a.A", "b.B", "c.C", "d.D", "e.E", "f.F"], "a.A", "new", "a.A · also b.B, c.C, d.D, e.E …"),
    ([], "", None, ""),
])
def test_categories_read_as_primary_and_cross_lists(categories, primary, announce_type, expected):
    assert cards.subjects(categories, primary, announce_type or "") == expected


def test_an_rss_cross_list_shows_id_categories_announcement_day_and_journal_reference():
    found = entry("arxiv-rss", FIXTURES / "arxiv-rss-new" / "all-archives_2024-11-28_part2of2.xml", "arxiv:2202.06515")
    row = row_of(found)
    card = cards.paper_card(row)
    assert tuple(map(plain, card.facts)) == ("arXiv:2202.06515v3", "astro-ph.GA, physics.flu-dyn · cross-list from astro-ph.CO",
                          "announced 28 Nov 2024")  # the list's own day (US Eastern), not 05:00 UTC's
    assert card.notes == (("Journal ref", "Physics of Fluids 36, 117158 (2024)"),)
    out = digest(render.Card(card, "matches “dark matter”"))
    shown = card_html(out, row.title)
    assert "arXiv:2202.06515v3 · astro-ph.GA, physics.flu-dyn · cross-list from astro-ph.CO · announced 28 Nov 2024" \
        in shown and "Journal ref: Physics of Fluids 36, 117158 (2024)" in shown
    text = card_text(out, row.title)
    assert "   arXiv:2202.06515v3 · astro-ph.GA, physics.flu-dyn ·\n" \
           "   cross-list from astro-ph.CO · announced 28 Nov 2024\n" in text  # wrapped after separators only
    assert "   Journal ref: Physics of Fluids 36, 117158 (2024)\n" in text


def test_an_api_paper_shows_its_submission_day_and_the_submitters_comment():
    found = entry("arxiv-api", FIXTURES / "arxiv-api" / "api-old_2024-12_all-electron_affiliation-doi-journalref.xml",
                  "arxiv:cond-mat/0102536")
    card = cards.paper_card(row_of(found))
    assert card.facts[0] == "arXiv:cond-mat/0102536" and card.facts[-1] == "submitted\u00a028\u00a0Feb\u00a02001"
    assert [label for label, _ in card.notes] == ["Comments", "Journal ref"]
    assert card.notes[1][1] == "J. Chem. Phys. 115, 1626 (2001)"
    assert all(len(text) <= cards.NOTE_CHARS + 1 for _, text in card.notes)


def test_upvotes_and_stars_are_small_badges_and_absent_when_zero():
    found = entry("hf-daily", FIXTURES / "hf-daily" / "hf_daily_papers_2026-07-31_raw.json", "arxiv:2607.23193")
    popular = cards.paper_card(row_of(found, 1, upvotes=31, github_stars=1204))
    quiet = cards.paper_card(row_of(found, 2, upvotes=0, github_stars=0))
    assert popular.badges == ("▲ 31 upvotes", "★ 1.2k stars") and quiet.badges == ()
    assert [cards.count(n) for n in (1, 950, 1000, 1249, 12_345, 3_400_000)] == ["1", "950", "1k", "1.2k", "12k",
                                                                                 "3.4M"]
    out = digest(render.Card(popular, "trending"))
    assert out.html.count('class="badge"') == 2 and "&#9650; 31 upvotes</span>" in out.html
    assert "   arXiv:2607.23193 · published 28 Jul 2026 · ▲ 31 upvotes ·\n   ★ 1.2k stars\n" in out.text


def test_a_listing_paper_without_authors_or_details_has_no_empty_lines():
    listing = parse("listing", (FIXTURES.parent / "seeds" / "trending-papers-listing.txt").read_bytes()).entries[0]
    row = row_of(listing, authors=[])
    out = digest(render.Card(cards.paper_card(row), "matches “agents”"))
    text = card_text(out, row.title)
    assert "\n   \n" not in text and "\n\n" not in text.strip("\n")
    assert text.splitlines()[1] == "   Why: matches “agents”"  # straight from the title to the reason
    body = out.html.split("<body", 1)[1]
    assert 'class="authors"' not in body and 'class="meta"' not in body and 'class="notes"' not in body
    assert not re.search(r"<p[^>]*>\s*</p>", body)


def test_followed_authors_are_highlighted_even_where_the_list_is_shortened():
    authors = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Kurt Gödel", "Yoshua Bengio", "Emmy Noether"]
    row = SimpleNamespace(id=5, title="A paper", abstract="Words.", authors=authors, url=None, pdf_url=None, extra={},
                          content_hash="h5")
    edition = render.EditionRenderer()
    picks = [render.Card(edition.card_for(row), "by an author you follow")]

    def assemble(*followed):
        return edition.assemble(render.DigestContent(email="a@example.org", edition_date=EDITION, cards=picks,
                                                     followed=followed))

    fan, other, by_initial = assemble("Yoshua Bengio"), assemble(), assemble("A. Lovelace", "Emmy noether")
    assert re.search(r'Alan Turing, &#8230; <strong class="followed"[^>]*>Yoshua Bengio</strong>, Emmy Noether',
                     fan.html)
    assert "   Ada Lovelace, Grace Hopper, Alan Turing, … *Yoshua Bengio*, Emmy Noether\n" in fan.text
    assert "followed" not in other.html.split("<body", 1)[1] and "Bengio" not in other.html  # the same cache
    assert "   Ada Lovelace, Grace Hopper, Alan Turing, … Emmy Noether\n" in other.text
    assert "   *Ada Lovelace*, Grace Hopper, Alan Turing, … *Emmy Noether*\n" in by_initial.text


def test_a_key_sentence_is_bold_under_the_title_before_the_abstract():
    row = SimpleNamespace(id=6, title="A paper", abstract="First sentence. The key one. Last.", authors=["A B"],
                          url=None, pdf_url=None, extra={}, content_hash="h6")
    card = cards.paper_card(row)
    out = digest(render.Card(card, "r", key_sentence="The key one."), render.Card(cards.paper_card(
        SimpleNamespace(**{**vars(row), "id": 7, "title": "Another paper", "content_hash": "h7"})), "r"))
    shown = card_html(out, "A paper")
    # Bold in its own paragraph, and bold without any style too (<strong>: a feed reader drops them).
    assert re.search(r'<p class="key" style="[^"]*"><strong>The key one\.</strong></p>', shown)
    assert shown.index("The key one.") < shown.index("First sentence.")
    text = card_text(out, "A paper")
    assert text.index("   *The key one.*\n") < text.index("   Why: r") < text.index("First sentence.")
    assert 'class="key"' not in card_html(out, "Another paper") and "*" not in card_text(out, "Another paper")


@pytest.mark.parametrize("key, shown", [
    ("We study reinforcement learning for agents.", "Policy gradients converge. Experiments confirm it."),
    ("We study reinforcement learning…", "Policy gradients converge. Experiments confirm it."),  # cut short
    ("Policy gradients converge.", "We study reinforcement learning for agents. Policy gradients converge."),
])
def test_a_key_sentence_that_opens_the_abstract_is_not_repeated_under_it(key, shown):
    row = SimpleNamespace(id=6, title="A paper", abstract="We study reinforcement learning for agents.  Policy "
                          "gradients converge. Experiments confirm it.", authors=["A B"], url=None, pdf_url=None,
                          extra={}, content_hash="h6")
    out = digest(render.Card(cards.paper_card(row), "r", key_sentence=key))
    html_card, text_card = card_html(out, "A paper"), " ".join(card_text(out, "A paper").split())
    after_key = html_card[html_card.index("</strong>"):]
    assert shown in " ".join(after_key.split()) and shown in text_card
    assert after_key.count("We study") == shown.count("We study")


def test_a_one_sentence_abstract_that_is_the_key_sentence_is_shown_once():
    row = SimpleNamespace(id=6, title="A paper", abstract="Only this.", authors=["A B"], url=None, pdf_url=None,
                          extra={}, content_hash="h6")
    out = digest(render.Card(cards.paper_card(row), "r", key_sentence="Only this."))
    assert card_html(out, "A paper").count("Only this.") == 1 and card_text(out, "A paper").count("Only this.") == 1


def test_the_text_parts_key_sentence_breaks_lines_at_spaces_only_and_each_reader_has_their_own_rank():
    row = SimpleNamespace(id=9, title="A paper", abstract="Abstract.", authors=["A B"], url=None, pdf_url=None,
                          extra={}, content_hash="h9")
    link = "https://github.com/organisation/a-repository-with-a-rather-long-name/tree/main/experiments"
    key = f"Our state-of-the-art mixture-of-experts router is released at {link} with every training script."
    edition = render.EditionRenderer()
    first = cards.paper_card(SimpleNamespace(**{**vars(row), "id": 10, "title": "First", "content_hash": "h10"}))
    card = render.Card(cards.paper_card(row), "r", more_url="https://d.example/more/1", less_url="https://d.example/less/1",
                       key_sentence=key)
    lone = card_text(digest(card, edition=edition), "A paper")
    lines = lone[lone.index("   *Our"):lone.index("   Why:")].splitlines()
    assert "   " + link in lines and "mixture-of-experts" in " ".join(lines) and "*" + key + "*" == " ".join(
        line.strip() for line in lines)
    assert all(len(line) <= render.TEXT_WIDTH for line in lines if link not in line)
    # The same card in another reader's digest (cached once per edition): its own rank and feedback links.
    other = replace(card, more_url="https://d.example/more/2", less_url="https://d.example/less/2")
    second = digest(render.Card(first, "r"), other, edition=edition).text
    assert "\n2. A paper\n" in second and "More like this: https://d.example/more/2" in second
    assert "/more/1" not in second and lone.startswith("1. A paper\n")


def test_the_view_in_browser_link_leads_the_email_when_there_is_one():
    card = cards.paper_card(SimpleNamespace(id=8, title="T", abstract="", authors=[], url=None, pdf_url=None,
                                            extra={}, content_hash="h8"))
    out = digest(render.Card(card, "r"), view_url="https://digest.example.org/edition/1.20261128.sig")
    body = out.html.split("<body", 1)[1]
    assert re.search(r'<p class="view"[^>]*><a href="https://digest.example.org/edition/1.20261128.sig"[^>]*>'
                     r'View in browser</a></p><p class="masthead"', body)
    assert out.text.splitlines()[1] == "View in browser: https://digest.example.org/edition/1.20261128.sig"
    plain = digest(render.Card(card, "r"))
    assert "View in browser" not in plain.html + plain.text


def test_a_digests_view_in_browser_link_is_signed_for_its_reader_and_edition(tmp_path):
    from digest.config import load_settings
    from digest.email.compose import build_content
    from digest.tokens import TokenError, read_edition_token
    from helpers import make_env

    settings = load_settings(make_env(tmp_path), read_dotenv=False)
    reader = SimpleNamespace(id=42, email="ada@example.org", topics=["x"], authors=["Y. Bengio"])
    shown = build_content(settings, reader, EDITION, [], {})
    assert shown.view_url.startswith("https://digest.example.org/edition/42.20261128.")
    assert shown.followed == ("Y. Bengio",)
    token = shown.view_url.rsplit("/", 1)[1]
    assert read_edition_token(settings.signing_key(), token) == (42, EDITION)
    for forged in (token.replace("42.", "43.", 1), token.replace(".20261128.", ".20261129."), token[:-2] + "AA",
                   "42.20261399." + token.rsplit(".", 1)[1], "42.020261128." + token.rsplit(".", 1)[1]):
        with pytest.raises(TokenError):
            read_edition_token(settings.signing_key(), forged)


def test_twenty_cards_with_every_detail_fit_the_budget_with_their_abstracts():
    import json

    from digest.resources import resource_dir

    rows = json.loads((resource_dir("seeds") / "papers.json").read_text())[:20]
    edition = render.EditionRenderer()
    picks = []
    for i, row in enumerate(rows, 1):
        paper = SimpleNamespace(
            id=i, key=f"arxiv:2411.{i:05d}", version=2, title=row["title"], abstract=row["abstract"] * 2,
            authors=[f"Author Number{k}" for k in range(12)], categories=["cs.LG", "cs.AI", "stat.ML", "math.OC"],
            url=f"https://arxiv.org/abs/2411.{i:05d}", pdf_url=f"https://arxiv.org/pdf/2411.{i:05d}",
            extra={"primary_category": "cs.LG", "announce_type": "new", "comment": "c" * 300, "journal_ref": "j" * 200,
                   "hf_url": f"https://huggingface.co/papers/2411.{i:05d}", "github_repo": "organisation/repository"},
            announced_at=dt.datetime(2026, 11, 27, 5, tzinfo=dt.timezone.utc), upvotes=123, github_stars=4567,
            content_hash=str(i))
        token = f"1234567.{i}.{'x' * 24}"
        picks.append(render.Card(edition.card_for(paper), "Matches your topic “efficient attention” on: attention, "
                                 "sparse, kernels; trending: 123 upvotes", "efficient attention",
                                 f"https://digest.example.org/more/{token}", f"https://digest.example.org/less/{token}",
                                 key_sentence=row["abstract"][:200]))
    out = edition.assemble(render.DigestContent(
        email="someone.with.a.long.address@example.org", edition_date=EDITION, cards=picks,
        topics=["efficient attention"], followed=("Author Number7",),
        view_url="https://digest.example.org/edition/1234567.20261128." + "x" * 24,
        unsubscribe_url="https://digest.example.org/unsubscribe/1234567." + "x" * 24,
        preferences_url="https://digest.example.org/preferences/1234567." + "x" * 24))
    assert out.paper_ids == [c.paper.paper_id for c in picks] and "Left out" not in out.html
    assert out.html.count('<p class="abstract"') == 20 and "&#8230;</p>" in out.html  # abstracts at full length
    assert len(out.html) <= render.HTML_BUDGET
    print(f"20-paper digest, every detail: HTML {len(out.html):,} bytes of {render.HTML_BUDGET:,}")
