"""What a reader must not be offered, pure: papers hidden by their exclusions, and papers already sent
(or rated), widened to every near-duplicate of one. Arrays over one call's profiles (ranking.edition)."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from digest.ranking.text import PhraseQueries, fold, follow_key, words_present


def exclusion_entries(profiles) -> tuple[list[list[int]], list[str]]:
    """Per profile its exclusion ids, and the distinct exclusions (folded) of the call."""
    ids: dict[str, int] = {}
    rows = [[ids.setdefault(e, len(ids)) for e in {fold(x).strip() for x in p.exclude} if e] if p.exclude else []
            for p in profiles]
    return rows, list(ids)


def exclusions(rows: list[list[int]], entries: list[str], queries: PhraseQueries,
                edition) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """An exclusion hides a paper that contains the word/phrase or has an author of that name."""
    hits = words_present(queries, np.arange(len(entries))).astype(np.float32)
    author = edition.author_rows([follow_key(e) for e in entries])
    named = np.flatnonzero(author >= 0)
    if named.size:
        by_author = sparse.csr_matrix((np.ones(named.size, np.float32), (named, author[named])),
                                      shape=(len(entries), edition.author_hashes.size))
        hits = hits + by_author @ edition.paper_authors
    matrix = sparse.csr_matrix((np.ones(sum(map(len, rows)), np.float32),
                                ([i for i, r in enumerate(rows) for _ in r], [e for r in rows for e in r])),
                               shape=(len(rows), len(entries)))
    return matrix, sparse.csr_matrix(hits > 0, dtype=np.float32)


def sent_keys(profiles, edition, already_sent: dict[int, set[int]],
               also: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """Sorted row * n_papers + paper for papers already sent, widened to every near-duplicate of one."""
    pairs = [(row, pid) for row, p in enumerate(profiles) if p.subscriber_id in already_sent
             for pid in already_sent[p.subscriber_id]] if already_sent else []
    rows = np.fromiter((r for r, _ in pairs), np.int64, len(pairs))
    pids = np.fromiter((pid for _, pid in pairs), np.int64, len(pairs))
    if also is not None:
        rows, pids = np.concatenate([rows, also[0]]), np.concatenate([pids, also[1]])
    n = edition.n_papers
    if not pids.size or not n:
        return np.zeros(0, dtype=np.int64)
    by_id = np.argsort(edition.paper_ids, kind="stable")
    at = np.minimum(np.searchsorted(edition.paper_ids[by_id], pids), n - 1)
    found = edition.paper_ids[by_id[at]] == pids
    group = edition.groups[by_id[at[found]]]
    # Every member of each sent paper's near-duplicate group.
    by_group = np.argsort(edition.groups, kind="stable")
    starts = np.searchsorted(edition.groups[by_group], group)
    counts = np.searchsorted(edition.groups[by_group], group, side="right") - starts
    first = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    members = by_group[first + np.arange(int(counts.sum()))]
    return np.unique(np.repeat(rows[found], counts) * n + members)
