"""Stored ranking features: computed once per paper text, so ranking calls never tokenise.

Ingest fills them for the papers it wrote; `get_candidates` fills any paper
still without them (rows from before they existed, or features of an older
FEATURES_VERSION) before ranking, so a ranking call always finds them stored.
Both write with one executemany UPDATE per chunk; two workers filling the same
rows write the same bytes.
"""

from __future__ import annotations

from sqlalchemy import bindparam, or_, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from digest.models import Paper
from digest.ranking_features import FEATURES_VERSION, featurise, is_current

CHUNK = 2000


def stale(column=Paper.features_version):
    return or_(column.is_(None), column != FEATURES_VERSION)


def fill_missing(session: Session) -> int:
    """Compute and store features for every paper lacking current ones; return how many."""
    done = 0
    while True:
        rows = session.execute(select(Paper.id, Paper.title, Paper.abstract, Paper.authors)
                               .where(stale()).order_by(Paper.id).limit(CHUNK)).all()
        if not rows:
            return done
        _store(session, [r.id for r in rows], featurise([(r.title, r.abstract or "", r.authors or ()) for r in rows]))
        done += len(rows)


def fill_papers(session: Session, papers: list[Paper]) -> int:
    """For loaded Paper objects (features undeferred): compute, store and set the features of any whose stored ones
    are missing, of an older version, or of another text than the paper's now."""
    # The digest inside each blob catches text edited by any path, an ORM edit or plain SQL included.
    todo = [p for p in papers if p.features_version != FEATURES_VERSION
            or not is_current(p.features, p.title, p.abstract or "", p.authors or ())]
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start: start + CHUNK]
        blobs = featurise([(p.title, p.abstract or "", p.authors or ()) for p in chunk])
        _store(session, [p.id for p in chunk], blobs)
        for paper, blob in zip(chunk, blobs):
            set_committed_value(paper, "features", blob)
            set_committed_value(paper, "features_version", FEATURES_VERSION)
    return len(todo)


def _store(session: Session, ids: list[int], blobs: list[bytes]) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # One statement over two arrays: an executemany of 2,000 UPDATEs costs several times more round trips.
        session.execute(text(
            "UPDATE papers SET features = v.blob, features_version = :version "
            "FROM unnest(CAST(:ids AS integer[]), CAST(:blobs AS bytea[])) AS v(id, blob) WHERE papers.id = v.id"),
            {"ids": ids, "blobs": blobs, "version": FEATURES_VERSION})
        return
    statement = (update(Paper.__table__).where(Paper.__table__.c.id == bindparam("pid"))
                 .values(features=bindparam("blob"), features_version=FEATURES_VERSION))
    session.execute(statement, [{"pid": i, "blob": b} for i, b in zip(ids, blobs)])
