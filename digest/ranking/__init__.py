"""Ranking, pure: every due subscriber × every candidate paper in one vectorised batch.

Plain data and an explicit `now` in, ranked picks with scores and reasons out;
no database, no clock. The edition's papers come with their features already
tokenised (`ranking.features`, stored at ingest) and are assembled into arrays
once per call (`ranking.edition`, `ranking.text`): every distinct topic
phrase is scored against every paper in one sparse × dense product and only
the cells above the floor are kept, best first. Subscribers are then handled block by block as flat
arrays of (subscriber, paper) cells (`ranking.select`): filters, topic-coverage
damping and top-k are numpy operations, so memory stays bounded and no Python
loop runs over papers per subscriber. The result keeps the chosen cells as
arrays (`ranking.picks.Picks`, a read-only mapping): a subscriber's Picks and
their reasons are written in Python only when that subscriber is looked up.

score = relevance × (W_BASE + W_RECENCY · recency + W_TREND · trending)

- relevance: best topic's BM25 match in [0, 1] (+ PHRASE_BONUS for the exact
  phrase), at least AUTHOR_RELEVANCE for a followed author; must reach the
  subscriber's floor.
- recency: 0.5 ** (hours since announced / half-life).
- trending: log-damped popularity divided by the edition's maximum, so a viral
  paper nudges order among relevant papers and never drowns a topic.

A profile without topics has no relevance to rank by: a categories-only one
gets its categories' papers, and an empty one (no topics, categories or
followed authors) the whole edition's, both most popular first (upvotes,
stars, sources, then recency; `ranking.trending`), scored in the band of
CATEGORY_RELEVANCE × [W_BASE, 1] by their place in that order.

Public surface: `rank`, `Profile`, `Candidate`, `Pick`, `Picks`. The
package's modules: `features` (text → stored features), `text` (tokens, BM25
terms), `edition` (one edition's arrays, cached; the profiles compiled),
`withheld` (exclusions, papers already sent or rated), `select` (flat cell
arrays, filters, top-k), `semantic` (relevance by meaning), `nearest` (the
nearest-papers search), `likes` (liked and disliked papers), `embed` (the
sentence model), `quotes` (key sentences), `picks` (the result and its
reasons), `dups` (near-duplicate groups), `trending` (popularity order),
`evaluate` and `harness` (quality on captured feeds). Pure: no database,
network or Celery (tests/test_layering.py).

A large call uses every core: each topic's tables are built in a thread while
the rest of the profiles is compiled, and blocks of subscribers are ranked in
a thread pool (DIGEST_RANK_THREADS; numpy and BLAS release the GIL).
"""

from __future__ import annotations

import datetime as dt
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from digest.ranking import likes, select
from digest.ranking import semantic
from digest.ranking import trending
from digest.ranking.edition import Compiled, Edition, bulk_compile, compile_topics, prepare_edition
from digest.ranking.picks import Explainer, Pick, Picks, gc_paused

__all__ = ["Candidate", "Example", "Pick", "Picks", "Profile", "rank"]

DEFAULT_FLOOR = 0.2
CATEGORY_RELEVANCE = 0.5
AUTHOR_RELEVANCE = 0.6
W_BASE, W_RECENCY, W_TREND = 0.6, 0.25, 0.15
BLOCK_ROWS = 8192         # subscribers per block: bounds the flat cell arrays
RANK_THREADS = int(os.environ.get("DIGEST_RANK_THREADS", "0") or 0)  # blocks ranked at once; 0: one per core


@dataclass(frozen=True)
class Example:
    """A paper the reader liked or disliked: feedback on a stored paper, or an entry of an imported library.

    `paper_id` is set when the paper is in the database (its stored embedding and features then come with it);
    an imported entry not in the database has only its text, embedded when the profile is compiled.
    """

    paper_id: int | None = None
    title: str = ""
    abstract: str = ""
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    arxiv_id: str | None = None
    # float16 × EMBED_DIM, little-endian (ranking.embed); None: computed from the text when needed.
    embedding: bytes | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Profile:
    """What a subscriber wants."""

    subscriber_id: int
    topics: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()  # words, phrases or author names
    authors: tuple[str, ...] = ()  # followed authors
    max_papers: int = 10
    min_score: float = 0.0
    liked: tuple[Example, ...] = ()     # "more like this", `--like`, `--library`
    disliked: tuple[Example, ...] = ()  # "less like this"
    updates: bool = False               # also wants revised versions of older papers ("Updated" block)


