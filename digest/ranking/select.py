"""Top-k for a block of subscribers at once, pure, on sparse cells (subscriber, paper).

Most subscriber × paper pairs fall below the relevance floor, so a block is
handled as flat arrays of the cells that can matter: each topic's papers above
the floor (pre-sorted best first, once per edition) expanded for every
subscriber holding that topic, plus papers by followed authors and, for
category-only profiles, papers in their categories. Filters drop cells; a
cell's gain is damped by TOPIC_DECAY for every better paper of the same topic
still in the row, so a subscriber with several topics sees each of them
(a closed-form, non-iterative cousin of MMR/xQuAD); near-duplicates were folded
into one representative paper per edition beforehand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

TOPIC_DECAY = 0.75   # gain × this ** (better papers of the same topic in the row)
MARGIN = 4           # cells kept per (subscriber, topic) beyond max_papers, for de-duplication
AUTHOR, CATEGORY, TRENDING = -1, -2, -3  # slot markers: cells from a follow, a category, the popularity order


@dataclass
class Cells:
    """Flat per-cell arrays of one block; `row` is the block-local subscriber row."""

    row: np.ndarray
    col: np.ndarray
    rel: np.ndarray
    slot: np.ndarray
    rank: np.ndarray  # position within its (row, slot) segment, best first

    def take(self, keep: np.ndarray) -> "Cells":
        return Cells(self.row[keep], self.col[keep], self.rel[keep], self.slot[keep], self.rank[keep])

    @staticmethod
    def concat(parts: list["Cells"]) -> "Cells":
        return Cells(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("row", "col", "rel", "slot", "rank")))


@dataclass
class Chosen:
    """Picked cells of a block, flat and best first within each row; `counts` says how many per row."""

    counts: np.ndarray
    papers: np.ndarray
    slots: np.ndarray
    topic_rel: np.ndarray
    score: np.ndarray
    followed: np.ndarray

    @staticmethod
    def concat(parts: list["Chosen"]) -> "Chosen":
        fields = ("counts", "papers", "slots", "topic_rel", "score", "followed")
        return Chosen(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))


def ragged(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions start..start+count for every segment, concatenated, and each one's rank in its segment."""
    total = int(counts.sum())
    first = np.cumsum(counts) - counts
    rank = np.arange(total) - np.repeat(first, counts)
    return np.repeat(starts, counts) + rank, rank


def topic_cells(slots: np.ndarray, indptr: np.ndarray, cols: np.ndarray, rels: np.ndarray) -> Cells:
    """Every (row, paper) above the floor for each topic slot, in each topic's best-first order."""
    parts = []
    for j in range(slots.shape[1]):
        rows = np.flatnonzero(slots[:, j] >= 0)
        t = slots[rows, j]
        counts = indptr[t + 1] - indptr[t]
        pos, rank = ragged(indptr[t], counts)
        parts.append(Cells(np.repeat(rows, counts), cols[pos], rels[pos], np.full(pos.size, j, np.int16), rank))
    return Cells.concat(parts) if parts else _empty()


def product_cells(left: sparse.csr_matrix, right: sparse.csr_matrix, rel: float, slot: int) -> Cells:
    """Cells where (rows × features) · (features × papers) > 0, e.g. a followed author's papers."""
    if left.nnz == 0:
        return _empty()
    hits = (left @ right).tocoo()
    n = hits.row.size
    return Cells(hits.row.astype(np.int64), hits.col.astype(np.int64), np.full(n, rel, np.float32),
                 np.full(n, slot, np.int16), np.zeros(n, np.int64))


def _empty() -> Cells:
    z = np.zeros(0, np.int64)
    return Cells(z, z, np.zeros(0, np.float32), np.zeros(0, np.int16), z)


def in_sorted(keys: np.ndarray, sorted_needles: np.ndarray) -> np.ndarray:
    """True where keys occur in sorted_needles."""
    if sorted_needles.size == 0 or keys.size == 0:
        return np.zeros(keys.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_needles, keys), sorted_needles.size - 1)
    return sorted_needles[pos] == keys


def segment_rank(cells: Cells, keep: np.ndarray) -> np.ndarray:
    """Rank among the kept cells of the same (row, slot) segment (segments are contiguous runs)."""
    new = np.ones(cells.row.size, dtype=bool)
    new[1:] = (cells.row[1:] != cells.row[:-1]) | (cells.slot[1:] != cells.slot[:-1]) | (cells.rank[1:] <= cells.rank[:-1])
    kept = np.cumsum(keep)
    start = np.maximum.accumulate(np.where(new, np.arange(new.size), 0))
    before = np.where(start > 0, kept[start - 1], 0)
    return kept - before - 1


def quantised(values: np.ndarray, scale: int) -> np.ndarray:
    """Non-negative floats (< 4) as int64 steps of 1/scale, for composite sort keys."""
    return np.clip(values * scale, 0, 4 * scale - 1).astype(np.int64)


def bulk_top(cells: Cells, score: np.ndarray, max_papers: np.ndarray, n_rows: int) -> Chosen:
    """Per row, the best max_papers distinct papers by damped gain: flat arrays, rows in order, best first."""
    topical = cells.slot >= 0
    gain = score * np.where(topical, TOPIC_DECAY ** np.minimum(cells.rank, 60).astype(np.float32), 1.0)
    followed = cells.slot == AUTHOR
    # One cell per (row, paper): the best topic cell names the topic; a follow anywhere marks it followed.
    width = np.int64(max(int(cells.col.max(initial=0)) + 1, 1))
    # Sorting one int64 composite is several times faster than lexsort on two float keys.
    best_topic = np.int64(2**21 - 1) - quantised(cells.rel * topical, 2**20)
    order = np.argsort(((cells.row * width + cells.col) << 21) | best_topic)
    key = (cells.row * width + cells.col)[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = key[1:] != key[:-1]
    starts = np.flatnonzero(first)
    pick = order[starts]
    best_gain = np.maximum.reduceat(gain[order], starts) if starts.size else gain[:0]
    best_score = np.maximum.reduceat(score[order], starts) if starts.size else score[:0]
    any_follow = np.maximum.reduceat(followed[order], starts) if starts.size else followed[:0]
    row = cells.row[pick]
    order2 = np.argsort((row << 32) | (np.int64(2**32 - 1) - quantised(best_gain, 2**30)))
    row = row[order2]
    first_of_row = np.searchsorted(row, np.arange(n_rows))
    place = np.arange(row.size) - first_of_row[row]
    keep = place < max_papers[row]
    sel, cell = order2[keep], pick[order2[keep]]
    return Chosen(np.bincount(row[keep], minlength=n_rows), cells.col[cell], cells.slot[cell],
                  np.where(cells.slot[cell] >= 0, cells.rel[cell], 0).astype(np.float32), best_score[sel],
                  any_follow[sel])
