"""One feed item never stops the day: out-of-range numbers, dates and lengths are skipped and counted at parse
time, for every source kind, and the good entries of the same feed are stored (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from digest.db import session_factory
from digest.ingest import SourceSpec, ingest_source
from digest.models import Paper
from digest.sources import PaperEntry, limits, parse

NOW = dt.datetime(2026, 8, 3, 6, 0, tzinfo=dt.timezone.utc)
HUGE_VERSION = "9" * 20
LONG = "x" * 5000
DC = 'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom"'


def _rss_item(arxiv_id, version="1", date="Mon, 03 Aug 2026 00:00:00 -0400", title=None):
    return f"""<item><title>{title or 'Paper ' + arxiv_id}</title><link>https://arxiv.org/abs/{arxiv_id}</link>
<description>arXiv:{arxiv_id}v{version} Announce Type: new
Abstract: About {arxiv_id}.</description><guid>oai:arXiv.org:{arxiv_id}v{version}</guid><pubDate>{date}</pubDate>
<category>cs.LG</category><arxiv:announce_type>new</arxiv:announce_type><dc:creator>Jane Doe</dc:creator></item>"""


def arxiv_rss() -> bytes:
    items = [_rss_item("2608.00001"), _rss_item("2608.00002", version=HUGE_VERSION),
             _rss_item("2608.00003", date="Fri, 31 Dec 9999 23:59:59 +0000"), _rss_item("2608.00004", title=LONG),
             _rss_item("2608.00005")]
    return (f'<rss version="2.0" {DC}><channel><title>cs.LG updates on arXiv.org</title>'
            f'{"".join(items)}</channel></rss>').encode()


def _atom_entry(arxiv_id, version="1", published="2026-08-03T00:00:00Z"):
    return f"""<entry><id>oai:arXiv.org:{arxiv_id}v{version}</id><title>Paper {arxiv_id}</title>
<link href="https://arxiv.org/abs/{arxiv_id}"/><summary>arXiv:{arxiv_id}v{version} Announce Type: new
Abstract: About it.</summary><published>{published}</published><category term="cs.LG"/>
<arxiv:announce_type>new</arxiv:announce_type><author><name>Jane Doe</name></author></entry>"""


def arxiv_atom() -> bytes:
    entries = [_atom_entry("2608.00011"), _atom_entry("2608.00012", version=HUGE_VERSION),
               _atom_entry("2608.00013", published="1066-10-14T00:00:00Z"), _atom_entry("2608.00014")]
    return (f'<feed xmlns="http://www.w3.org/2005/Atom" {DC}><title>cs.LG updates on arXiv.org</title>'
            f'<id>http://rss.arxiv.org/atom/cs.LG</id>{"".join(entries)}</feed>').encode()


def _api_entry(arxiv_id, version="1", doi="10.1000/ok"):
    return f"""<entry><id>http://arxiv.org/abs/{arxiv_id}v{version}</id><title>Paper {arxiv_id}</title>
