"""Feedback in the database: one choice per (reader, work), arXiv ids matched to papers ingested later."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from digest import feedback as fb
from digest.db import session_factory
from digest.ingest import SourceSpec, ingest_source
from digest.models import Feedback, Paper, Subscriber
from digest.subscriptions import subscribe, validate_preferences
from helpers import FIXTURES

NOW = dt.datetime(2026, 4, 28, 12, tzinfo=dt.timezone.utc)
CS_LG = SourceSpec("cs-lg", str(FIXTURES / "arxiv-rss-new" / "cs.LG_2026-04-27_3items.xml"), "arxiv-rss")
ANOMALY = "2604.21956"  # "Conditional anomaly detection using soft harmonic functions …" in that feed


def reader(session, email="ada@example.org") -> Subscriber:
    return subscribe(session, email, validate_preferences(), NOW)[0]


def paper(session, arxiv_id) -> Paper:
    return session.scalar(select(Paper).where(Paper.key == f"arxiv:{arxiv_id}"))


@pytest.mark.parametrize("text", ["2411.17730", "arXiv:2411.17730v2", "https://arxiv.org/abs/2411.17730",
                                  " http://arxiv.org/pdf/2411.17730v1 ", "10.48550/arXiv.2411.17730"])
def test_arxiv_ids_are_read_in_every_usual_spelling(text):
    assert fb.parse_arxiv_id(text) == "2411.17730"


@pytest.mark.parametrize("text", ["", "17730", "doi:10.1000/x", "see https://example.org/abs/2411"])
def test_anything_else_is_refused_in_one_line(text):
    with pytest.raises(fb.FeedbackError, match="is not an arXiv id") as caught:
        fb.parse_arxiv_id(text)
    assert "\n" not in str(caught.value)


def test_a_new_choice_replaces_the_old_one(db_url):
    with session_factory(db_url).begin() as session:
        ingest_source(session, CS_LG, NOW)
        ada = reader(session)
        target = paper(session, ANOMALY)
        fb.record_paper(session, ada.id, target, fb.LIKE, "link", NOW)
        fb.record(session, ada.id, [fb.Work.of_arxiv(ANOMALY)], fb.DISLIKE, "cli", NOW + dt.timedelta(minutes=1))
        assert fb.get_choice(session, ada.id, target) == fb.DISLIKE
        (row,) = session.scalars(select(Feedback)).all()
        assert (row.paper_id, row.key, row.arxiv_id, row.origin) == (target.id, f"arxiv:{ANOMALY}", ANOMALY, "cli")
        assert fb.remove_paper(session, ada.id, target) and fb.get_choice(session, ada.id, target) is None
        assert not fb.remove_paper(session, ada.id, target)


def test_an_arxiv_id_liked_before_its_paper_is_ingested_is_matched_to_it_afterwards(db_url):
    with session_factory(db_url).begin() as session:
        ada = reader(session)
        ids = fb.record(session, ada.id, [fb.Work.of_arxiv(ANOMALY)], fb.LIKE, "cli", NOW)
        assert ids == {f"arxiv:{ANOMALY}": None}
        assert fb.bulk_examples(session, [ada.id])[ada.id].liked[0].paper_id is None
    with session_factory(db_url).begin() as session:
        ingest_source(session, CS_LG, NOW)
    with session_factory(db_url)() as session:
        target = paper(session, ANOMALY)
        examples = fb.bulk_examples(session, [ada.id])[ada.id]
        assert examples.paper_ids == {target.id}
        (liked,) = examples.liked
        assert (liked.paper_id, liked.arxiv_id, liked.title) == (target.id, ANOMALY, target.title)
        assert liked.title.startswith("Conditional anomaly detection") and "cs.LG" in liked.categories
        assert fb.get_choice(session, ada.id, target) == fb.LIKE
        assert [r.title for r in fb.get_rated(session, ada.id)] == [target.title]


def test_examples_for_a_batch_come_from_one_query_with_library_entries_keeping_their_text(db_url):
    from sqlalchemy import event

    with session_factory(db_url).begin() as session:
        ingest_source(session, CS_LG, NOW)
        readers = [reader(session, f"r{i}@example.org") for i in range(3)]
        for n, one in enumerate(readers):
            fb.record(session, one.id, [fb.Work.of_arxiv(ANOMALY)], fb.LIKE, "cli", NOW)
            fb.record(session, one.id, [fb.Work.of_title(f"A paper only in my library {n}", abstract="Words.",
                                                         authors=("Ada Lovelace",))], fb.DISLIKE, "library", NOW)
    with session_factory(db_url)() as session:
        statements = []
        engine = session.get_bind()

        def seen(conn, cursor, statement, *args):
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", seen)
        try:
            examples = fb.bulk_examples(session, [r.id for r in readers] + [999])
        finally:
            event.remove(engine, "before_cursor_execute", seen)
    assert len([s for s in statements if "feedback" in s.lower()]) == 1
    assert set(examples) == {r.id for r in readers}
    for n, one in enumerate(readers):
        (liked,), (disliked,) = examples[one.id].liked, examples[one.id].disliked
        assert liked.paper_id is not None and liked.abstract
        assert (disliked.paper_id, disliked.title, disliked.abstract, disliked.authors) == (
            None, f"A paper only in my library {n}", "Words.", ("Ada Lovelace",))


def test_removing_by_key_also_removes_the_row_of_the_stored_paper(db_url):
    with session_factory(db_url).begin() as session:
        ingest_source(session, CS_LG, NOW)
        ada = reader(session)
        fb.record_paper(session, ada.id, paper(session, ANOMALY), fb.LIKE, "link", NOW)
        assert fb.remove_keys(session, ada.id, [f"arxiv:{ANOMALY}", "arxiv:2411.00001"]) == {f"arxiv:{ANOMALY}"}
        assert session.scalar(select(func.count()).select_from(Feedback)) == 0


def test_a_row_is_removed_only_by_its_own_subscriber(db_url):
    with session_factory(db_url).begin() as session:
        ada, bob = reader(session), reader(session, "bob@example.org")
        fb.record(session, ada.id, [fb.Work.of_arxiv(ANOMALY)], fb.LIKE, "cli", NOW)
        (rated,) = fb.get_rated(session, ada.id)
        assert rated.url == f"https://arxiv.org/abs/{ANOMALY}" and rated.title == f"arXiv:{ANOMALY}"
        assert not fb.remove_row(session, bob.id, rated.id)
        assert fb.remove_row(session, ada.id, rated.id)
        assert fb.get_rated(session, ada.id) == []
