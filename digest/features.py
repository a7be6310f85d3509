"""Stored ranking features: computed once per paper text, so ranking calls never tokenise.

Ingest fills them for the recent papers it wrote; `get_candidates` fills any
paper still without them (rows from before they existed, features of an older
FEATURES_VERSION, text edited behind ingest) before ranking, so a ranking call
always finds them stored. Two workers filling the same rows write the same
bytes. Papers too old for any edition's window give theirs back
(`prune`, hourly housekeeping): about 2 KB a paper that would otherwise grow
with the archive.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, or_, select, text, true, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from digest.models import Paper
from digest.ranking.features import FEATURES_VERSION, featurise, is_current

CHUNK = 2000
INGEST_DAYS = 8  # ingest fills papers first seen this recently: the weekly window and a day


def fill_missing(session: Session, since: dt.datetime | None = None) -> int:
    """Compute and store features for every paper (first seen since `since`) lacking current ones; how many it computed.

    Pages forward by id, so each row is tried once per call: a row another transaction holds is skipped
    (see `_store`) and left for the next call, never retried in a loop."""
    done, after = 0, 0
    recent = Paper.first_seen_at >= since if since is not None else true()
    stale = or_(Paper.features_version.is_(None), Paper.features_version != FEATURES_VERSION)
    while True:
        rows = session.execute(select(Paper.id, Paper.title, Paper.abstract, Paper.authors)
                               .where(stale, recent, Paper.id > after).order_by(Paper.id).limit(CHUNK)).all()
        if not rows:
            return done
        _store(session, [r.id for r in rows], featurise([(r.title, r.abstract or "", r.authors or ()) for r in rows]))
        done, after = done + len(rows), rows[-1].id


def fill_papers(session: Session, papers: list[Paper]) -> int:
    """For loaded Paper objects (features undeferred): compute, store and set the features of any whose stored ones
    are missing, of an older version, or of another text than the paper's now."""
    # The digest inside each blob catches text edited by any path, an ORM edit or plain SQL included.
    todo = [p for p in papers if p.features_version != FEATURES_VERSION
            or not is_current(p.features, p.title, p.abstract or "", p.authors or ())]
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start: start + CHUNK]
        blobs = featurise([(p.title, p.abstract or "", p.authors or ()) for p in chunk])
        # In a transaction of its own, committed at once: the caller may be a delivery batch, which must not
        # hold row locks on papers (or make a second worker wait on them) until its own commit.
        with Session(session.get_bind()) as aside, aside.begin():
            _store(aside, [p.id for p in chunk], blobs)
        for paper, blob in zip(chunk, blobs):
            set_committed_value(paper, "features", blob)
            set_committed_value(paper, "features_version", FEATURES_VERSION)
    return len(todo)


def prune(session: Session, before: dt.datetime) -> int:
    """Drop the features of papers first seen before `before` (outside every window); how many.
    Ranking such a paper again, say for `digest send --date` in the past, computes them afresh."""
    result = session.execute(update(Paper.__table__)
                             .where(Paper.__table__.c.first_seen_at < before,
                                    Paper.__table__.c.features_version.is_not(None))
                             .values(features=None, features_version=None))
    return result.rowcount or 0


def _store(session: Session, ids: list[int], blobs: list[bytes]) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # One statement over two arrays (an executemany of 2,000 UPDATEs costs several times more round trips).
        # Rows another worker is storing right now are skipped, not waited for: it writes the same bytes, and
        # two workers locking the same rows in different orders could deadlock.
        session.execute(text(
            "UPDATE papers SET features = v.blob, features_version = :version "
            "FROM unnest(CAST(:ids AS integer[]), CAST(:blobs AS bytea[])) AS v(id, blob) WHERE papers.id = v.id "
            "AND papers.id IN (SELECT id FROM papers WHERE id = ANY(CAST(:ids AS integer[])) FOR UPDATE SKIP LOCKED)"),
            {"ids": ids, "blobs": blobs, "version": FEATURES_VERSION})
        return
    statement = (update(Paper.__table__).where(Paper.__table__.c.id == bindparam("pid"))
                 .values(features=bindparam("blob"), features_version=FEATURES_VERSION))
    session.execute(statement, [{"pid": i, "blob": b} for i, b in zip(ids, blobs)])