<summary>About it.</summary><published>2026-08-01T00:00:00Z</published><updated>2026-08-01T00:00:00Z</updated>
<author><name>Jane Doe</name></author><arxiv:doi>{doi}</arxiv:doi><category term="cs.LG"/></entry>"""


def arxiv_api() -> bytes:
    entries = [_api_entry("2608.00021"), _api_entry("2608.00022", version=HUGE_VERSION),
               _api_entry("2608.00023", doi="10.1000/" + "d" * 400), _api_entry("2608.00024")]
    return (f'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" '
            f'{DC}><title>arXiv Query: cat:cs.LG</title><id>http://arxiv.org/api/x</id>'
            f'<opensearch:totalResults>4</opensearch:totalResults>{"".join(entries)}</feed>').encode()


def hf_daily() -> bytes:
    def row(arxiv_id, upvotes=3, comments=1, stars=5):
        return {"paper": {"id": arxiv_id, "title": f"Paper {arxiv_id}", "summary": "About it.", "upvotes": upvotes,
                          "githubStars": stars, "publishedAt": "2026-08-01T00:00:00.000Z",
                          "authors": [{"name": "Jane Doe"}]}, "numComments": comments}
    rows = [row("2608.00031"), row("2608.00032", upvotes=10**20), row("2608.00033", comments=2**63),
            row("2608.00034", stars=10**30), row("2608.00035")]
    return json.dumps(rows).encode()


def generic_rss() -> bytes:
    def item(n, link=None, date="Mon, 03 Aug 2026 00:00:00 GMT", doi=None):
        link = link or f"https://journal.example.org/article/{n}"
        doi_tag = f"<dc:identifier>doi:{doi}</dc:identifier>" if doi else ""
        return (f"<item><title>Article {n}</title><link>{link}</link><description>About {n}.</description>"
                f"<pubDate>{date}</pubDate>{doi_tag}</item>")
    items = [item(1), item(2, link="https://journal.example.org/" + "a" * 3000),
             item(3, date="Sat, 01 Jan 2500 00:00:00 GMT"), item(4, doi="10.1234/" + "z" * 400), item(5)]
    return f'<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>A journal</title>{"".join(items)}</channel></rss>'.encode()


def listing() -> bytes:
    """The JSON form, as the bundled seeds are."""
    abstract = "An abstract long enough to be a paragraph rather than a title. " * 3
    rows = [{"title": "A good listed paper", "abstract": abstract}, {"title": "T" * 1500, "abstract": abstract},
            {"title": "Linked", "abstract": abstract, "url": "https://example.org/" + "p" * 3000},
            {"title": "Another good listed paper", "abstract": abstract}]
    return json.dumps(rows).encode()


# kind, feed, stored keys, bad entries
CASES = {
    "arxiv-rss": (arxiv_rss, {"arxiv:2608.00001", "arxiv:2608.00005"}, 3),
    "arxiv-atom": (arxiv_atom, {"arxiv:2608.00011", "arxiv:2608.00014"}, 2),
    "arxiv-api": (arxiv_api, {"arxiv:2608.00021", "arxiv:2608.00024"}, 2),
    "hf-daily": (hf_daily, {"arxiv:2608.00031", "arxiv:2608.00035"}, 3),
    "rss": (generic_rss, {"url:journal.example.org/article/1", "url:journal.example.org/article/5"}, 3),
    "listing": (listing, {"title:a good listed paper", "title:another good listed paper"}, 2),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_out_of_range_entries_are_skipped_and_counted_and_the_good_ones_stored(db_url, tmp_path, case):
    build, good_keys, bad = CASES[case]
    path = tmp_path / f"{case}.feed"
    path.write_bytes(build())
    with session_factory(db_url).begin() as session:
        summary = ingest_source(session, SourceSpec(case, str(path), "auto"), NOW)
    assert (summary.status, summary.new, summary.problems) == ("ok", len(good_keys), bad), summary.problem_list
    assert all(p.endswith("skipped") for p in summary.problem_list)
    with session_factory(db_url)() as session:
        assert set(session.scalars(select(Paper.key))) == good_keys


def test_an_entry_out_of_range_says_why_in_one_line():
    result = parse("arxiv-rss", arxiv_rss(), now=NOW)
    assert len(result.entries) == 2
    assert any(f"version {HUGE_VERSION} out of range" in p for p in result.problems)
    assert any("date 9999-12-31 out of range" in p for p in result.problems)
    assert any("title of 5,000 characters" in p for p in result.problems)
    assert all("\n" not in p and len(p) < 200 for p in result.problems)


def test_a_version_of_thousands_of_digits_is_one_bad_entry_not_a_failed_feed():
    data = arxiv_rss().replace(HUGE_VERSION.encode(), b"9" * 5000)
    result = parse("arxiv-rss", data, now=NOW)
    assert (result.status, len(result.entries)) == ("ok", 2)


def test_a_date_beyond_now_is_out_of_range_only_when_now_is_known():
    entry = PaperEntry(key="arxiv:2608.00001", title="T", announced_at=NOW + dt.timedelta(days=365))
    assert limits.check_entry(entry).announced_at == entry.announced_at
    with pytest.raises(ValueError, match="out of range"):
        limits.check_entry(entry, NOW)


def test_overlong_text_is_clipped_not_refused():
    entry = PaperEntry(key="arxiv:2608.00001", title="T", abstract="word " * 10_000,
                       authors=["Jane Doe", "n" * 500] + [f"A{n}" for n in range(5000)],
                       categories=["cs.LG", "c" * 500], extra={"comment": "c" * 9000, "nested": {"a": [1]}})
    checked = limits.check_entry(entry)
    assert len(checked.abstract) <= limits.MAX_ABSTRACT + 2 and checked.abstract.endswith("…")
    assert checked.authors[0] == "Jane Doe" and len(checked.authors) == limits.MAX_AUTHORS
    assert checked.categories == ["cs.LG"]
    assert len(checked.extra["comment"]) <= limits.MAX_EXTRA + 2 and "nested" not in checked.extra


def test_a_json_listing_link_that_is_not_http_is_not_stored():
    data = json.dumps([{"title": "A paper", "abstract": "About it.", "url": "javascript:alert(1)",
                        "authors": "not a list", "categories": [1, {"a": 2}, "cs.LG"]},
                       {"title": {"an": "object"}, "abstract": "x"}]).encode()
    result = parse("listing", data, now=NOW)
    assert len(result.entries) == 1 and len(result.problems) == 1
    assert result.entries[0].url is None and result.entries[0].categories == ["cs.LG"]
    assert result.entries[0].authors == []
