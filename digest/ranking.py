"""Ranking, pure: every due subscriber × every candidate paper in one vectorised batch.

Plain data and an explicit `now` in, ranked picks with scores and reasons out;
no database, no clock. The edition's papers are vectorised once per call
(`ranking_text`, `ranking_edition`): every distinct topic phrase is scored
against every paper in one sparse × dense product and only the cells above the
floor are kept, best first. Subscribers are then handled block by block as flat
arrays of (subscriber, paper) cells (`ranking_select`): filters, topic-coverage
damping and top-k are numpy operations, so memory stays bounded and no Python
loop runs over papers per subscriber. Only the chosen picks are touched in
Python, to write their reasons (each distinct reason once per call).

score = relevance × (W_BASE + W_RECENCY · recency + W_TREND · trending)

- relevance: best topic's BM25 match in [0, 1] (+ PHRASE_BONUS for the exact
  phrase), CATEGORY_RELEVANCE for a category-only profile, at least
  AUTHOR_RELEVANCE for a followed author; must reach the subscriber's floor.
- recency: 0.5 ** (hours since announced / half-life).
- trending: log-damped popularity divided by the edition's maximum, so a viral
  paper nudges order among relevant papers and never drowns a topic.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
from dataclasses import dataclass, field

import numpy as np

from digest import ranking_select as select
from digest.ranking_edition import Compiled, Edition, bulk_compile, prepare_edition

DEFAULT_FLOOR = 0.2
CATEGORY_RELEVANCE = 0.5
AUTHOR_RELEVANCE = 0.6
W_BASE, W_RECENCY, W_TREND = 0.6, 0.25, 0.15
BLOCK_ROWS = 8192         # subscribers per block: bounds the flat cell arrays


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


@dataclass(slots=True)
class Pick:
    """One paper for one subscriber: why (reason, shown on the card), under which topic, on which words."""

    paper_id: int
    score: float
    reason: str
    topic: str | None = None
    terms: list[str] = field(default_factory=list)


def rank(profiles: list[Profile], candidates: list[Candidate], now: dt.datetime, *,
         already_sent: dict[int, set[int]] | None = None, half_life_hours: float = 36.0) -> dict[int, list[Pick]]:
    """Ranked, diverse, explained picks per subscriber id; an empty list means nothing relevant."""
    picks: dict[int, list[Pick]] = {p.subscriber_id: [] for p in profiles}
    if not profiles or not candidates:
        return picks
    with _gc_paused():
        edition = prepare_edition(candidates, now, half_life_hours)
        edition.boost = (np.float32(W_BASE) + np.float32(W_RECENCY) * edition.recency
                         + np.float32(W_TREND) * edition.trend)
        compiled = bulk_compile(profiles, edition, already_sent or {}, DEFAULT_FLOOR)
        explain = Explainer(edition, compiled)
        for start in range(0, len(profiles), BLOCK_ROWS):
            rows = np.arange(start, min(start + BLOCK_ROWS, len(profiles)))
            chosen = _rank_block(edition, compiled, rows)
            for row, got in zip(rows.tolist(), explain.bulk_picks(rows, chosen)):
                picks[profiles[row].subscriber_id] = got
    return picks


@contextlib.contextmanager
def _gc_paused():
    """Millions of small objects (profiles compiled, Picks) would trigger repeated collections of every
    live object (3-4x slower); they hold no cycles, so collection waits until the batch is built."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _rank_block(edition: Edition, compiled: Compiled, rows: np.ndarray) -> select.Chosen:
    """Cells of one block of subscribers: expand topics, filter, damp repeats of a topic, take the top."""
    n = edition.index.n_papers
    cells = select.Cells.concat([
        select.topic_cells(compiled.slots[rows], *compiled.table),
        # A followed author is always considered: past the category list and the floor.
        select.product_cells(compiled.follows[rows], edition.paper_authors, AUTHOR_RELEVANCE, select.AUTHOR),
        select.product_cells(compiled.categories[rows[compiled.category_only[rows]]], edition.paper_categories,
                             CATEGORY_RELEVANCE, select.CATEGORY),
    ])
    if select.CATEGORY in cells.slot:  # category-only rows were sub-selected: map back to block rows
        only = np.flatnonzero(compiled.category_only[rows])
        cat = cells.slot == select.CATEGORY
        cells.row[cat] = only[cells.row[cat]]
    keep = _allowed(edition, compiled, rows, cells)
    rank = select.segment_rank(cells, keep)
    keep &= rank < compiled.max_papers[rows][cells.row] + select.MARGIN
    cells.rank = rank
    cells = cells.take(keep)
    score = cells.rel * edition.boost[cells.col]
    return select.bulk_top(cells, score, compiled.max_papers[rows], len(rows))


