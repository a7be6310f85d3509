"""Hugging Face daily papers, journal and preprint feeds, hostile input, keys and kind detection."""

from __future__ import annotations

import json

import pytest

from helpers import FIXTURES, SEED_LISTING
from digest.sources import detect_kind, parse
from digest.sources.keys import canonical_key, find_arxiv_id
from digest.sources.text import split_authors

OTHER = FIXTURES / "other"


def test_hf_daily_gives_popularity_and_the_arxiv_key():
    data = (FIXTURES / "hf-daily" / "hf_daily_papers_2026-07-31_raw.json").read_bytes()
    result = parse("hf-daily", data)
    first = result.entries[0]
    assert (first.key, first.upvotes, first.comments, first.github_stars) == ("arxiv:2607.23193", 3, 2, 5)
    assert first.extra["github_repo"] == "https://github.com/MAC-AutoML/OmniScope"
    assert first.extra["hf_url"] == "https://huggingface.co/papers/2607.23193"
    assert first.url == "https://arxiv.org/abs/2607.23193" and first.authors[0] == "Jinsen Su"
    raw = json.loads(data)
    assert [e.upvotes for e in result.entries] == [r["paper"]["upvotes"] for r in raw]
    assert sum(1 for e in result.entries if e.extra.get("github_repo")) == 19


def test_hf_daily_skips_malformed_items_and_refuses_non_lists():
    data = json.dumps([{"paper": {"id": "2401.00001", "title": "<b>Ok</b>", "upvotes": "many"}}, {"title": "x"}, 3])
    result = parse("hf-daily", data.encode())
    assert [(e.title, e.upvotes) for e in result.entries] == [("Ok", 0)]
    assert len(result.problems) == 2
    s2 = parse("hf-daily", (OTHER / "semanticscholar_paper_NOT-FOUND-error.json").read_bytes())
    assert s2.status == "error" and "not found" in s2.message


def test_biorxiv_titles_are_trimmed_and_surname_initial_authors_paired():
    entry = parse("rss", (OTHER / "biorxiv_genomics_2023-12_1item.xml").read_bytes()).entries[0]
    assert entry.key == "doi:10.1101/2023.12.16.571984"
    assert entry.title.startswith("Complete genome of the Medicago") and entry.title == entry.title.strip()
    assert entry.authors[:3] == ["N. LAPALU", "A. SIMON", "A. Lu"] and entry.authors[-1] == "R. J. O'Connell"


@pytest.mark.parametrize("name, key, abstract_empty", [
    ("nature_20250319.xml", "url:nature.com/articles/s41598-025-86513-x", True),  # empty <summary/>
    ("plos_20250413.xml", "doi:10.1371/journal.pcbi.1012994", False),  # bare DOI as <id>
    ("oxford_20250413.xml", "doi:10.1093/bioinformatics/btaf119", False),  # prism:doi, HTML abstract
    ("bmc_20250413.xml", "doi:10.1186/s12859-025-06113-4", False),
])
def test_journal_feeds_key_by_doi_else_link(name, key, abstract_empty):
    entry = parse("rss", (OTHER / name).read_bytes()).entries[0]
    assert entry.key == key
    assert (entry.abstract == "") is abstract_empty
    assert "<" not in entry.abstract


def test_aggregator_placeholders_dropped_and_arxiv_papers_keyed_by_arxiv_id():
    result = parse("rss", (OTHER / "community_optimization-papers_2026-05-04_rss.xml").read_bytes())
    assert not [e for e in result.entries if e.abstract.lower().startswith("no abstract available")]
    arxiv = [e for e in result.entries if e.key.startswith("arxiv:")]
    assert arxiv and all(e.url.startswith("https://arxiv.org/abs/") for e in arxiv)


HOSTILE_ITEM = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom">
<channel><title>t</title>
<item><title>Safe &lt;script&gt;alert(1)&lt;/script&gt;title</title>
<link>javascript:alert(1)</link><guid>oai:arXiv.org:2401.00002v3</guid>
<description>&lt;img src=x onerror=alert(1)&gt;Text &lt;b&gt;bold&lt;/b&gt;&lt;style&gt;p{}&lt;/style&gt;</description>
<dc:creator>&lt;a href="javascript:x"&gt;Eve&lt;/a&gt; Doe, Bob \\"Ubel</dc:creator>
<arxiv:announce_type>new</arxiv:announce_type><script>alert(2)</script></item>
<item><title>Second</title><link>https://example.org/p?id=2&amp;utm_source=feed</link></item>"""
TRUNCATED = b"<item><title>Third</title><link>https://example.org/unterminated</li"
WELL_FORMED = b"</channel></rss>"


