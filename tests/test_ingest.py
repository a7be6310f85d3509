"""Fetch → parse → upsert on real SQLite and PostgreSQL: one row per work, health recorded, no needless writes."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

from helpers import FIXTURES
from digest.db import get_engine, session_factory
from digest.ingest import SourceSpec, bulk_upsert_papers, ingest_source, resolve_spec
from digest import ingest, jobs
from digest.delivery.senders import MemorySender
from digest.models import Digest, DigestItem, Paper, Source
from digest.sources import PaperEntry, parse
from digest.sources.keys import canonical_key
from digest.subscriptions import subscribe, validate_preferences
from digest.status import source_rows

T0 = dt.datetime(2026, 8, 2, 22, 0, tzinfo=dt.timezone.utc)
T1 = T0 + dt.timedelta(days=1)
HF = FIXTURES / "hf-daily" / "hf_daily_papers_2026-07-31_raw.json"
API = FIXTURES / "arxiv-api" / "api-new_2026-08-02_cat-cs.AI-LG-CL_25.xml"
SHARED_ID = "2607.28618"  # in both the API capture and the HF capture


@contextmanager
def writes_to_papers(url):
    """Collect the INSERT/UPDATE statements that touch the papers table."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        head = statement.lstrip().upper()
        if head.startswith(("INSERT INTO PAPERS", "UPDATE PAPERS")):
            seen.append(head.split(" ", 1)[0])

    engine = get_engine(url)
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _ingest(url, spec, now, **kw):
    with session_factory(url).begin() as session:
        return ingest_source(session, spec, now, **kw)


def _paper(url, key):
    with session_factory(url)() as session:
        return session.scalar(select(Paper).where(Paper.key == key))


def _rss_item(arxiv_id, version, announce_type, title="A title", category="cs.LG"):
    return f"""<rss version="2.0" xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>{category} updates on arXiv.org</title><pubDate>Mon, 03 Aug 2026 00:00:00 -0400</pubDate>
<item><title>{title}</title><link>https://arxiv.org/abs/{arxiv_id}</link>
<description>arXiv:{arxiv_id}v{version} Announce Type: {announce_type}
Abstract: Abstract of v{version}.</description><guid>oai:arXiv.org:{arxiv_id}v{version}</guid>
<category>{category}</category><arxiv:announce_type>{announce_type}</arxiv:announce_type>
<dc:creator>Andr\\'e Roe, Jane Doe</dc:creator></item></channel></rss>""".encode()


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return SourceSpec(name, str(path), "auto")


def test_same_paper_from_api_hf_and_rss_is_one_row_with_every_source(db_url, tmp_path):
    _ingest(db_url, SourceSpec("api", str(API), "arxiv-api"), T0)
    hf = _ingest(db_url, SourceSpec("hf", str(HF), "hf-daily"), T0)
    assert (hf.new, hf.updated) == (27, 3)
    api_entry = next(e for e in parse("arxiv-api", API.read_bytes()).entries if e.key == f"arxiv:{SHARED_ID}")
    rss = _ingest(db_url, _write(tmp_path, "cs-lg", _rss_item(SHARED_ID, 1, "cross", api_entry.title)), T1)
    assert (rss.new, rss.updated) == (0, 1)
    paper = _paper(db_url, f"arxiv:{SHARED_ID}")
    assert paper.source_names == ["api", "hf", "cs-lg"]
    assert paper.first_seen_at == T0  # a cross-list is the same paper, not a new one
    assert paper.upvotes > 0 and paper.extra["hf_url"].endswith(SHARED_ID)
    # the API's details survive the RSS item's guess (its first category) and HF's lack of them
    assert paper.extra["primary_category"] == api_entry.extra["primary_category"] != "cs.LG"
    assert paper.extra["announce_type"] == "cross" and paper.title == api_entry.title
    with session_factory(db_url)() as session:
        assert session.query(Paper).filter(Paper.key.like(f"%{SHARED_ID}%")).count() == 1


def test_newer_version_updates_text_but_the_paper_is_not_new_again(db_url):
    factory = session_factory(db_url)
    v1 = PaperEntry(key="arxiv:2401.00001", title="Old", abstract="old", version=1, upvotes=9)
    v2 = PaperEntry(key="arxiv:2401.00001", title="New", abstract="new", version=2, upvotes=4)
    with factory.begin() as session:
        assert bulk_upsert_papers(session, [v1], "a", T0) == (1, 0, 0)
    with factory.begin() as session:
        assert bulk_upsert_papers(session, [v2], "b", T1) == (0, 1, 0)
    with factory.begin() as session:  # an older version arriving late changes nothing but its source
        assert bulk_upsert_papers(session, [v1], "b", T1) == (0, 0, 1)
    paper = _paper(db_url, "arxiv:2401.00001")
    assert (paper.title, paper.abstract, paper.version) == ("New", "new", 2)
    assert (paper.first_seen_at, paper.updated_at, paper.upvotes) == (T0, T1, 9)  # best popularity kept