def _allowed(edition: Edition, compiled: Compiled, rows: np.ndarray, cells: select.Cells) -> np.ndarray:
    """Which cells survive: category include-list, floor, exclusions, already sent."""
    topical = cells.slot >= 0
    keep = ~topical | (cells.rel >= compiled.floors[rows][cells.row])
    restricted = topical & compiled.has_categories[rows][cells.row]
    if restricted.any():
        idx = np.flatnonzero(restricted)
        overlap = (compiled.category_bits[rows][cells.row[idx]] & edition.category_bits[cells.col[idx]]).any(axis=1)
        keep[idx[~overlap]] = False
    n = edition.index.n_papers
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


class Explainer:
    """Turns chosen (subscriber, paper, topic) cells into Picks with a human reason."""

    def __init__(self, edition: Edition, compiled: Compiled) -> None:
        self.edition, self.compiled = edition, compiled
        self._topic_parts: dict[int, tuple[str, list[str], str]] = {}
        self.n = edition.index.n_papers

    def bulk_picks(self, rows: np.ndarray, chosen: select.Chosen) -> list[list[Pick]]:
        """Pick lists for a block, best first; a (topic as written, paper) reason is written once per call."""
        mask = chosen.papers >= 0
        r, _ = np.nonzero(mask)
        papers, slots, followed = chosen.papers[mask], chosen.slots[mask].astype(np.int64), chosen.followed[mask]
        ids = self.edition.paper_ids[papers].tolist()
        scores = np.round(chosen.score[mask].astype(np.float64), 4).tolist()
        written = self.compiled.written[rows[r], np.maximum(slots, 0)]
        special = followed | (slots < 0) | (written < 0)
        keys = np.where(special, -1, written * self.n + papers)
        uniq, inverse = np.unique(keys, return_inverse=True)
        made = [self._topic_part(k // self.n, k % self.n) if k >= 0 else ("", [], None) for k in uniq.tolist()]
        columns = []
        for part in range(3):  # reason, terms, topic: gathered per pick without a Python loop
            column = np.empty(len(made), dtype=object)
            column[:] = [m[part] for m in made]
            columns.append(column[inverse.ravel()].tolist())
        flat = list(map(Pick, ids, scores, columns[0], columns[2], map(list, columns[1])))
        topic_rel = chosen.topic_rel[mask]
        for i in np.flatnonzero(special).tolist():  # a follow or a category brought these in
            flat[i] = self._pick(int(rows[r[i]]), ids[i], int(papers[i]), int(slots[i]), float(topic_rel[i]),
                                 scores[i], bool(followed[i]))
        ends = np.cumsum(mask.sum(axis=1)).tolist()
        return [flat[start:end] for start, end in zip([0] + ends[:-1], ends)]

    def _pick(self, row: int, pid: int, paper: int, slot: int, rel_topic: float, score: float, followed: bool) -> Pick:
        """A pick that a follow or a category brought in, with every reason that applies."""
        parts, topic, terms = [], None, []
        if followed:
            parts.append(f"By {self._followed_name(row, paper)}, an author you follow")
        if slot >= 0 and rel_topic >= self.compiled.floors[row]:
            text, terms, topic = self._topic_part(int(self.compiled.written[row, slot]), paper)
            parts.append(text[:1].lower() + text[1:] if parts else text)
        elif slot == select.CATEGORY:
            parts.append(f"New in {self._category(row, paper)}")
        trend = self.edition.trend_reason[paper]
        if trend and (not parts or topic is None):
            parts.append(trend)
        return Pick(pid, score, "; ".join(parts), topic, list(terms))

    def _topic_part(self, written: int, paper: int) -> tuple[str, list[str], str]:
        """(reason, terms, topic as written) for one topic and paper, cached for the call."""
        key = written * self.n + paper
        cached = self._topic_parts.get(key)
        if cached is None:
            topic, topic_id = self.compiled.written_texts[written]
            text, terms = self.edition.explain_topic(topic, self.compiled.queries, topic_id, paper)
            if self.edition.trend_reason[paper]:
                text = f"{text}; {self.edition.trend_reason[paper]}"
            cached = self._topic_parts[key] = (text[:1].upper() + text[1:], terms, topic)
        return cached

    def _followed_name(self, row: int, paper: int) -> str:
        keys = self.compiled.follow_keys[row]
        return next((name for name, akeys in self.edition.author_names[paper] if akeys & keys), "someone")

    def _category(self, row: int, paper: int) -> str:
        wanted = self.compiled.category_names[row]
        return next((c for c in self.edition.categories[paper] if {c.lower(), c.lower().split(".")[0]} & wanted),
                    "your categories")