@pytest.mark.parametrize("kind", ["rss", "arxiv-rss"])
@pytest.mark.parametrize("tail", [WELL_FORMED, TRUNCATED])
def test_markup_and_scripts_are_reduced_to_plain_text(kind, tail):
    result = parse(kind, HOSTILE_ITEM + tail)
    entry = result.entries[0]
    assert (entry.key, entry.version) == ("arxiv:2401.00002", 3)
    assert entry.title == "Safe title"
    assert entry.abstract == "Text bold"
    assert entry.authors == ["Eve Doe", "Bob Übel"]
    assert entry.url == "https://arxiv.org/abs/2401.00002"
    # the truncated document (feedparser path) keeps its entries and says what was wrong
    assert bool(result.problems and result.problems[0].startswith("malformed feed")) is (tail == TRUNCATED)


@pytest.mark.parametrize("tail", [WELL_FORMED, TRUNCATED])
def test_generic_feed_normalises_links_and_keeps_the_good_entries_of_a_broken_feed(tail):
    result = parse("rss", HOSTILE_ITEM + tail)
    assert [e.key for e in result.entries] == ["arxiv:2401.00002", "url:example.org/p?id=2"]
    assert result.entries[1].url == "https://example.org/p?id=2&utm_source=feed"


def test_billion_laughs_is_not_expanded():
    result = parse("rss", (FIXTURES / "hostile" / "billion-laughs_xml-bomb.xml").read_bytes())
    assert result.status == "error" and "entity" in result.message and result.entries == []


@pytest.mark.parametrize("text, expected", [
    ("oai:arXiv.org:2411.17700v1", ("2411.17700", 1)),
    ("http://lanl.arxiv.org/abs/1209.2411", ("1209.2411", None)),
    ("http://arxiv.org/abs/astro-ph/0601001v1", ("astro-ph/0601001", 1)),
    ("https://doi.org/10.48550/arXiv.2312.07559", ("2312.07559", None)),
    ("2607.23193", ("2607.23193", None)),
    ("https://www.biorxiv.org/content/10.1101/2025.04.07.647590v1", None),
])
def test_find_arxiv_id(text, expected):
    assert find_arxiv_id(text) == expected


def test_canonical_key_prefers_arxiv_then_doi_then_normalised_link():
    assert canonical_key(arxiv_id="2401.1", doi="10.1/X") == "arxiv:2401.1"
    assert canonical_key(doi="10.1/X", link="https://a.org") == "doi:10.1/x"
    assert canonical_key(link="https://WWW.Bio.org/c/1v1?rss=1#top") == "url:bio.org/c/1v1"


def test_split_authors_handles_and_affiliations_and_initials():
    assert split_authors("A Roe (MIT, CSAIL), B Poe and C Doe") == ["A Roe", "B Poe", "C Doe"]
    assert split_authors("Kaur, M., Bhati, K. K.") == ["M. Kaur", "K. K. Bhati"]


@pytest.mark.parametrize("location, kind", [
    ("https://rss.arxiv.org/rss/cs.LG+cs.CL", "arxiv-rss"),
    ("https://rss.arxiv.org/atom/cs.AI", "arxiv-rss"),
    ("http://export.arxiv.org/api/query?search_query=cat:cs.LG", "arxiv-api"),
    ("https://huggingface.co/api/daily_papers?date=2026-07-31", "hf-daily"),
    ("https://connect.biorxiv.org/biorxiv_xml/bioinformatics", "auto"),
    ("papers.txt", "listing"),
])
def test_detect_kind_from_the_url(location, kind):
    assert detect_kind(location) == kind


def test_auto_kind_sniffs_the_bytes():
    hf = (FIXTURES / "hf-daily" / "hf_daily_papers_2026-07-31_raw.json").read_bytes()
    assert len(parse("auto", hf, origin="https://mirror.example/papers").entries) == 30
    assert detect_kind("x", b'[{"title": "t", "abstract": "a"}]') == "listing"


def test_seeds_listing_parses_the_shared_capture():
    result = parse("listing", SEED_LISTING.read_bytes())
    assert result.status == "ok" and len(result.entries) == 158
    assert result.entries[0].title == "Engineering A Large Language Model From Scratch"