def test_ingest_stores_when_a_paper_was_first_announced_and_when_it_was_revised(db_url, tmp_path):
    # The API's `published` is the v1 date: a 2002 paper, whenever we read it.
    _ingest(db_url, SourceSpec("api-id", str(FIXTURES / "arxiv-api" / "api-new_2026-04-12_id-quant-ph_0201082v1.xml"),
                               "arxiv-api"), T0)
    old = _paper(db_url, "arxiv:quant-ph/0201082")
    assert old.first_announced_at == dt.datetime(2002, 1, 18, 15, 8, 5, tzinfo=dt.timezone.utc)
    assert old.revised_at is None
    # A replacement of a paper we never saw: announced before, no earlier than its id's month; read as a revision.
    _ingest(db_url, _write(tmp_path, "cs-replace", _rss_item("2401.04321", 3, "replace", "Revised")), T0)
    revised = _paper(db_url, "arxiv:2401.04321")
    assert (revised.first_announced_at, revised.revised_at) == (dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), T0)
    # A new paper, then its v2: first announced when it was new, revised when the v2 came; neither moves again.
    _ingest(db_url, _write(tmp_path, "cs-new", _rss_item("2608.00042", 1, "new", "Fresh")), T0)
    assert _paper(db_url, "arxiv:2608.00042").revised_at is None
    _ingest(db_url, _write(tmp_path, "cs-new", _rss_item("2608.00042", 2, "replace", "Fresh")), T1)
    _ingest(db_url, _write(tmp_path, "cs-cross", _rss_item("2608.00042", 2, "cross", "Fresh")), T1 + dt.timedelta(days=1))
    fresh = _paper(db_url, "arxiv:2608.00042")
    monday = dt.datetime(2026, 8, 3, 4, 0, tzinfo=dt.timezone.utc)  # the feed's announcement, 00:00 US Eastern
    assert (fresh.first_seen_at, fresh.first_announced_at, fresh.revised_at, fresh.version) == (T0, monday, T1, 2)


def test_upsert_is_one_statement_per_batch(db_url):
    entries = [PaperEntry(key=f"arxiv:2401.{n:05d}", title=f"P{n}", version=1) for n in range(1000)]
    with writes_to_papers(db_url) as writes, session_factory(db_url).begin() as session:
        assert bulk_upsert_papers(session, entries, "a", T0) == (1000, 0, 0)
    assert writes == ["INSERT"]
    for entry in entries:
        entry.version, entry.title = 2, entry.title + " v2"
    with writes_to_papers(db_url) as writes, session_factory(db_url).begin() as session:
        assert bulk_upsert_papers(session, entries, "a", T1) == (0, 1000, 0)
    assert writes == ["UPDATE"]


def test_second_ingest_of_unchanged_bytes_writes_no_paper_rows(db_url):
    spec = SourceSpec("stat", str(FIXTURES / "arxiv-rss-new" / "stat_2024-03-26_rss.xml"), "arxiv-rss")
    first = _ingest(db_url, spec, T0)
    assert (first.status, first.new) == ("ok", 123)
    with writes_to_papers(db_url) as writes:
        second = _ingest(db_url, spec, T1)
    assert (second.status, second.new, second.updated) == ("unchanged", 0, 0) and writes == []


def test_reparsed_identical_content_writes_nothing(db_url):
    """Bytes differ (a new build date) but no paper changed: parsed, compared, not written."""
    spec = SourceSpec("cs-ai", str(FIXTURES / "arxiv-rss-new" / "cs.AI_2026-04-27_3items.xml"), "arxiv-rss")
    _ingest(db_url, spec, T0)
    with session_factory(db_url).begin() as session:
        session.scalar(select(Source).where(Source.name == "cs-ai")).content_hash = "something else"
    with writes_to_papers(db_url) as writes:
        again = _ingest(db_url, spec, T1)
    assert (again.status, again.unchanged) == ("ok", 3) and writes == []


