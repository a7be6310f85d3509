"""Every captured feed in tests/fixtures/feeds has its own expectation; a new file without one fails the suite.

The table below is the contract for the real feeds (see INVENTORY.md there);
a capture added to the folder without a row here fails
`test_every_fixture_file_has_an_expectation`.
"""

from __future__ import annotations

import pytest

from helpers import FIXTURES
from digest.sources import detect_kind, parse

# path: (detected kind, status, entries, first entry's key)
EXPECTED = {
    "arxiv-api/api-new_2026-04-12_id-0000.0000_empty.xml": ("arxiv-api", "empty", 0, None),
    "arxiv-api/api-new_2026-04-12_id-abc_ERROR-400.xml": ("arxiv-api", "error", 0, None),
    "arxiv-api/api-new_2026-04-12_id-quant-ph_0201082v1.xml": ("arxiv-api", "ok", 1, 'arxiv:quant-ph/0201082'),
    "arxiv-api/api-new_2026-04-12_id_list-two-ids-one-missing.xml": ("arxiv-api", "ok", 1, 'arxiv:1707.08567'),
    "arxiv-api/api-new_2026-04-12_search-testing_m10.xml": ("arxiv-api", "ok", 10, 'arxiv:2202.12139'),
    "arxiv-api/api-new_2026-04-12_search-testing_m100.xml": ("arxiv-api", "ok", 100, 'arxiv:2202.12139'),
    "arxiv-api/api-new_2026-05_id-astro-ph_0601001_old-style-id.xml": ("arxiv-api", "ok", 1, 'arxiv:astro-ph/0601001'),
    "arxiv-api/api-new_2026-08-02_cat-cs.AI-LG-CL_25.xml": ("arxiv-api", "ok", 25, 'arxiv:2607.28628'),
    "arxiv-api/api-old_2016-10-09_au-del_maestro.xml": ("arxiv-api", "ok", 10, 'arxiv:1201.4869'),
    "arxiv-api/api-old_2016-10-09_id_list-1111.2011v2.xml": ("arxiv-api", "ok", 1, 'arxiv:1111.2011'),
    "arxiv-api/api-old_2018-02-05_all-Einstein.xml": ("arxiv-api", "ok", 10, 'arxiv:1801.05533'),
    "arxiv-api/api-old_2024-12_all-electron_affiliation-doi-journalref.xml": ("arxiv-api", "ok", 1, 'arxiv:cond-mat/0102536'),
    "arxiv-rss-new/all-archives_2024-11-28_part1of2.xml": ("arxiv-rss", "ok", 752, 'arxiv:2411.17700'),
    "arxiv-rss-new/all-archives_2024-11-28_part2of2.xml": ("arxiv-rss", "ok", 752, 'arxiv:2411.18452'),
    "arxiv-rss-new/cs.AI_2025-08-20_ATOM_TRUNCATED.xml": ("arxiv-rss", "ok", 86, 'arxiv:2508.13167'),
    "arxiv-rss-new/cs.AI_2026-04-27_3items.xml": ("arxiv-rss", "ok", 3, 'arxiv:2604.21935'),
    "arxiv-rss-new/cs.CL_2026-04-27_3items.xml": ("arxiv-rss", "ok", 3, 'arxiv:2604.22002'),
    "arxiv-rss-new/cs.CL_2026-08-01_weekend-empty.xml": ("arxiv-rss", "empty", 0, None),
    "arxiv-rss-new/cs.LG_2026-04-27_3items.xml": ("arxiv-rss", "ok", 3, 'arxiv:2604.21952'),
    "arxiv-rss-new/error_bad-archive-astroph_2024-11-28.xml": ("arxiv-rss", "error", 0, None),
    "arxiv-rss-new/stat_2024-03-26_rss.xml": ("arxiv-rss", "ok", 123, 'arxiv:2403.15527'),
    "arxiv-rss-new/test-archive_2024-11-28_empty.xml": ("arxiv-rss", "empty", 0, None),
    "arxiv-rss-old/math_2012-09-12_rss1.0.xml": ("arxiv-rss", "ok", 126, 'arxiv:1209.2411'),
    "hf-daily/hf_daily_papers_2026-07-31_raw.json": ("hf-daily", "ok", 30, 'arxiv:2607.23193'),
    "hostile/billion-laughs_xml-bomb.xml": ("rss", "error", 0, None),
    "hostile/encoding_bozo_encoding_mismatch_crash.xml": ("rss", "error", 0, None),
    "hostile/encoding_bozo_invalid-bytes-with-bom.xml": ("rss", "error", 0, None),
    "hostile/encoding_bozo_linenoise.xml": ("rss", "error", 0, None),
    "hostile/encoding_utf-16le-bom.xml": ("rss", "empty", 0, None),
    "hostile/entities_doesnotexist.xml": ("rss", "error", 0, None),
    "hostile/illformed_aaa_illformed.xml": ("rss", "error", 0, None),
    "hostile/illformed_always_strip_doctype.xml": ("rss", "empty", 0, None),
    "hostile/illformed_chardet_shiftjis.xml": ("rss", "error", 0, None),
    "hostile/illformed_rss_empty_document.xml": ("rss", "error", 0, None),
    "hostile/illformed_rss_incomplete_cdata.xml": ("rss", "error", 0, None),
    "hostile/illformed_rss_item_link_corrupted_ampersands.xml": ("rss", "error", 0, None),
    "hostile/illformed_undeclared_namespace.xml": ("rss", "error", 0, None),
    "hostile/sanitize_entry_content_script_inline.xml": ("rss", "empty", 0, None),
    "hostile/sanitize_entry_summary_crazy.xml": ("rss", "empty", 0, None),
    "hostile/sanitize_feed_title_unacceptable_uri.xml": ("rss", "empty", 0, None),
    "hostile/wellformed_rdf_doctype_contains_entity_decl.xml": ("rss", "empty", 0, None),
    "hostile/wellformed_rss_entity_in_doctype.xml": ("rss", "empty", 0, None),
    "other/biorxiv_20250413.xml": ("rss", "ok", 30, 'doi:10.1101/2025.04.07.647590'),
    "other/biorxiv_genomics_2023-12_1item.xml": ("rss", "ok", 1, 'doi:10.1101/2023.12.16.571984'),
    "other/biorxiv_plant-biology_2019.rdf.xml": ("rss", "ok", 30, 'doi:10.1101/743294'),
    "other/bmc_20250413.xml": ("rss", "ok", 5, 'doi:10.1186/s12859-025-06113-4'),
    "other/community_optimization-papers_2026-05-04_rss.xml": ("rss", "ok", 113, 'doi:10.17771/pucrio.acad.69614'),
    "other/nature_20250319.xml": ("rss", "ok", 30, 'url:nature.com/articles/s41598-025-86513-x'),
    "other/oxford_20250413.xml": ("rss", "ok", 4, 'doi:10.1093/bioinformatics/btaf119'),
    "other/plos_20250413.xml": ("rss", "ok", 4, 'doi:10.1371/journal.pcbi.1012994'),
    "other/semanticscholar_paper_DOI-arxiv-2312.07559.json": ("hf-daily", "error", 0, None),
    "other/semanticscholar_paper_NOT-FOUND-error.json": ("hf-daily", "error", 0, None),
    "other/semanticscholar_recommendations_forpaper.json": ("hf-daily", "error", 0, None),
    "other/semanticscholar_search-match_attention-is-all-you-need.json": ("hf-daily", "error", 0, None),
    "other/semanticscholar_search-match_empty-data.json": ("hf-daily", "error", 0, None),
    "other/semanticscholar_search_turing_titles-only_page1.json": ("hf-daily", "error", 0, None),
}

FORBIDDEN = ("<script", "javascript:", "onload=", "<a ", "lollol")


def test_every_fixture_file_has_an_expectation():
    on_disk = {str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*") if p.suffix in (".xml", ".json")}
    assert len(on_disk) == 56
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses_as_expected(name):
    kind, status, count, first_key = EXPECTED[name]
    data = (FIXTURES / name).read_bytes()
    assert detect_kind(str(FIXTURES / name), data) == kind
    result = parse(kind, data, origin=name)
    assert (result.status, len(result.entries)) == (status, count), result.message
    assert (result.entries[0].key if result.entries else None) == first_key
    if status != "ok":
        assert result.message  # never a silent zero: empty and error say why
    for entry in result.entries:
        assert entry.title and entry.title == entry.title.strip()
        stored = " ".join([entry.title, entry.abstract, *entry.authors, entry.url or ""]).lower()
        assert not any(bad in stored for bad in FORBIDDEN), (entry.key, stored[:200])
        assert entry.url is None or entry.url.startswith(("http://", "https://"))
    assert len({e.key for e in result.entries}) == len(result.entries) or "all-archives" in name
