"""What readers tell us about papers: "more like this" (+1) and "less like this" (-1), against the database.

Feedback comes from the links in every digest (origin `link`), `digest like/dislike` (`cli`) and an
imported reference library (`library`). Each row names a work by the key papers.key uses
(`arxiv:<id>` without version, `doi:…`, `title:<words>`), one row per (subscriber, key): a new choice
replaces the old one. A work that is not in the database (a library entry, an arXiv id not ingested
yet) keeps its own text and is matched to the paper by key whenever feedback is read, so nothing has
to run at ingest.

Ranking gets it as `ranking.Example`s in `Profile.liked` / `Profile.disliked` (`bulk_examples`, one
query per batch of subscribers); a paper the reader rated is never sent to them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import Session, aliased

from digest import ranking
from digest.db import insert_for
from digest.models import Feedback, Paper
from digest.ranking.embed import EMBED_VERSION
from digest.sources.keys import arxiv_links, canonical_key, find_arxiv_id
from digest.sources.text import normalise_title

LIKE, DISLIKE = 1, -1
ORIGINS = ("link", "cli", "library")
_CHUNK = 500  # keys per IN (...) and rows per INSERT


class FeedbackError(ValueError):
    """A value the user gave that names no paper; the message is one line."""


def parse_arxiv_id(text: str) -> str:
    """`2411.17730`, `arXiv:2411.17730v2`, `https://arxiv.org/abs/2411.17730` -> `2411.17730` (no version)."""
    found = find_arxiv_id((text or "").strip())
    if found is None:
        raise FeedbackError(f"{text[:80]!r} is not an arXiv id (e.g. 2411.17730, arXiv:2411.17730v2 or "
                            "https://arxiv.org/abs/2411.17730)")
    return found[0]


@dataclass(frozen=True)
class Work:
    """What one feedback row names: a key, and the text of an entry that may not be in the database."""

    key: str
    arxiv_id: str | None = None
    title: str = ""
    abstract: str = ""
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @classmethod
    def of_arxiv(cls, arxiv_id: str, **text) -> Work:
        return cls(canonical_key(arxiv_id=arxiv_id), arxiv_id, **text)

    @classmethod
    def of_title(cls, title: str, **text) -> Work:
        # A title of no Latin letters or digits folds to nothing in canonical_key: keep its own words instead.
        key = canonical_key(title=title) if normalise_title(title) else f"title:{' '.join(title.casefold().split())}"
        return cls(key[:300], None, title, **text)

    @classmethod
    def of_paper(cls, paper: Paper) -> Work:
        """A stored paper: its key; the text stays on the paper row."""
        return cls(paper.key, paper.key.removeprefix("arxiv:") if paper.key.startswith("arxiv:") else None)


def record(session: Session, subscriber_id: int, works: list[Work], sign: int, origin: str,
           now: dt.datetime) -> dict[str, int | None]:
    """Store one choice per work (replacing any earlier one); return each key's paper id (None: not stored).

    Papers are found by key in one query per chunk; the rows go in as multi-row upserts.
    """
    if sign not in (LIKE, DISLIKE) or origin not in ORIGINS:
        raise ValueError(f"feedback sign {sign!r} / origin {origin!r}")
    unique = list({w.key: w for w in works}.values())
    papers = _paper_ids(session, [w.key for w in unique])
    rows = [{"subscriber_id": subscriber_id, "paper_id": papers.get(w.key), "key": w.key, "arxiv_id": w.arxiv_id,
             "title": w.title[:2000], "abstract": w.abstract[:20000], "authors": list(w.authors[:100]),
             "categories": list(w.categories[:20]), "sign": sign, "origin": origin, "created_at": now}
            for w in unique]
    for start in range(0, len(rows), _CHUNK):
        insert = insert_for(session, Feedback)
        replace = {name: insert.excluded[name] for name in ("arxiv_id", "title", "abstract", "authors", "categories",
                                                            "sign", "origin", "created_at")}
        replace["paper_id"] = func.coalesce(insert.excluded.paper_id, Feedback.paper_id)
        session.execute(insert.values(rows[start:start + _CHUNK]).on_conflict_do_update(
            index_elements=["subscriber_id", "key"], set_=replace))
    return {w.key: papers.get(w.key) for w in unique}


def _paper_ids(session: Session, keys: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(keys), _CHUNK):
        found.update(session.execute(select(Paper.key, Paper.id).where(Paper.key.in_(keys[start:start + _CHUNK]))).all())
    return found


def import_entries(session: Session, subscriber_id: int, entries, now: dt.datetime) -> None:
    """A reference library's entries (`digest.library.LibraryEntry`) as liked works: by arXiv id, else by title."""
    works = []
    for entry in entries:
        text = {"abstract": entry.abstract, "authors": entry.authors, "categories": entry.categories}
        works.append(Work.of_arxiv(entry.arxiv_id, title=entry.title, **text) if entry.arxiv_id
                     else Work.of_title(entry.title, **text))
    record(session, subscriber_id, works, LIKE, "library", now)


def record_paper(session: Session, subscriber_id: int, paper: Paper, sign: int, origin: str,
                 now: dt.datetime) -> None:
    """The reader's choice on a stored paper (a digest link)."""
    record(session, subscriber_id, [Work.of_paper(paper)], sign, origin, now)


def _naming(subscriber_id: int, paper: Paper):
    """The rows about this paper: linked to it, or recorded under its key before it was stored."""
    return (Feedback.subscriber_id == subscriber_id) & ((Feedback.paper_id == paper.id) | (Feedback.key == paper.key))


