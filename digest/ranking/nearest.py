"""Nearest papers for many queries at once, pure: an inverted-file search over the edition's vectors.

Scoring every subscriber against every paper is one dense product of
subscribers × papers × 384 and, worse, a top-k over a subscribers × papers
matrix: at 100,000 subscribers that alone takes seconds. Instead the edition's
papers are grouped by meaning once (spherical k-means, about CLUSTER_SIZE
papers a group, seeded, so the same papers always give the same groups); a
query is compared with the group centres and scored exactly against the papers
of its PROBES best groups only, each group one small matrix product for all
the queries that probe it. A call small enough to score exhaustively
(queries × papers ≤ EXACT_CELLS) probes every group, so delivery batches and
the quality harnesses rank exactly.

score(subscriber, paper) = q · x + affinity · categories(paper) + AUTHOR_WEIGHT × shares a liked author

A cell is eligible when the paper is close enough to what the reader asked
for: for a profile with liked papers, q · x reaches the floor; otherwise one of
its topics' own phrase vectors does (pseudo-relevance expansion pulls every
query toward some cluster, and a topic that matches nothing must get nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

CLUSTER_SIZE = 20
PROBES = 12
EXACT_CELLS = 8_000_000    # queries × papers under which every group is probed (exact)
TOPIC_DEPTH = 24           # per topic: its best papers kept as candidate cells
KMEANS_ROUNDS = 8


@dataclass
class Clusters:
    centres: np.ndarray    # groups × dim, unit
    members: list[np.ndarray]  # per group: paper indices


def cluster(vectors: np.ndarray, ok: np.ndarray) -> Clusters:
    """Spherical k-means of the papers with a vector (deterministic: seeded by the data's order)."""
    idx = np.flatnonzero(ok)
    if not idx.size:
        return Clusters(np.zeros((0, vectors.shape[1]), np.float32), [])
    k = max(1, int(round(idx.size / CLUSTER_SIZE)))
    x = vectors[idx]
    centres = x[np.linspace(0, idx.size - 1, k).astype(np.int64)].copy()
    for _ in range(KMEANS_ROUNDS):
        assign = np.argmax(x @ centres.T, axis=1)
        sums = np.zeros_like(centres)
        np.add.at(sums, assign, x)
        empty = np.bincount(assign, minlength=k) == 0
        sums[empty] = centres[empty]
        centres = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-9)
    assign = np.argmax(x @ centres.T, axis=1)
    order = np.argsort(assign, kind="stable")
    bounds = np.searchsorted(assign[order], np.arange(k + 1))
    members = [idx[order[bounds[c]:bounds[c + 1]]] for c in range(k)]
    keep = [c for c in range(k) if members[c].size]
    return Clusters(centres[keep].astype(np.float32), [members[c] for c in keep])


def best_per_row(score: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, its `depth` best finite entries, best first, as CSR arrays (indptr, cols, values)."""
    rows, n = score.shape
    k = min(depth, n)
    if not rows or not k:
        return np.zeros(rows + 1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    top = np.argpartition(-score, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (rows, 1))
    got = np.take_along_axis(score, top, axis=1)
    order = np.argsort(-got, axis=1, kind="stable")
    top, got = np.take_along_axis(top, order, axis=1), np.take_along_axis(got, order, axis=1)
    keep = np.isfinite(got)
    indptr = np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).astype(np.int64)
    return indptr, top[keep].astype(np.int64), got[keep].astype(np.float32)


def search(q: np.ndarray, affinity: np.ndarray, clusters: Clusters, vectors: np.ndarray, categories,
           eligible, depth: np.ndarray, exact: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query row, paper, score) of each query's best `depth` eligible papers among the groups it probes.

    Each group is scored for all the queries probing it at once (one small product); the scores land in a
    queries × (probes × largest group) buffer, so the best `depth` of a query are chosen across all the
    groups it probed in one partition. `eligible(rows, papers, qx)` says which cells pass the floor."""
    empty = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    if not q.shape[0]:
        return empty
    if exact:  # every paper: one product, no groups
        papers = np.arange(vectors.shape[0])
        qx = q @ vectors.T
        score = qx + np.asarray(categories @ affinity.T, dtype=np.float32).T
        score[~eligible(np.arange(q.shape[0]), papers, qx)] = -np.inf
        return _best(score, np.broadcast_to(papers, score.shape), depth)
    n_groups = len(clusters.members)
    if not n_groups:
        return empty
    probes = n_groups if exact else min(PROBES, n_groups)
    near = q @ clusters.centres.T
    chosen = (np.argpartition(-near, probes - 1, axis=1)[:, :probes] if probes < n_groups
              else np.tile(np.arange(n_groups), (q.shape[0], 1)))
    width = max(m.size for m in clusters.members)
    score = np.full((q.shape[0], probes * width), -np.inf, np.float32)
    paper = np.zeros((q.shape[0], probes * width), np.int64)
    flat_rows = np.repeat(np.arange(q.shape[0]), probes)
    flat_place = np.tile(np.arange(probes), q.shape[0])
    flat_groups = chosen.ravel()
    order = np.argsort(flat_groups, kind="stable")
    bounds = np.searchsorted(flat_groups[order], np.arange(n_groups + 1))
    with threadpool_limits(1, "blas"):  # many small products: BLAS threads would only wait on each other
        for g in range(n_groups):
            pick = order[bounds[g]:bounds[g + 1]]
            if pick.size:
                rows, papers, place = flat_rows[pick], clusters.members[g], flat_place[pick]
                qx = q[rows] @ vectors[papers].T
                got = qx + np.asarray(categories[papers] @ affinity[rows].T, dtype=np.float32).T
                got[~eligible(rows, papers, qx)] = -np.inf
                for p in np.unique(place):  # rows that probe this group p-th: one slice of the buffer
                    at = place == p
                    start = p * width
                    score[rows[at], start:start + papers.size] = got[at]
                    paper[rows[at], start:start + papers.size] = papers
    return _best(score, paper, depth)


def _best(score: np.ndarray, paper: np.ndarray, depth: np.ndarray):
    """Per row its best `depth` finite cells: (row, paper, score)."""
    k = int(min(depth.max(initial=1), score.shape[1]))
    top = (np.argpartition(-score, k - 1, axis=1)[:, :k] if k < score.shape[1]
           else np.tile(np.arange(score.shape[1]), (score.shape[0], 1)))
    got = np.take_along_axis(score, top, axis=1)
    keep = np.isfinite(got) & (np.arange(k)[None, :] < depth[:, None])
    r, j = np.nonzero(keep)
    return r, paper[r, top[r, j]], got[r, j]