@dataclass(frozen=True)
class Candidate:
    """A paper that may go out in this edition."""

    paper_id: int
    title: str
    abstract: str = ""
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    seen_at: dt.datetime | None = None  # announced, else first seen
    upvotes: int = 0
    github_stars: int = 0
    n_sources: int = 1
    comments: int = 0
    # Stored ranking features (features.featurise, computed at ingest); None: computed in the call.
    features: bytes | None = field(default=None, compare=False, repr=False)
    # Stored sentence embedding (float16 × EMBED_DIM, computed at ingest); None: computed in the call if a model loads.
    embedding: bytes | None = field(default=None, compare=False, repr=False)
    # The abstract's sentences embedded (ranking.quotes.sentences, float16 each), for the closest-sentence reason.
    sentences: bytes | None = field(default=None, compare=False, repr=False)
    announce_type: str | None = None  # arXiv: new / cross / replace / replace-cross; None for other sources
    first_announced_at: dt.datetime | None = None  # the paper's first announcement (v1), when known


def rank(profiles: list[Profile], candidates: list[Candidate], now: dt.datetime, *,
         already_sent: dict[int, set[int]] | None = None, half_life_hours: float = 36.0,
         words_only: bool = False) -> Picks:
    """Ranked, diverse, explained picks per subscriber id (a read-only mapping; an empty list means nothing
    relevant). Scores and top-k are computed here for everyone; Picks and their reasons are written on access.
    `words_only` ranks by BM25 alone, as when no model loads (the fallback, and a baseline for the harness)."""
    ids = [p.subscriber_id for p in profiles]
    if not profiles or not candidates:
        return Picks(ids)
    with gc_paused():
        edition = prepare_edition(candidates, now, half_life_hours)
        edition.boost = (np.float32(W_BASE) + np.float32(W_RECENCY) * edition.recency
                         + np.float32(W_TREND) * edition.trend)
        edition.popular = trending.popular_scores(edition.popularity_place, edition.popularity_order.size,
                                                  CATEGORY_RELEVANCE, W_BASE)
        topics = compile_topics(profiles, edition, DEFAULT_FLOOR)
        use_meaning = edition.semantic is not None and not words_only
        with ThreadPoolExecutor(1, thread_name_prefix="rank-topics") as pool:
            # Each topic's tables (numpy, mostly outside the GIL) while the rest of the profiles is compiled.
            side = pool.submit(semantic.topic_side, topics, edition) if use_meaning else None
            feedback = likes.flatten(profiles)
            # Papers a reader liked or disliked count as sent: they are never offered (back).
            rated = (feedback.rows, feedback.paper_ids) if feedback is not None else None
            compiled = bulk_compile(profiles, edition, already_sent or {}, DEFAULT_FLOOR, also_sent=rated,
                                    topics=topics)
            queries = (semantic.compile_queries(profiles, compiled, edition, feedback, side.result())
                       if use_meaning else None)
        chosen = select.Chosen.concat(_in_blocks(edition, compiled, queries, len(profiles)))
    return Picks(ids, chosen, Explainer(edition, compiled, queries))


def _in_blocks(edition: Edition, compiled: Compiled, queries, n: int) -> list[select.Chosen]:
    """Every block of subscribers, in order; several at once on a multi-core machine (numpy and BLAS release
    the GIL for the heavy parts), each BLAS call single-threaded so the blocks do not oversubscribe the cores."""
    blocks = [np.arange(s, min(s + BLOCK_ROWS, n)) for s in range(0, n, BLOCK_ROWS)]
    workers = min(len(blocks), RANK_THREADS or os.cpu_count() or 1)
    if workers < 2:
        return [_rank_block(edition, compiled, queries, rows) for rows in blocks]
    if queries is not None:
        queries.prepare(edition)  # shared lazy parts, built once before the threads read them
    with threadpool_limits(1, "blas"), ThreadPoolExecutor(workers, thread_name_prefix="rank") as pool:
        return list(pool.map(lambda rows: _rank_block(edition, compiled, queries, rows), blocks))