def test_304_costs_one_request_and_writes_nothing(db_url, httpserver):
    body = (FIXTURES / "arxiv-rss-new" / "cs.LG_2026-04-27_3items.xml").read_bytes()
    httpserver.expect_ordered_request("/rss/cs.LG").respond_with_data(body, headers={"ETag": '"abc"'})
    httpserver.expect_ordered_request("/rss/cs.LG", headers={"If-None-Match": '"abc"'}).respond_with_data(
        b"", status=304)
    spec = SourceSpec("cs-lg", httpserver.url_for("/rss/cs.LG"), "arxiv-rss")
    assert _ingest(db_url, spec, T0).new == 3
    with writes_to_papers(db_url) as writes:
        summary = _ingest(db_url, spec, T1)
    assert summary.status == "not-modified" and writes == [] and len(httpserver.log) == 2


def test_failures_are_counted_and_shown_then_cleared_by_a_success(db_url, tmp_path):
    spec = SourceSpec("flaky", str(tmp_path / "missing.xml"), "rss")
    for now in (T0, T1):
        summary = _ingest(db_url, spec, now)
    assert summary.status == "error" and "No such file" in summary.message
    with session_factory(db_url)() as session:
        row = source_rows(session)[0]
    assert row[0] == "flaky" and row[3:5] == ["error", 2] and "No such file" in row[5]
    (tmp_path / "missing.xml").write_bytes(_rss_item("2401.00009", 1, "new"))
    assert _ingest(db_url, spec, T1).status == "ok"
    with session_factory(db_url)() as session:
        source = session.scalar(select(Source).where(Source.name == "flaky"))
        assert (source.consecutive_failures, source.last_success_at) == (0, T1)


@pytest.mark.parametrize("name, status, words", [
    ("cs.CL_2026-08-01_weekend-empty.xml", "empty", "no announcement"),
    ("error_bad-archive-astroph_2024-11-28.xml", "error", "Bad archive"),
])
def test_weekend_and_bad_query_are_recorded_as_what_they_are(db_url, name, status, words):
    summary = _ingest(db_url, SourceSpec("feed", str(FIXTURES / "arxiv-rss-new" / name), "arxiv-rss"), T0)
    assert summary.status == status and words in summary.message and words in summary.line()
    with session_factory(db_url)() as session:
        row = source_rows(session)[0]
    assert row[3] == status and words in row[5]


def test_bozo_feed_keeps_good_entries_and_records_the_problem(db_url):
    spec = SourceSpec("atom", str(FIXTURES / "arxiv-rss-new" / "cs.AI_2025-08-20_ATOM_TRUNCATED.xml"), "arxiv-rss")
    summary = _ingest(db_url, spec, T0)
    assert (summary.status, summary.new, summary.problems) == ("ok", 86, 2)
    with session_factory(db_url)() as session:
        source = session.scalar(select(Source).where(Source.name == "atom"))
        assert source.last_error.startswith("malformed feed") and source.consecutive_failures == 0
        assert "first problem: malformed feed" in source_rows(session)[0][5]


def test_hostile_fixtures_ingest_without_harm(db_url):
    summaries = [_ingest(db_url, SourceSpec(p.name, str(p), "auto"), T0)
                 for p in sorted((FIXTURES / "hostile").iterdir())]
    assert len(summaries) == 18 and all(s.status in ("ok", "empty", "error") for s in summaries)
    assert sum(s.status == "error" for s in summaries) == 11
    with session_factory(db_url)() as session:
        assert session.query(Paper).count() == 0
        assert session.query(Source).count() == 18


