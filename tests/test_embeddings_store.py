"""Sentence embeddings in the database: stored at ingest, filled for older rows when ranked, never pruned."""

from __future__ import annotations

import datetime as dt

import numpy as np
from sqlalchemy import func, select, update

from digest import embeddings, jobs
from digest.delivery import editions
from digest.db import get_engine, session_factory, upgrade
from digest.ingest import SourceSpec, seeds_spec
from digest.models import Paper
from digest.ranking.embed import EMBED_VERSION, from_bytes, get_embedder, paper_text
from helpers import FIXTURES, old_database

NOW = dt.datetime(2026, 4, 28, 12, tzinfo=dt.timezone.utc)  # the day after THREE_ITEMS was announced
THREE_ITEMS = FIXTURES / "arxiv-rss-new" / "cs.AI_2026-04-27_3items.xml"


def stored(url) -> list:
    with session_factory(url)() as session:
        return session.execute(select(Paper.id, Paper.title, Paper.abstract, Paper.embedding, Paper.embedding_version)
                               .order_by(Paper.id)).all()


def same_vectors(rows) -> bool:
    """Each row's stored vector is the model's vector of its text (cosine > 0.999); the seed papers' are looked up
    in known.npz, which tests/ranking/test_embed.py holds to the model's."""
    computed = get_embedder().embed([paper_text(r.title, r.abstract) for r in rows]).astype(np.float32)
    kept = np.stack([from_bytes(r.embedding) for r in rows]).astype(np.float32)
    return bool(np.sum(kept * computed, axis=1).min() > 0.999)


def test_ingest_stores_an_embedding_of_the_current_version_for_every_paper_it_wrote(settings):
    jobs.run_ingest(settings, [seeds_spec(), SourceSpec("cs.AI", str(THREE_ITEMS), "arxiv-rss")], NOW)
    rows = stored(settings.database_url)
    assert len(rows) == 158 + 3
    assert all(r.embedding_version == EMBED_VERSION and len(r.embedding) == 768 for r in rows)
    assert same_vectors(rows)


def test_a_new_version_of_a_paper_gets_a_new_embedding_at_ingest(settings, tmp_path):
    jobs.run_ingest(settings, [SourceSpec("cs.AI", str(THREE_ITEMS), "arxiv-rss")], NOW)
    before = {r.id: r.embedding for r in stored(settings.database_url)}
    revised = tmp_path / "revised.xml"
    revised.write_text(THREE_ITEMS.read_text().replace("2604.21935v1", "2604.21935v2")  # guid and description
                       .replace("<title>Math Takes Two", "<title>Revised: Math Takes Two"))
    jobs.run_ingest(settings, [SourceSpec("cs.AI", str(revised), "arxiv-rss")], NOW + dt.timedelta(days=1))
    rows = stored(settings.database_url)
    changed = [r for r in rows if r.title.startswith("Revised: ")]
    assert len(changed) == 1 and changed[0].embedding != before[changed[0].id]
    assert all(r.embedding == before[r.id] for r in rows if r not in changed)
    assert same_vectors(rows)


def test_a_row_stored_without_an_embedding_gets_it_when_ranked_and_keeps_it(settings):
    jobs.run_ingest(settings, [seeds_spec()], NOW)
    with get_engine(settings.database_url).begin() as conn:  # rows from before the model, or written by hand
        conn.execute(update(Paper).where(Paper.id <= 20).values(embedding=None, embedding_version=None))
        conn.execute(update(Paper).where(Paper.id.between(21, 30)).values(embedding_version=EMBED_VERSION - 1))
    editions._CANDIDATES.clear()
    with session_factory(settings.database_url).begin() as session:
        candidates, _ = editions.get_candidates(session, NOW, 3)
    assert len(candidates) == 158 and all(c.embedding is not None and len(c.embedding) == 768 for c in candidates)
    rows = stored(settings.database_url)  # stored, so the next worker does not compute them again
    assert all(r.embedding_version == EMBED_VERSION for r in rows)
    assert same_vectors(rows)


