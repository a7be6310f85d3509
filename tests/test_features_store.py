"""Ranking features in the database: filled at ingest, refreshed when the text changes, after an upgrade."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update

from digest.delivery import editions
from digest.db import alembic_config, get_engine, session_factory, upgrade
from digest.ingest import ingest_source, seeds_spec
from digest.models import Paper
from digest.ranking import Profile, rank
from digest.ranking.edition import clear_edition_cache
from digest.ranking.embed import EMBED_VERSION
from digest.ranking.features import FEATURES_VERSION, is_current
from helpers import old_database

NOW = dt.datetime(2024, 11, 29, 12, tzinfo=dt.timezone.utc)


def test_ingest_stores_current_features_for_every_paper(db_url):
    with session_factory(db_url).begin() as session:
        ingest_source(session, seeds_spec(), NOW)
    with session_factory(db_url)() as session:
        rows = session.execute(select(Paper.title, Paper.abstract, Paper.authors, Paper.features,
                                      Paper.features_version)).all()
    assert len(rows) == 158
    assert all(r.features_version == FEATURES_VERSION and is_current(r.features, r.title, r.abstract, r.authors)
               for r in rows)


def test_text_edited_behind_ingest_gets_fresh_features_before_it_is_ranked(db_url):
    with session_factory(db_url).begin() as session:
        ingest_source(session, seeds_spec(), NOW)
    with get_engine(db_url).begin() as conn:  # plain SQL: no ORM event, no ingest bookkeeping
        pid = conn.scalar(select(Paper.id).order_by(Paper.id).limit(1))
        conn.execute(update(Paper).where(Paper.id == pid).values(title="Tidal heating of icy moons"))
    editions._CANDIDATES.clear()
    with session_factory(db_url).begin() as session:
        candidates, _ = editions.get_candidates(session, NOW, 3)
    edited = next(c for c in candidates if c.paper_id == pid)
    assert is_current(edited.features, edited.title, edited.abstract, edited.authors)
    clear_edition_cache()
    assert [p.paper_id for p in rank([Profile(7, topics=("icy moons",))], candidates, NOW)[7]] == [pid]
    with session_factory(db_url)() as session:  # and stored, so the next worker does not compute it again
        row = session.get(Paper, pid)
        assert is_current(row.features, row.title, row.abstract, row.authors)


def test_rows_from_before_features_existed_are_filled_after_the_upgrade(tmp_path):
    from alembic.script import ScriptDirectory

    url = f"sqlite:///{tmp_path}/old.sqlite3"
    old_database(url, "0001", NOW)
    assert upgrade(url) == ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    editions._CANDIDATES.clear()
    with session_factory(url).begin() as session:
        candidates, _ = editions.get_candidates(session, NOW, 3)
    assert len(candidates) == 1 and is_current(candidates[0].features, candidates[0].title, candidates[0].abstract, ())
    with session_factory(url)() as session:
        assert session.scalar(select(Paper.features_version)) == FEATURES_VERSION


def test_housekeeping_drops_features_outside_every_window_and_ingest_does_not_refill_them(settings):
    from digest import jobs

    old = NOW - dt.timedelta(days=30)
    jobs.run_ingest(settings, [seeds_spec()], old)
    with session_factory(settings.database_url).begin() as session:
        session.execute(update(Paper).where(Paper.id.in_(select(Paper.id).limit(100))).values(first_seen_at=NOW))
    assert jobs.prune_features(settings, NOW) == 58  # the 58 still first seen a month ago
    assert jobs.prune_features(settings, NOW) == 0
    jobs.run_ingest(settings, [seeds_spec()], NOW)  # nothing new: the old rows stay without features
    with session_factory(settings.database_url)() as session:
        kept = session.scalars(select(Paper.features_version).where(Paper.first_seen_at == NOW)).all()
        dropped = session.execute(select(Paper.features, Paper.features_version)
                                  .where(Paper.first_seen_at < NOW)).all()
    assert len(kept) == 100 and set(kept) == {FEATURES_VERSION}
    assert len(dropped) == 58 and all(f is None and v is None for f, v in dropped)
    editions._CANDIDATES.clear()
    with session_factory(settings.database_url).begin() as session:  # a past edition ranks them again
        candidates, _ = editions.get_candidates(session, old, 3)
    assert len(candidates) == 158
    assert all(is_current(c.features, c.title, c.abstract, c.authors) for c in candidates)


def test_a_batch_storing_features_holds_no_lock_on_papers_and_skips_rows_another_worker_holds(pg_url):
    """Two workers start the same edition at once: neither waits for the other's paper rows (features and
    sentence embeddings alike: ingest_source alone stores no embedding, as for rows from before the model)."""
    with session_factory(pg_url).begin() as session:
        ingest_source(session, seeds_spec(), NOW)
        session.execute(update(Paper).values(features_version=None))
    engine = get_engine(pg_url)
    with engine.connect() as other:  # another worker holds one paper row locked, mid-transaction
        other.exec_driver_sql("SET lock_timeout = '5s'")
        locked = other.scalar(select(Paper.id).order_by(Paper.id).limit(1).with_for_update())
        editions._CANDIDATES.clear()
        with session_factory(pg_url)() as session:
            session.connection().exec_driver_sql("SET lock_timeout = '2s'")
            candidates, _ = editions.get_candidates(session, NOW, 3)  # would time out if it waited
            assert len(candidates) == 158 and all(c.features and c.embedding for c in candidates)
            with engine.connect() as probe:  # committed already, while the caller's session is still open
                assert probe.scalar(select(func.count()).where(Paper.features_version == FEATURES_VERSION)) == 157
                assert probe.scalar(select(func.count()).where(Paper.embedding_version == EMBED_VERSION)) == 157
        other.rollback()
    with session_factory(pg_url)() as session:
        row = session.get(Paper, locked)
        assert row.features_version is None and row.embedding_version is None  # skipped; the next load fills it


def test_ingest_fill_tries_a_row_another_transaction_holds_once_and_returns(pg_url):
    import threading

    from digest.features import fill_missing

    with session_factory(pg_url).begin() as session:
        ingest_source(session, seeds_spec(), NOW)
        session.execute(update(Paper).values(features_version=None))
    engine = get_engine(pg_url)
    with engine.connect() as other:  # another ingest holds one paper row, mid-transaction
        locked = other.scalar(select(Paper.id).order_by(Paper.id).limit(1).with_for_update())
        done = []
        runner = threading.Thread(target=lambda: done.append(_fill(pg_url, fill_missing)), daemon=True)
        runner.start()
        runner.join(20)  # a fill that retried the skipped row would spin here until the lock went away
        assert done == [158], "fill_missing did not return while a row was locked"
        other.rollback()
    with session_factory(pg_url)() as session:
        assert session.get(Paper, locked).features_version is None  # left for the next fill
        assert session.scalar(select(func.count()).where(Paper.features_version == FEATURES_VERSION)) == 157


def _fill(url, fill_missing) -> int:
    with session_factory(url).begin() as session:
        return fill_missing(session)
