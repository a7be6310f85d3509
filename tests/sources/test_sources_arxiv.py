"""arXiv in its three shapes: current RSS/Atom, old RDF, and the API."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from helpers import FIXTURES
from digest.sources import parse

RSS = FIXTURES / "arxiv-rss-new"


def _parse(kind, path):
    return parse(kind, path.read_bytes(), origin=str(path))


def test_rss_version_comes_from_the_guid_and_the_key_has_none():
    result = _parse("arxiv-rss", RSS / "all-archives_2024-11-28_part2of2.xml")
    versions = Counter(e.version for e in result.entries)
    assert versions[2] == 387 and versions[1] == 181
    assert all(e.key.startswith("arxiv:") and "v" not in e.key.split(".")[-1] for e in result.entries)
    assert Counter(e.announce_type for e in result.entries) == {"replace": 569, "new": 174, "cross": 9}


def test_rss_reads_all_four_announce_types_and_falls_back_to_the_channel_date():
    result = _parse("arxiv-rss", RSS / "stat_2024-03-26_rss.xml")
    assert Counter(e.announce_type for e in result.entries) == {"replace": 41, "new": 35, "cross": 27,
                                                                "replace-cross": 20}
    # March-2024 items carry no pubDate: the channel's announce date stands in.
    assert {e.announced_at for e in result.entries} == {dt.datetime(2024, 3, 26, 4, tzinfo=dt.timezone.utc)}
    assert all(e.extra["announce_type"] == e.announce_type for e in result.entries)


def test_rss_entry_fields_are_plain_and_canonical():
    entry = _parse("arxiv-rss", RSS / "cs.AI_2026-04-27_3items.xml").entries[0]
    assert entry.key == "arxiv:2604.21935" and entry.version == 1
    assert entry.title == "Math Takes Two: A test for emergent mathematical reasoning in communication"
    assert entry.abstract.startswith("Although language models demonstrate")  # no "arXiv:... Announce Type" preamble
    assert entry.authors == ["Michael Cooper", "Samuel Cooper"]
    assert entry.categories == ["cs.AI", "cs.LG"] and entry.extra["primary_category"] == "cs.AI"
    assert (entry.url, entry.pdf_url) == ("https://arxiv.org/abs/2604.21935", "https://arxiv.org/pdf/2604.21935")
    assert entry.announced_at == dt.datetime(2026, 4, 27, 4, tzinfo=dt.timezone.utc)


def test_rss_entry_carries_the_journal_reference_and_doi_when_given():
    entries = {e.key: e for e in _parse("arxiv-rss", RSS / "all-archives_2024-11-28_part2of2.xml").entries}
    cross = entries["arxiv:2202.06515"]
    assert cross.extra["journal_ref"] == "Physics of Fluids 36, 117158 (2024)" and cross.doi == "10.1063/5.0236964"
    assert cross.extra["primary_category"] == "astro-ph.CO" and cross.announce_type == "cross"
    assert sum(1 for e in entries.values() if e.extra.get("journal_ref")) == 74
    plain = _parse("arxiv-rss", RSS / "cs.AI_2026-04-27_3items.xml").entries[0]
    assert "journal_ref" not in {k for k, v in plain.extra.items() if v} and plain.doi is None
    atom = _parse("arxiv-rss", RSS / "cs.AI_2025-08-20_ATOM_TRUNCATED.xml").entries  # read by feedparser: lower-cased
    assert [e.extra["journal_ref"] for e in atom if e.extra.get("journal_ref")] == [
        "2025 IEEE/RSJ international conference on intelligent robots and systems (IROS)"]


def test_latex_accents_in_authors_are_decoded():
    entries = {e.key: e for e in _parse("arxiv-rss", RSS / "all-archives_2024-11-28_part1of2.xml").entries}
    assert "Benjamin Rémy" in entries["arxiv:2411.17748"].authors  # "Benjamin R\'emy (LEMTA)"
    assert "Jarosław Żygierewicz" in entries["arxiv:2411.17709"].authors  # "Jaros{\l}aw \.Zygierewicz"
    assert not [a for e in entries.values() for a in e.authors if "\\" in a or "{" in a]


def test_weekend_feed_is_empty_not_an_error_and_bad_archive_is_an_error():
    weekend = _parse("arxiv-rss", RSS / "cs.CL_2026-08-01_weekend-empty.xml")
    assert (weekend.status, weekend.entries) == ("empty", []) and "no announcement" in weekend.message
    bad = _parse("arxiv-rss", RSS / "error_bad-archive-astroph_2024-11-28.xml")
    assert bad.status == "error" and "Bad archive 'astroph'" in bad.message


def test_truncated_atom_capture_keeps_the_complete_entries_and_reports_the_cut():
    result = _parse("arxiv-rss", RSS / "cs.AI_2025-08-20_ATOM_TRUNCATED.xml")
    assert result.status == "ok" and len(result.entries) == 86
    assert result.problems[0].startswith("malformed feed:")
    assert any("incomplete" in p for p in result.problems)
    assert all(e.announce_type in ("new", "cross", "replace", "replace-cross") for e in result.entries)


def test_old_rdf_takes_version_category_and_flags_from_the_title():
    result = _parse("arxiv-rss", FIXTURES / "arxiv-rss-old" / "math_2012-09-12_rss1.0.xml")
    assert Counter(e.announce_type for e in result.entries) == {"new": 71, "replace": 54, "cross": 1}
    first = result.entries[0]
    assert first.title == "On the first time that an Ito process hits a barrier"
    assert (first.key, first.version, first.categories) == ("arxiv:1209.2411", 1, ["math.PR"])
    assert first.authors == ["Gerardo Hernandez-del-Valle"]  # the HTML author link reduced to text
    assert first.abstract.startswith("This work deals with") and "<p>" not in first.abstract
    assert first.url == "https://arxiv.org/abs/1209.2411"  # not the lanl.arxiv.org mirror
    updated = next(e for e in result.entries if e.key == "arxiv:0804.1418")
    assert (updated.version, updated.announce_type, updated.categories) == (4, "replace", ["math.DG"])


def test_api_entry_carries_primary_category_dates_comment_journal_ref_and_doi():
    entry = _parse("arxiv-api", FIXTURES / "arxiv-api" / "api-old_2024-12_all-electron_affiliation-doi-journalref.xml"
                   ).entries[0]
    assert (entry.key, entry.version, entry.doi) == ("arxiv:cond-mat/0102536", 1, "10.1063/1.1383585")
    assert entry.extra["primary_category"] == "cond-mat.str-el"
    assert entry.extra["journal_ref"] == "J. Chem. Phys. 115, 1626 (2001)"
    assert entry.extra["comment"].endswith("submitted to The Journal of Chemical Physics")  # unwrapped
    assert entry.abstract.startswith("The effect of the electron-electron cusp") and "  " not in entry.abstract
    assert entry.authors[:2] == ["David Prendergast", "M. Nolan"]


def test_api_published_is_v1_and_updated_is_the_latest_version():
    entry = _parse("arxiv-api", FIXTURES / "arxiv-api" / "api-old_2016-10-09_id_list-1111.2011v2.xml").entries[0]
    assert (entry.key, entry.version) == ("arxiv:1111.2011", 2)
    assert entry.announced_at == dt.datetime.fromisoformat(entry.extra["published"])
    assert entry.extra["updated"] > entry.extra["published"]


def test_api_new_backend_reads_like_the_old_one():
    result = _parse("arxiv-api", FIXTURES / "arxiv-api" / "api-new_2026-08-02_cat-cs.AI-LG-CL_25.xml")
    first = result.entries[0]
    assert first.extra["primary_category"] == "hep-th" and first.categories[0] == "hep-th"
    assert first.extra["comment"].startswith("59 pages + appendices")
    old_style = _parse("arxiv-api", FIXTURES / "arxiv-api" / "api-new_2026-05_id-astro-ph_0601001_old-style-id.xml")
    assert old_style.entries[0].key == "arxiv:astro-ph/0601001"


def test_api_error_entry_is_an_error_not_a_paper():
    result = _parse("arxiv-api", FIXTURES / "arxiv-api" / "api-new_2026-04-12_id-abc_ERROR-400.xml")
    assert (result.status, result.entries) == ("error", [])
    assert result.message == "arXiv API error: incorrect id format for abc"