@pytest.mark.parametrize("name", ["daily.json", "papers.txt"])
def test_hf_daily_file_under_any_name_is_ingested_as_hf_daily(db_url, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(HF.read_bytes())  # larger than the head resolve_spec sniffs
    with session_factory(db_url)() as session:
        spec = resolve_spec(session, str(path))
    assert spec.kind == "hf-daily"
    assert _ingest(db_url, spec, T0).new == 30
    paper = _paper(db_url, f"arxiv:{SHARED_ID}")
    assert paper.authors and paper.upvotes > 0 and paper.url == f"https://arxiv.org/abs/{SHARED_ID}"


SPEC_DECODING = "We speed up LLM inference with speculative decoding: a small draft model proposes tokens. " * 3


def _title_only(title, abstract=SPEC_DECODING):
    return PaperEntry(key=canonical_key(title=title), title=title, abstract=abstract)


def test_a_title_only_paper_seen_later_with_an_arxiv_id_becomes_one_paper(db_url):
    factory = session_factory(db_url)
    with factory.begin() as session:
        bulk_upsert_papers(session, [_title_only("Speculative Decoding with Draft Models")], "seeds", T0)
    with factory() as session:
        before = session.scalar(select(Paper))
    arrival = PaperEntry(key="arxiv:2608.00001", title="Speculative decoding with draft models!", version=1,
                         abstract="Revised abstract.", authors=["Ann Lee"], upvotes=31,
                         url="https://arxiv.org/abs/2608.00001")
    with factory.begin() as session:
        assert bulk_upsert_papers(session, [arrival], "hf", T1) == (0, 1, 0)
    with factory() as session:
        (paper,) = session.scalars(select(Paper)).all()
    assert (paper.id, paper.key, paper.first_seen_at) == (before.id, "arxiv:2608.00001", T0)
    assert paper.source_names == ["seeds", "hf"] and paper.upvotes == 31 and paper.authors == ["Ann Lee"]
    assert paper.abstract == "Revised abstract."  # a versioned source's text replaces the listing's
    with factory.begin() as session:  # the id's key now finds it: later arrivals are plain updates
        assert bulk_upsert_papers(session, [arrival], "arxiv", T1) == (0, 1, 0)
        assert session.query(Paper).count() == 1


def test_an_id_arrival_never_adopts_a_paper_keyed_otherwise_or_twice(db_url):
    factory = session_factory(db_url)
    with factory.begin() as session:
        bulk_upsert_papers(session, [_title_only("Graph transformers"),
                                     PaperEntry(key="url:example.org/p/1", title="Mixture of experts")], "a", T0)
    with factory.begin() as session:
        got = bulk_upsert_papers(session, [
            PaperEntry(key="arxiv:2608.00002", title="Graph Transformers"),
            PaperEntry(key="arxiv:2608.00003", title="Graph transformers"),  # another work, the same title
            PaperEntry(key="doi:10.1/moe", title="Mixture of experts"),  # a link is not a title-only key
        ], "b", T1)
    assert got == (2, 1, 0)
    with factory() as session:
        keys = sorted(session.scalars(select(Paper.key)))
    assert keys == ["arxiv:2608.00002", "arxiv:2608.00003", "doi:10.1/moe", "url:example.org/p/1"]


def test_a_reader_sent_the_title_only_paper_is_not_sent_its_arxiv_arrival(settings):
    thu = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.timezone.utc)
    factory = session_factory(settings.database_url)
    with factory.begin() as session:
        bulk_upsert_papers(session, [_title_only("Speculative Decoding with Draft Models")], "seeds", thu)
        subscribe(session, "ada@example.org", validate_preferences(topics=["speculative decoding"], send_hour=0),
                  thu - dt.timedelta(days=30))
    first = jobs.send_due(settings, thu + dt.timedelta(hours=1), respect_hour=True, sender=MemorySender())
    assert first.counts["sent"] == 1
    # Next week: the listing's paper is out of the candidate window, so only its key can tell it is the same work.
    later = thu + dt.timedelta(days=6)
    with factory.begin() as session:
        bulk_upsert_papers(session, [
            PaperEntry(key="arxiv:2611.00001", title="Speculative decoding with draft models", version=1,
                       abstract="Draft models propose, the large model verifies: speculative decoding.", upvotes=40),
            PaperEntry(key="arxiv:2611.00002", title="Tree speculative decoding", version=1,
                       abstract="Speculative decoding over a tree of drafts for faster LLM inference."),
        ], "hf", later - dt.timedelta(hours=4))
    assert jobs.send_due(settings, later, respect_hour=True, sender=MemorySender()).counts["sent"] == 1
    with factory() as session:
        sent = session.execute(select(Paper.key).join(DigestItem, DigestItem.paper_id == Paper.id)
                               .join(Digest, Digest.id == DigestItem.digest_id).order_by(Digest.edition_date)).all()
    # Thursday's paper, now under its arXiv key; next week only the other new one
    assert [key for key, in sent] == ["arxiv:2611.00001", "arxiv:2611.00002"]


def test_a_title_only_paper_is_not_re_keyed_onto_an_id_another_ingest_stored_meanwhile(db_url):
    factory = session_factory(db_url)
    arrival = PaperEntry(key="arxiv:2608.00004", title="Sparse attention")
    with factory.begin() as session:
        bulk_upsert_papers(session, [_title_only("Sparse attention")], "seeds", T0)
        # a row under the id (its title said otherwise), unseen by the read below
        bulk_upsert_papers(session, [PaperEntry(key=arrival.key, title="Sparse attention, revised")], "other", T0)
    with factory.begin() as session:
        known: dict = {}
        ingest._adopt_title_rows(session, {arrival.key: arrival}, known)
        assert known == {}
    with factory() as session:
        assert sorted(session.scalars(select(Paper.key))) == ["arxiv:2608.00004", "title:sparse attention"]
