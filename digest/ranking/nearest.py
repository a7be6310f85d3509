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

CLUSTER_SIZE = 40
PROBES = 8
EXACT_CELLS = 8_000_000    # queries × papers under which every group is probed (exact)
TOPIC_DEPTH = 24           # per topic: its best papers kept as candidate cells
KMEANS_ROUNDS = 8


@dataclass
class Clusters:
    centres: np.ndarray    # groups × dim, unit
    members: list[np.ndarray]  # per group: paper indices
    _dense: list | None = None  # per group: (members, their vectors, their categories as a dense array)

    @property
    def sizes(self) -> np.ndarray:
        return np.array([m.size for m in self.members], np.int64)

    @property
    def flat(self) -> np.ndarray:
        """Every group's members, one group after the other (`offsets` says where each begins)."""
        return np.concatenate(self.members) if self.members else np.zeros(0, np.int64)

    @property
    def offsets(self) -> np.ndarray:
        return np.cumsum(self.sizes) - self.sizes

    def dense(self, vectors: np.ndarray, categories) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Each group's members with their vectors and categories, contiguous (built once per edition)."""
        if self._dense is None:
            self._dense = [(m, vectors[m], np.asarray(categories[m].todense(), dtype=np.float32))
                           for m in self.members]
        return self._dense


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

    Each group is scored for all the queries probing it at once (one small product); a query's scores land
    side by side in one row of a queries × (sizes of its probed groups) buffer, so its best `depth` are
    chosen across all the groups it probed in one partition. `eligible(rows, papers, qx)` says which cells
    pass the floor."""
    empty = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    if not q.shape[0]:
        return empty
    if exact:  # every paper: one product, no groups
        papers = np.arange(vectors.shape[0])
        qx = q @ vectors.T
        score = qx + np.asarray(categories @ affinity.T, dtype=np.float32).T
        score[~eligible(np.arange(q.shape[0]), papers, qx)] = -np.inf
        return _best(score, depth)
    n_groups = len(clusters.members)
    if not n_groups:
        return empty
    probes = min(PROBES, n_groups)
    chosen = (np.argpartition(-(q @ clusters.centres.T), probes - 1, axis=1)[:, :probes] if probes < n_groups
              else np.tile(np.arange(n_groups), (q.shape[0], 1)))
    sizes = clusters.sizes[chosen]
    starts = np.cumsum(sizes, axis=1) - sizes  # where each probed group begins in its row
    width = int(sizes.sum(axis=1).max())  # a row holds its probed groups side by side
    dest = (np.arange(q.shape[0])[:, None] * width + starts).ravel()
    score = np.full(q.shape[0] * width, -np.inf, np.float32)
    flat_rows = np.repeat(np.arange(q.shape[0]), probes)
    order = np.argsort(chosen.ravel(), kind="stable")
    bounds = np.searchsorted(chosen.ravel()[order], np.arange(n_groups + 1))
    groups = clusters.dense(vectors, categories)
    with threadpool_limits(1, "blas"):  # many small products: BLAS threads would only wait on each other
        for g, (members, x, cats) in enumerate(groups):
            pick = order[bounds[g]:bounds[g + 1]]
            if pick.size:
                rows = flat_rows[pick]
                qx = q[rows] @ x.T
                got = qx + affinity[rows] @ cats.T
                got[~eligible(rows, members, qx)] = -np.inf
                score[(dest[pick][:, None] + np.arange(members.size)).ravel()] = got.ravel()
    r, j, got = _best(score.reshape(q.shape[0], width), depth)
    place = (starts[r] <= j[:, None]).sum(axis=1) - 1  # which probed group a buffer column belongs to
    group = chosen[r, place]
    return r, clusters.flat[clusters.offsets[group] + j - starts[r, place]], got


def _best(score: np.ndarray, depth: np.ndarray):
    """Per row its best `depth` finite cells: (row, column, score). Rows are taken in bands of similar depth,
    so one deep row (many papers already sent, say) does not make every row partition that deep."""
    band = np.ceil(np.log2(np.maximum(depth, 1))).astype(np.int64)
    parts = []
    for b in np.unique(band):
        rows = np.flatnonzero(band == b)
        k = int(min(depth[rows].max(), score.shape[1]))
        s = score if rows.size == score.shape[0] else score[rows]
        top = (np.argpartition(-s, k - 1, axis=1)[:, :k] if k < s.shape[1]
               else np.tile(np.arange(s.shape[1]), (rows.size, 1)))
        got = np.take_along_axis(s, top, axis=1)
        rank = np.argsort(np.argsort(-got, axis=1, kind="stable"), axis=1)  # each cell's place in its row
        r, j = np.nonzero(np.isfinite(got) & (rank < depth[rows][:, None]))
        parts.append((rows[r], top[r, j], got[r, j]))
    if len(parts) == 1:
        return parts[0]
    r, c, s = (np.concatenate(x) for x in zip(*parts))
    order = np.argsort(r, kind="stable")
    return r[order], c[order], s[order]