def test_without_a_model_ingest_and_ranking_work_and_embeddings_stay_empty(settings, monkeypatch):
    monkeypatch.setenv("DIGEST_EMBEDDINGS", "off")
    summaries = jobs.run_ingest(settings, [seeds_spec()], NOW)
    assert [s.new for s in summaries] == [158]
    editions._CANDIDATES.clear()
    with session_factory(settings.database_url).begin() as session:
        candidates, _ = editions.get_candidates(session, NOW, 3)
    assert len(candidates) == 158 and all(c.embedding is None and c.features for c in candidates)
    assert {(r.embedding, r.embedding_version) for r in stored(settings.database_url)} == {(None, None)}


def test_housekeeping_keeps_the_embeddings_of_old_papers(settings):
    jobs.run_ingest(settings, [seeds_spec()], NOW - dt.timedelta(days=30))
    assert jobs.prune_features(settings, NOW) == 158
    rows = stored(settings.database_url)
    assert all(r.embedding_version == EMBED_VERSION and r.embedding for r in rows)


def test_a_vector_of_a_text_changed_meanwhile_is_not_stored(sqlite_settings):
    jobs.run_ingest(sqlite_settings, [SourceSpec("cs.AI", str(THREE_ITEMS), "arxiv-rss")], NOW)
    factory = session_factory(sqlite_settings.database_url)
    with factory.begin() as session:
        session.execute(update(Paper).values(embedding=None, embedding_version=None))
        first = session.scalar(select(Paper).order_by(Paper.id).limit(1))
        blob = bytes(768)
        assert embeddings._store(session, [(first.id, first.content_hash + "-old", blob, b"")]) == 0
        assert embeddings._store(session, [(first.id, first.content_hash, blob, b"")]) == 1
    with factory() as session:
        assert session.scalar(select(func.count()).where(Paper.embedding_version == EMBED_VERSION)) == 1


def test_rows_from_before_embeddings_existed_are_filled_after_the_upgrade(tmp_path):
    url = f"sqlite:///{tmp_path}/old.sqlite3"
    old_database(url, "0003", NOW)
    upgrade(url)
    editions._CANDIDATES.clear()
    with session_factory(url).begin() as session:
        candidates, _ = editions.get_candidates(session, NOW, 3)
    assert len(candidates) == 1 and candidates[0].embedding is not None
    assert same_vectors(stored(url))


def test_topic_phrase_vectors_are_stored_once_and_reused_by_later_batches(db_url):
    from digest.models import PhraseEmbedding
    from digest.ranking import semantic

    phrases = ["graph neural networks", " graph neural networks ", "sourdough bread baking"]
    with session_factory(db_url)() as session:
        assert embeddings.load_phrases(session, phrases) == 2  # the same phrase, spaced differently, is one
    semantic._PHRASES.clear()  # a new worker: nothing in memory
    with session_factory(db_url)() as session:
        assert embeddings.load_phrases(session, phrases) == 0  # all stored: the model is not run
        assert session.scalar(select(func.count()).select_from(PhraseEmbedding)) == 2
    got = semantic.phrase_vectors(["graph neural networks"])[0]
    fresh = get_embedder().run(["graph neural networks"])[0].astype(np.float32)
    assert float(got @ fresh) > 0.999


def test_each_abstract_sentence_is_stored_embedded_for_the_closest_sentence_reason(settings):
    from digest.latex import readable
    from digest.ranking import quotes

    jobs.run_ingest(settings, [SourceSpec("cs.AI", str(THREE_ITEMS), "arxiv-rss")], NOW)
    with session_factory(settings.database_url)() as session:
        rows = session.execute(select(Paper.abstract, Paper.sentence_embeddings)).all()
    assert len(rows) == 3
    topic = get_embedder().run(["large language model agents"])[0].astype(np.float32)
    for abstract, blob in rows:
        parts = quotes.sentences(readable(abstract))
        assert len(blob) == len(parts) * 768
        fresh = get_embedder().run(parts).astype(np.float32)
        assert quotes.closest_sentence(readable(abstract), topic, stored=blob) == \
            quotes.shorten(parts[int(np.argmax(fresh @ topic))])