def _rank_block(edition: Edition, compiled: Compiled, queries, rows: np.ndarray) -> select.Chosen:
    """Cells of one block of subscribers: expand topics, filter, damp repeats of a topic, take the top."""
    slots = compiled.slots[rows]
    if queries is not None and queries.words_spare:  # every topic's lexical papers have a vector: rows with a
        slots = np.where(queries.active[rows][:, None], -1, slots)  # query take none of their lexical cells
    lexical = select.topic_cells(slots, *compiled.table)
    if queries is not None:  # rows with a query vector: their topical cells come from ranking.semantic
        lexical = _semantic_cells(edition, compiled, queries, rows, lexical)
    cells = select.Cells.concat([
        lexical,
        # A followed author is always considered: past the category list and the floor.
        select.product_cells(compiled.follows[rows], edition.paper_authors, AUTHOR_RELEVANCE, select.AUTHOR),
        select.product_cells(compiled.categories[rows[compiled.category_only[rows]]], edition.paper_categories,
                             CATEGORY_RELEVANCE, select.CATEGORY),
    ])
    if select.CATEGORY in cells.slot:  # category-only rows were sub-selected: map back to block rows
        only = np.flatnonzero(compiled.category_only[rows])
        cat = cells.slot == select.CATEGORY
        cells.row[cat] = only[cells.row[cat]]
    cells = select.Cells.concat([cells, _trending_cells(edition, compiled, rows)])
    keep = _allowed(edition, compiled, rows, cells)
    rank = select.segment_rank(cells, keep)
    keep &= rank < compiled.max_papers[rows][cells.row] + select.MARGIN
    cells.rank = rank
    cells = cells.take(keep)
    # Without a topic there is no relevance to rank by: a category's papers and the trending ones go by
    # popularity (ranking.trending); topical cells by relevance, nudged by recency and popularity.
    by_popularity = (cells.slot == select.CATEGORY) | (cells.slot == select.TRENDING)
    score = np.where(by_popularity, edition.popular[cells.col], cells.rel * edition.boost[cells.col])
    return select.bulk_top(cells, score, compiled.max_papers[rows], len(rows))


def _semantic_cells(edition: Edition, compiled: Compiled, queries, rows: np.ndarray,
                    lexical: select.Cells) -> select.Cells:
    """Replace the lexical topic cells of rows with a query vector by semantic cells (ranking.semantic, which
    weigh the lexical match in); papers without a vector keep their lexical cells."""
    n_sent = compiled.sent_counts[rows]
    excluded = (compiled.excludes[rows] @ compiled.exclusion_hits).getnnz(axis=1)
    depth = compiled.max_papers[rows] + select.MARGIN + n_sent + excluded
    parts = semantic.block_cells(queries, edition, compiled, rows, depth)
    replaced = queries.active[rows][lexical.row] & edition.semantic.ok[lexical.col]
    return select.Cells.concat([lexical.take(~replaced), *parts])


def _trending_cells(edition: Edition, compiled: Compiled, rows: np.ndarray) -> select.Cells:
    """For rows with an empty profile, the head of the popularity order: max_papers, plus as many as their
    exclusions and papers already sent could take away (so filtering still leaves enough), plus a margin."""
    local = np.flatnonzero(compiled.trending_only[rows])
    lengths = np.zeros(0, np.int64)
    if local.size:
        subscribers = rows[local]
        excluded = (compiled.excludes[subscribers] @ compiled.exclusion_hits).getnnz(axis=1)
        lengths = compiled.max_papers[subscribers] + select.MARGIN + compiled.sent_counts[subscribers] + excluded
    return trending.trending_cells(local, lengths, edition.popularity_order, CATEGORY_RELEVANCE)


def _allowed(edition: Edition, compiled: Compiled, rows: np.ndarray, cells: select.Cells) -> np.ndarray:
    """Which cells survive: category include-list, floor, exclusions, already sent."""
    topical = cells.slot >= 0
    keep = ~topical | (cells.rel >= compiled.floors[rows][cells.row])
    restricted = (topical | (cells.slot == semantic.LIKED)) & compiled.has_categories[rows][cells.row]
    if restricted.any():
        idx = np.flatnonzero(restricted)
        overlap = (compiled.category_bits[rows][cells.row[idx]] & edition.category_bits[cells.col[idx]]).any(axis=1)
        keep[idx[~overlap]] = False
    n = edition.n_papers
    excluded = (compiled.excludes[rows] @ compiled.exclusion_hits).tocoo()
    if excluded.nnz:
        _drop(keep, cells, n, np.sort(excluded.row.astype(np.int64) * n + excluded.col))
    lo, hi = np.searchsorted(compiled.sent_keys, [rows[0] * n, (rows[-1] + 1) * n])
    if hi > lo:  # a paper (or a near-duplicate of one) already sent: never again
        _drop(keep, cells, n, compiled.sent_keys[lo:hi] - rows[0] * n)
    return keep


def _drop(keep: np.ndarray, cells: select.Cells, n: int, sorted_keys: np.ndarray) -> None:
    """keep = False for cells whose row * n + paper is among sorted_keys (only rows that have any are looked at)."""
    rows_with = np.zeros(int(cells.row.max(initial=0)) + 1, dtype=bool)
    rows_with[np.unique(sorted_keys // n)] = True
    idx = np.flatnonzero(rows_with[cells.row])
    keep[idx[select.in_sorted(cells.row[idx] * n + cells.col[idx], sorted_keys)]] = False