def get_choice(session: Session, subscriber_id: int, paper: Paper) -> int | None:
    """+1, -1, or None when the reader has not rated this paper."""
    return session.scalar(select(Feedback.sign).where(_naming(subscriber_id, paper))
                          .order_by(Feedback.created_at.desc()).limit(1))


def remove_paper(session: Session, subscriber_id: int, paper: Paper) -> bool:
    """Take back the reader's choice on a paper; False if there was none."""
    return (session.execute(delete(Feedback).where(_naming(subscriber_id, paper))).rowcount or 0) > 0


def remove_keys(session: Session, subscriber_id: int, keys: list[str]) -> set[str]:
    """Take back the choices on these keys (and on the papers stored under them); return the keys that had one."""
    removed: set[str] = set()
    papers = _paper_ids(session, keys)
    for key in dict.fromkeys(keys):
        named = Feedback.key == key
        if key in papers:
            named = named | (Feedback.paper_id == papers[key])
        if session.execute(delete(Feedback).where(Feedback.subscriber_id == subscriber_id, named)).rowcount:
            removed.add(key)
    return removed


def remove_row(session: Session, subscriber_id: int, feedback_id: int) -> bool:
    """Delete one of this subscriber's rows by id (the preferences page's remove button)."""
    done = session.execute(delete(Feedback).where(Feedback.id == feedback_id, Feedback.subscriber_id == subscriber_id))
    return (done.rowcount or 0) > 0


@dataclass(frozen=True)
class Rated:
    """One rated work as the preferences page lists it."""

    id: int
    sign: int
    title: str
    url: str | None
    origin: str


def get_rated(session: Session, subscriber_id: int) -> list[Rated]:
    """The subscriber's rated works, newest first, with the stored paper's title and page when there is one."""
    resolved = _resolved_paper_id()
    rows = session.execute(
        select(Feedback.id, Feedback.sign, Feedback.title, Feedback.arxiv_id, Feedback.origin, Paper.title, Paper.url)
        .outerjoin(Paper, Paper.id == resolved).where(Feedback.subscriber_id == subscriber_id)
        .order_by(Feedback.created_at.desc(), Feedback.id.desc()))
    return [Rated(fid, sign, paper_title or title or (f"arXiv:{arxiv_id}" if arxiv_id else "untitled"),
                  url or (arxiv_links(arxiv_id)[0] if arxiv_id else None), origin)
            for fid, sign, title, arxiv_id, origin, paper_title, url in rows]


def count_rated(session: Session, subscriber_id: int) -> dict[int, int]:
    """{+1: liked, -1: disliked} counts."""
    rows = session.execute(select(Feedback.sign, func.count()).where(Feedback.subscriber_id == subscriber_id)
                           .group_by(Feedback.sign))
    return {LIKE: 0, DISLIKE: 0, **dict(rows.all())}


def _resolved_paper_id():
    """The row's paper, or the paper stored since under the row's key (papers.key is unique and indexed)."""
    stored = aliased(Paper)
    by_key = select(stored.id).where(stored.key == Feedback.key).correlate(Feedback).scalar_subquery()
    return func.coalesce(Feedback.paper_id, by_key)


@dataclass
class Examples:
    """One subscriber's feedback as ranking inputs, and the stored papers it names (never to be sent)."""

    liked: list[ranking.Example] = field(default_factory=list)
    disliked: list[ranking.Example] = field(default_factory=list)
    paper_ids: set[int] = field(default_factory=set)


def bulk_examples(session: Session, subscriber_ids: list[int]) -> dict[int, Examples]:
    """Every listed subscriber's liked and disliked works, newest first, in one query per chunk of subscribers.

    A stored paper comes with its own text and its stored embedding (when of the current model); an
    entry not in the database with the text it was recorded with. Read-only.
    """
    out: dict[int, Examples] = {}
    current = case((Paper.embedding_version == EMBED_VERSION, Paper.embedding), else_=None)  # an older model's: none
    paper_columns = [Paper.id, Paper.title, Paper.abstract, Paper.authors, Paper.categories, current]
    for start in range(0, len(subscriber_ids), _CHUNK):
        chunk = subscriber_ids[start:start + _CHUNK]
        rows = session.execute(
            select(Feedback.subscriber_id, Feedback.sign, Feedback.arxiv_id, Feedback.title, Feedback.abstract,
                   Feedback.authors, Feedback.categories, *paper_columns)
            .outerjoin(Paper, Paper.id == _resolved_paper_id()).where(Feedback.subscriber_id.in_(chunk))
            .order_by(Feedback.subscriber_id, Feedback.created_at.desc(), Feedback.id.desc()))
        for row in rows:
            mine = out.setdefault(row[0], Examples())
            if row[7] is not None:
                if row[7] in mine.paper_ids:
                    continue  # two rows reached one paper (it was re-keyed): the newest choice counts
                mine.paper_ids.add(row[7])
            (mine.liked if row[1] == LIKE else mine.disliked).append(_example(row))
    return out


def _example(row) -> ranking.Example:
    _, _, arxiv_id, title, abstract, authors, categories, paper_id, *paper = row
    if paper_id is None:
        return ranking.Example(None, title or "", abstract or "", tuple(authors or ()), tuple(categories or ()),
                               arxiv_id)
    p_title, p_abstract, p_authors, p_categories, embedding = paper
    return ranking.Example(paper_id, p_title or "", p_abstract or "", tuple(p_authors or ()),
                           tuple(p_categories or ()), arxiv_id, embedding=embedding)
