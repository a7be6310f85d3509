"""Stored sentence embeddings: computed once per paper text, with no write transaction held while the model runs.

Ingest (`jobs.run_ingest`) fills them after each source's transaction has
committed, for the recent papers without a current one; `get_candidates`
fills any paper of the edition still without (rows from before the model
shipped, a text changed since, an older EMBED_VERSION) and stores them for
the next worker. The model takes about 25 ms a paper: run inside the ingest
transaction it would hold SQLite's write lock (and keep sign-ups waiting) for
a minute per 1,500 papers, so rows are read, embedded, then stored in a
transaction of a few milliseconds, and only if their content did not change
meanwhile (their content_hash). Unlike the ranking features, embeddings are
never pruned: a liked paper is ranked by its vector however old it is.

When no model loads (`digest.ranking.embed.embedder_problem`), nothing here
fails: embeddings stay NULL and ranking goes by words only.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import and_, bindparam, or_, select, text, true, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from digest.db import insert_for
from digest.models import Paper, PhraseEmbedding
from digest.latex import readable
from digest.ranking import quotes, semantic
from digest.ranking.embed import EMBED_VERSION, get_embedder, paper_text, to_bytes

CHUNK = 256  # papers per read → embed → store round (about 6 s of model time)


def is_current(paper: Paper) -> bool:
    """True when the loaded paper (embedding undeferred) holds an embedding of the current EMBED_VERSION."""
    return paper.embedding is not None and paper.embedding_version == EMBED_VERSION


def current_embedding(paper: Paper) -> bytes | None:
    return paper.embedding if is_current(paper) else None


def fill_missing(factory: sessionmaker, since: dt.datetime | None = None) -> int:
    """Embed and store every paper (first seen since `since`) without a current embedding; how many were stored.

    Pages forward by id, each row tried once per call; reads and stores in short transactions of their own."""
    embedder = get_embedder()
    if embedder is None:
        return 0
    recent = Paper.first_seen_at >= since if since is not None else true()
    stale = or_(Paper.embedding_version.is_(None), Paper.embedding_version != EMBED_VERSION)
    done, after = 0, 0
    while True:
        with factory() as session:
            rows = session.execute(select(Paper.id, Paper.title, Paper.abstract, Paper.content_hash)
                                   .where(stale, recent, Paper.id > after).order_by(Paper.id).limit(CHUNK)).all()
        if not rows:
            return done
        blobs = _compute(embedder, [(r.title, r.abstract or "") for r in rows])
        with factory.begin() as session:
            done += _store(session, [(r.id, r.content_hash, *b) for r, b in zip(rows, blobs)])
        after = rows[-1].id


def fill_papers(session: Session, papers: list[Paper]) -> int:
    """For loaded Paper objects (embedding undeferred): compute, store and set the embedding of any without a
    current one; how many were computed. Stored in transactions of their own, committed at once (the caller may
    be a delivery batch, which must hold no row locks on papers until its own commit)."""
    embedder = get_embedder()
    todo = [p for p in papers if not is_current(p)] if embedder is not None else []
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start: start + CHUNK]
        blobs = _compute(embedder, [(p.title, p.abstract or "") for p in chunk])
        with Session(session.get_bind()) as aside, aside.begin():
            _store(aside, [(p.id, p.content_hash, *b) for p, b in zip(chunk, blobs)])
        for paper, (blob, sentences) in zip(chunk, blobs):
            set_committed_value(paper, "embedding", blob)
            set_committed_value(paper, "sentence_embeddings", sentences)
            set_committed_value(paper, "embedding_version", EMBED_VERSION)
    return len(todo)


def _compute(embedder, texts: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """(paper vector, its abstract's sentence vectors) per (title, abstract), as stored."""
    vectors = embedder.embed([paper_text(title, abstract) for title, abstract in texts])
    sentences = quotes.sentence_vectors(embedder, [readable(abstract) for _, abstract in texts])
    return [(to_bytes(v), s) for v, s in zip(vectors, sentences)]


def current_sentences(paper: Paper) -> bytes | None:
    return paper.sentence_embeddings if is_current(paper) else None


def _store(session: Session, rows: list[tuple[int, str, bytes, bytes]]) -> int:
    """Store (id, content_hash, blob, sentence blob) rows whose content_hash is still the one embedded; how many
    were stored."""
    if session.get_bind().dialect.name == "postgresql":
        # One statement over three arrays. Rows another worker is storing right now are skipped, not waited
        # for: it writes the same bytes, and two workers locking rows in different orders could deadlock.
        result = session.execute(text(
            "UPDATE papers SET embedding = v.blob, sentence_embeddings = v.sentences, embedding_version = :version "
            "FROM unnest(CAST(:ids AS integer[]), CAST(:hashes AS varchar[]), CAST(:blobs AS bytea[]), "
            "CAST(:sentences AS bytea[])) "
            "AS v(id, hash, blob, sentences) WHERE papers.id = v.id AND papers.content_hash = v.hash "
            "AND papers.id IN (SELECT id FROM papers WHERE id = ANY(CAST(:ids AS integer[])) FOR UPDATE SKIP LOCKED)"),
            {"ids": [r[0] for r in rows], "hashes": [r[1] for r in rows], "blobs": [r[2] for r in rows],
             "sentences": [r[3] for r in rows], "version": EMBED_VERSION})
        return result.rowcount or 0
    table = Paper.__table__
    statement = (update(table).where(and_(table.c.id == bindparam("pid"), table.c.content_hash == bindparam("hash")))
                 .values(embedding=bindparam("blob"), sentence_embeddings=bindparam("sentences"),
                         embedding_version=EMBED_VERSION))
    result = session.execute(statement, [{"pid": i, "hash": h, "blob": b, "sentences": s} for i, h, b, s in rows])
    return result.rowcount if result.rowcount is not None and result.rowcount >= 0 else len(rows)


def load_phrases(session: Session, phrases) -> int:
    """Make the vectors of these topic phrases known to ranking (`semantic.remember_phrases`): those stored,
    and the others embedded now and stored for every later batch and worker; how many were embedded.

    A profile's topic vectors so stay cached until the profile changes: a new phrase is a new row."""
    wanted = {hashlib.sha256(p.encode()).hexdigest(): p for p in dict.fromkeys(t.strip() for t in phrases) if p}
    if not wanted:
        return 0
    rows = session.execute(select(PhraseEmbedding.key, PhraseEmbedding.embedding).where(
        PhraseEmbedding.key.in_(list(wanted)), PhraseEmbedding.version == EMBED_VERSION)).all()
    semantic.remember_phrases({wanted[key]: blob for key, blob in rows})
    missing = [key for key in wanted if key not in {r.key for r in rows}]
    embedder = get_embedder() if missing else None
    if embedder is None:
        return 0
    blobs = [to_bytes(v) for v in embedder.embed([wanted[k] for k in missing])]
    semantic.remember_phrases({wanted[k]: b for k, b in zip(missing, blobs)})
    with Session(session.get_bind()) as aside, aside.begin():  # stored at once, apart from the caller's work
        statement = insert_for(aside, PhraseEmbedding.__table__)
        aside.execute(statement.on_conflict_do_update(
            index_elements=["key"], set_={"embedding": statement.excluded.embedding,
                                          "version": statement.excluded.version}),
            [{"key": k, "phrase": wanted[k], "version": EMBED_VERSION, "embedding": b} for k, b in zip(missing, blobs)])
    return len(missing)
