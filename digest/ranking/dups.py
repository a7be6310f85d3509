"""Near-duplicates within an edition, pure: one work seen twice never fills two places in a digest.

Two papers are one work when their normalised titles are equal, or when their
texts are near-identical: they share DUP_JACCARD of their distinct terms (words
and word pairs). Pairs to measure are proposed by MinHash banding over the
signatures stored with each paper's features, so an edition of thousands of
papers compares a few hundred pairs, exactly, instead of millions.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from digest.ranking.features import EditionText
from digest.ranking.select import ragged

DUP_JACCARD = 0.7         # share of distinct terms (words and word pairs) above which two texts are one work
DUP_MIN_SHARED = 16       # …and at least this many shared terms: short texts are compared by title only
LSH_ROWS = 4              # MinHash values per band: papers agreeing on a whole band are compared exactly


def duplicate_groups(text: EditionText) -> np.ndarray:
    """Same normalised title, or near-identical text: one group.

    Near-identical means sharing DUP_JACCARD of their distinct terms (and DUP_MIN_SHARED at least). Pairs to
    check come from MinHash banding (papers whose signatures agree on a whole band of LSH_ROWS values: a pair
    at 0.7 is proposed with probability about 0.98, at 0.8 about 0.9999); each is then measured exactly."""
    n = text.n
    rows, cols = [], []
    titled = np.flatnonzero(text.titles)
    if titled.size:
        order = titled[np.argsort(text.titles[titled], kind="stable")]
        new = np.concatenate([[True], text.titles[order][1:] != text.titles[order][:-1]])
        first = order[np.maximum.accumulate(np.where(new, np.arange(order.size), 0))]
        rows.append(order[first != order]), cols.append(first[first != order])
    i, j = _band_pairs(text)
    if i.size:
        shared = _shared_terms(text, i, j)
        sizes = np.diff(text.indptr)
        jaccard = shared / np.maximum(sizes[i] + sizes[j] - shared, 1)
        near = (jaccard >= DUP_JACCARD) & (shared >= DUP_MIN_SHARED)
        rows.append(i[near]), cols.append(j[near])
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    graph = sparse.csr_matrix((np.ones(r.size), (r, c)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _band_pairs(text: EditionText) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (i < j) pairs of papers, with enough terms to compare, that agree on some whole band."""
    eligible = np.flatnonzero(np.diff(text.indptr) >= DUP_MIN_SHARED)
    if eligible.size < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    sig = text.signatures[eligible].astype(np.uint64)
    bands = sig.shape[1] // LSH_ROWS
    keys = np.zeros((eligible.size, bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(LSH_ROWS):
            keys = keys * np.uint64(0x100000001B3) + sig[:, r::LSH_ROWS][:, :bands]
    keys = keys * np.uint64(bands) + np.arange(bands, dtype=np.uint64)[None, :]  # a band matches only itself
    flat = keys.ravel()
    order = np.argsort(flat, kind="stable")
    k = flat[order]
    dup = np.flatnonzero(k[1:] == k[:-1])
    if dup.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # Each run of equal keys pairs its first paper with every other (groups are joined transitively anyway).
    run_start = np.maximum.accumulate(np.where(np.concatenate([[True], k[1:] != k[:-1]]), np.arange(k.size), 0))
    a = eligible[order[run_start[dup + 1]] // bands]
    b = eligible[order[dup + 1] // bands]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    width = np.int64(max(text.n, 1))
    pairs = np.unique(lo * width + hi)
    return pairs // width, pairs % width


def _shared_terms(text: EditionText, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Distinct terms papers i and j have in common, per pair, without a loop: i's terms looked up in j's."""
    sizes = np.diff(text.indptr)
    pos, _ = ragged(text.indptr[i], sizes[i])
    pair = np.repeat(np.arange(i.size), sizes[i])
    other = j[pair]
    lo, hi = text.indptr[other], text.indptr[other + 1]
    # Every paper's terms are sorted, so a search within [lo, hi) is a global search offset by paper.
    at = _search_within(text.hashes, text.hashes[pos], lo, hi)
    found = (at < hi) & (text.hashes[np.minimum(at, text.hashes.size - 1)] == text.hashes[pos])
    return np.bincount(pair[found], minlength=i.size)


def _search_within(sorted_runs: np.ndarray, needles: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per needle, the leftmost position in sorted_runs[lo:hi] not less than it (binary search, vectorised)."""
    lo, hi = lo.copy(), hi.copy()
    while True:
        active = lo < hi
        if not active.any():
            return lo
        mid = (lo + hi) // 2
        less = active & (sorted_runs[np.minimum(mid, sorted_runs.size - 1)] < needles)
        lo = np.where(less, mid + 1, lo)
        hi = np.where(active & ~less, mid, hi)


def representatives(groups: np.ndarray, trend: np.ndarray) -> np.ndarray:
    """The most popular (then first-listed) paper of each group speaks for it."""
    order = np.lexsort((np.arange(groups.size), -trend, groups))
    first = np.ones(order.size, dtype=bool)
    first[1:] = groups[order][1:] != groups[order][:-1]
    out = np.zeros(groups.size, dtype=bool)
    out[order[first]] = True
    return out
