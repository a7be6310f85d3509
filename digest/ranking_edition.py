"""Ranking inputs as arrays, pure: the edition's papers once per call, all profiles once per call.

`prepare_edition` turns candidates into matrices (text index, categories,
authors, recency, trending, near-duplicate groups); `bulk_compile` turns
profiles into sparse rows over the same vocabularies, with identical topic
phrases sharing one query row.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from digest.ranking_text import (
    PaperIndex,
    PhraseQueries,
    author_keys,
    bulk_index,
    bulk_queries,
    follow_key,
    fold,
    phrase_key,
    score_phrases,
    tokens,
    words,
    words_present,
)

DUP_SIMILARITY = 0.8      # tf-idf cosine above which two papers are one work for a digest
DUP_RARE_DF = 8           # near-duplicates are looked for among papers sharing terms this rare
TABLE_BLOCK = 2048        # topics scored per dense block when building the sparse topic table
TREND_UPVOTES, TREND_STARS, TREND_SOURCES = 10, 100, 3
EDITION_CACHE_SIZE = 2    # vectorised editions kept per process: today's, and yesterday's for late time zones
_EDITIONS: OrderedDict[tuple, "Edition"] = OrderedDict()
_EDITIONS_LOCK = threading.Lock()


@dataclass
class Edition:
    """One edition's candidate papers as arrays, built once per process while the candidates stay the same."""

    index: PaperIndex
    paper_ids: np.ndarray
    trend: np.ndarray
    trend_reason: list[str | None]
    groups: np.ndarray                   # near-duplicate group per paper
    representative: np.ndarray           # True for the one paper that speaks for its group
    category_vocab: dict[str, int]
    paper_categories: sparse.csr_matrix  # categories × papers (representatives only)
    category_bits: np.ndarray            # papers × words: category membership bitset
    categories: list[tuple[str, ...]]
    author_vocab: dict[str, int]
    paper_authors: sparse.csr_matrix     # author keys × papers (representatives only)
    author_names: list[list[tuple[str, frozenset]]]
    # Per call (they depend on `now` and the half-life), on a copy of the cached content-only edition:
    recency: np.ndarray | None = None
    boost: np.ndarray | None = None      # per paper: W_BASE + W_RECENCY·recency + W_TREND·trending
    _paper_terms: dict[int, frozenset] = field(default_factory=dict)

    def terms_of(self, paper: int) -> frozenset:
        got = self._paper_terms.get(paper)
        if got is None:
            w = self.index.weights
            got = self._paper_terms[paper] = frozenset(w.indices[w.indptr[paper]: w.indptr[paper + 1]].tolist())
        return got

    def explain_topic(self, topic: str, queries: PhraseQueries, topic_id: int, paper: int) -> tuple[str, list[str]]:
        """('matches your topic “…” on: a, b', the topic's words found in the paper)."""
        have, vocab = self.terms_of(paper), self.index.vocab
        shown = dict(zip(tokens(topic), words(topic)))
        terms = queries.terms[topic_id]
        unigrams = [t for t in terms if " " not in t]
        matched = [shown.get(t, t) for t in unigrams if vocab.get(t, -1) in have]
        exact = all(vocab.get(t, -1) in have for t in ([t for t in terms if " " in t] or unigrams))
        if exact:
            return f"matches your topic “{topic}”", matched
        return f"matches your topic “{topic}” on: {', '.join(matched)}", matched


def prepare_edition(candidates, now: dt.datetime, half_life_hours: float) -> Edition:
    """The candidates as arrays: text, trending, duplicates, categories, authors (reused while the same
    papers come back, see `_vectorised`), and recency for this `now` and half-life (computed every call)."""
    return replace(_vectorised(candidates), recency=_recency(candidates, now, half_life_hours), boost=None)


def _vectorised(candidates) -> Edition:
    """The content-only part of an edition, from a small per-process cache keyed on the candidates themselves.

    Delivery ranks one batch of ~100 subscribers at a time against the same few thousand candidates, so
    indexing them every call would cost more than ranking. The key is the tuple of (frozen) candidates: its
    hash covers every field of every paper, and a hit is confirmed field by field, so an edited paper, a new
    paper or another order never reuses a stale index. Nothing cached depends on `now` or the half-life."""
    try:
        key = tuple(candidates)
        hash(key)
    except TypeError:  # a candidate with a list inside: correct, just not reusable
        return _vectorise(candidates)
    with _EDITIONS_LOCK:
        hit = _EDITIONS.get(key)
        if hit is not None:
            _EDITIONS.move_to_end(key)
            return hit
    built = _vectorise(candidates)
    with _EDITIONS_LOCK:
        _EDITIONS[key] = built
        while len(_EDITIONS) > EDITION_CACHE_SIZE:
            _EDITIONS.popitem(last=False)
    return built


def clear_edition_cache() -> None:
    """Forget every vectorised edition (benchmarks measure cold calls with it)."""
    with _EDITIONS_LOCK:
        _EDITIONS.clear()


def _vectorise(candidates) -> Edition:
    """Vectorise the candidates once: text, trending, duplicates, categories, authors."""
    index = bulk_index([(c.title, c.abstract) for c in candidates])
    trend, reasons = _trending(candidates)
    groups = _duplicate_groups(candidates, index)
    representative = _representatives(groups, trend)
    keep = representative.astype(np.float32)
    cat_vocab, paper_cats = _incidence([_category_keys(c.categories) for c in candidates])
    keys_of = {a: frozenset(k for k in author_keys(a) if k) for c in candidates for a in c.authors}  # once per name
    names = [[(a, keys_of[a]) for a in c.authors] for c in candidates]
    author_vocab, paper_authors = _incidence([[k for _, keys in row for k in keys] for row in names])
    return Edition(
        index=index, paper_ids=np.array([c.paper_id for c in candidates], dtype=np.int64),
        trend=trend, trend_reason=reasons,
        groups=groups, representative=representative, category_vocab=cat_vocab,
        paper_categories=sparse.csr_matrix(paper_cats.multiply(keep[None, :])), category_bits=bitsets(paper_cats.T),
        categories=[tuple(c.categories) for c in candidates], author_vocab=author_vocab,
        paper_authors=sparse.csr_matrix(paper_authors.multiply(keep[None, :])), author_names=names,
    )


def bitsets(matrix: sparse.spmatrix) -> np.ndarray:
    """rows × ceil(columns / 64) uint64 words: set membership tests as AND."""
    coo = sparse.coo_matrix(matrix)
    bits = np.zeros((coo.shape[0], max(1, -(-coo.shape[1] // 64))), dtype=np.uint64)
    np.bitwise_or.at(bits, (coo.row, coo.col // 64), np.left_shift(np.uint64(1), (coo.col % 64).astype(np.uint64)))
    return bits


def _recency(candidates, now: dt.datetime, half_life_hours: float) -> np.ndarray:
    """Exponential decay: 1.0 now, 0.5 after one half-life; 0.5 when the time is unknown."""
    hours = np.array([(now - c.seen_at).total_seconds() / 3600 if c.seen_at else math.nan for c in candidates])
    fresh = 0.5 ** (np.maximum(hours, 0.0) / max(half_life_hours, 1e-6))
    return np.where(np.isnan(hours), 0.5, fresh).astype(np.float32)


def _trending(candidates) -> tuple[np.ndarray, list[str | None]]:
    """log-damped popularity / the edition's maximum, and a short reason where it is notable."""
    up = np.array([max(c.upvotes or 0, 0) for c in candidates], dtype=np.float64)
    stars = np.array([max(c.github_stars or 0, 0) for c in candidates], dtype=np.float64)
    comments = np.array([max(c.comments or 0, 0) for c in candidates], dtype=np.float64)
    sources = np.array([max(c.n_sources or 1, 1) for c in candidates], dtype=np.float64)
    pop = np.log1p(up) + 0.5 * np.log1p(stars) + 0.25 * np.log1p(comments) + np.log(sources)
    top = pop.max() if len(pop) else 0.0
    trend = (pop / top if top > 0 else np.zeros_like(pop)).astype(np.float32)
    reasons: list[str | None] = []
    for u, s, n in zip(up, stars, sources):
        if u >= TREND_UPVOTES:
            reasons.append(f"trending: {int(u):,} upvotes")
        elif s >= TREND_STARS:
            reasons.append(f"trending: {int(s):,} GitHub stars")
        elif n >= TREND_SOURCES:
            reasons.append(f"trending: carried by {int(n)} sources")
        else:
            reasons.append(None)
    return trend, reasons


def _duplicate_groups(candidates, index: PaperIndex) -> np.ndarray:
    """Same normalised title, or near-identical text (cosine ≥ DUP_SIMILARITY): one group."""
    n = len(candidates)
    by_title: dict[str, int] = {}
    rows, cols = [], []
    for i, c in enumerate(candidates):
        first = by_title.setdefault(" ".join(words(c.title)) or f"#{i}", i)
        if first != i:
            rows.append(i), cols.append(first)
    # Near-identical texts share most of their rare terms: score only pairs that share some.
    present = index.present.tocsr()
    df = np.bincount(present.indices, minlength=present.shape[1])
    rare = present[:, np.flatnonzero((df >= 2) & (df <= DUP_RARE_DF))]
    pairs = sparse.triu(rare @ rare.T, k=1).tocoo()
    i, j = pairs.row[pairs.data >= 3], pairs.col[pairs.data >= 3]
    if i.size:
        cos = np.asarray(index.unit[i].multiply(index.unit[j]).sum(axis=1)).ravel()
        rows += i[cos >= DUP_SIMILARITY].tolist()
        cols += j[cos >= DUP_SIMILARITY].tolist()
    graph = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _representatives(groups: np.ndarray, trend: np.ndarray) -> np.ndarray:
    """The most popular (then first-listed) paper of each group speaks for it."""
    order = np.lexsort((np.arange(groups.size), -trend, groups))
    first = np.ones(order.size, dtype=bool)
    first[1:] = groups[order][1:] != groups[order][:-1]
    out = np.zeros(groups.size, dtype=bool)
    out[order[first]] = True
    return out


def _category_keys(categories) -> list[str]:
    """cs.LG counts as cs.LG and as its archive cs, so a profile may list either."""
    keys = set()
    for c in categories:
        c = c.strip().lower()
        if c:
            keys.update((c, c.split(".")[0]))
    return sorted(keys)


def _wanted_categories(categories) -> list[str]:
    """A profile's include-list as written: "cs.LG" means cs.LG only; "cs" or "cs.*" means the whole archive."""
    return sorted({c.strip().lower().replace("*", "").rstrip(".") for c in categories} - {""})


def _incidence(rows_of_keys: list[list[str]]) -> tuple[dict[str, int], sparse.csr_matrix]:
    """A vocabulary and a keys × papers 0/1 matrix."""
    flat = [k for keys in rows_of_keys for k in keys]
    vocab = dict(zip(dict.fromkeys(flat), range(len(flat))))
    rows = np.fromiter(map(vocab.__getitem__, flat), dtype=np.int64, count=len(flat))
    papers = np.repeat(np.arange(len(rows_of_keys)), [len(keys) for keys in rows_of_keys])
    matrix = sparse.csr_matrix((np.ones(len(flat), np.float32), (rows, papers)),
                               shape=(len(vocab), len(rows_of_keys)))
    matrix.data[:] = 1.0  # a key listed twice for one paper is still one
    return vocab, matrix


@dataclass
class Compiled:
    """All profiles of one call as arrays over the edition's vocabularies."""

    queries: PhraseQueries
    table: tuple[np.ndarray, np.ndarray, np.ndarray]  # topics × papers above the floor: indptr, cols, rels
    slots: np.ndarray              # subscribers × max topics: query row per topic, -1 pad
    written: np.ndarray            # subscribers × max topics: id of the phrase as written
    written_texts: list[tuple[str, int]]  # per written id: (phrase as written, query row)
    floors: np.ndarray
    max_papers: np.ndarray
    category_only: np.ndarray
    has_categories: np.ndarray
    categories: sparse.csr_matrix  # subscribers × categories
    category_bits: np.ndarray      # subscribers × words
    category_names: list[frozenset]
    follows: sparse.csr_matrix     # subscribers × author keys
    follow_keys: list[frozenset]
    excludes: sparse.csr_matrix    # subscribers × exclusions
    exclusion_hits: sparse.csr_matrix  # exclusions × papers
    sent_keys: np.ndarray          # sorted row * n_papers + paper, never to send again


def topic_table(queries: PhraseQueries, edition: Edition, floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per topic, the representative papers at or above the floor, best (relevance × boost) first, as CSR arrays."""
    n = edition.index.n_papers
    indptr, cols, rels = [np.zeros(1, np.int64)], [], []
    for start in range(0, len(queries.phrases), TABLE_BLOCK):
        rows = np.arange(start, min(start + TABLE_BLOCK, len(queries.phrases)))
        rel = score_phrases(queries, rows, edition.index)
        rel[:, ~edition.representative] = 0.0
        r, c = np.nonzero(rel >= floor)
        order = np.lexsort((-(rel[r, c] * edition.boost[c]), r))
        r, c = r[order], c[order]
        cols.append(c.astype(np.int64)), rels.append(rel[r, c])
        indptr.append(indptr[-1][-1] + np.cumsum(np.bincount(r, minlength=len(rows))))
    return (np.concatenate(indptr), np.concatenate(cols) if cols else np.zeros(0, np.int64),
            np.concatenate(rels) if rels else np.zeros(0, np.float32))


def bulk_compile(profiles, edition: Edition, already_sent: dict[int, set[int]], default_floor: float) -> Compiled:
    """Profiles → sparse rows; identical topic phrases (after normalising) share one query."""
    slots, written, written_texts, topic_keys = _topic_slots(profiles)
    queries = bulk_queries(topic_keys, edition.index)
    cat_keys: dict[tuple, list[str]] = {(): []}
    cat_rows = [cat_keys[p.categories] if p.categories in cat_keys else cat_keys.setdefault(
        p.categories, _wanted_categories(p.categories)) for p in profiles]
    categories = _rows_matrix(cat_rows, edition.category_vocab)
    empty = frozenset()
    follow_rows = [frozenset(k for k in map(follow_key, p.authors) if k) if p.authors else empty for p in profiles]
    excludes, exclusion_hits = _exclusions(profiles, edition)
    has_categories = np.fromiter(map(bool, cat_rows), dtype=bool, count=len(profiles))
    return Compiled(
        queries=queries, table=topic_table(queries, edition, default_floor), slots=slots,
        written=written, written_texts=written_texts,
        floors=np.maximum(np.fromiter((p.min_score or 0.0 for p in profiles), np.float32, len(profiles)),
                          np.float32(default_floor)),
        max_papers=np.maximum(np.fromiter((p.max_papers or 0 for p in profiles), np.int64, len(profiles)), 0),
        category_only=has_categories & (slots[:, 0] < 0), has_categories=has_categories,
        categories=categories, category_bits=bitsets(categories), category_names=[frozenset(c) for c in cat_rows],
        follows=_rows_matrix(follow_rows, edition.author_vocab), follow_keys=follow_rows,
        excludes=excludes, exclusion_hits=exclusion_hits, sent_keys=_sent_keys(profiles, edition, already_sent),
    )


def _topic_slots(profiles) -> tuple[np.ndarray, np.ndarray, list[tuple[str, int]], list[str]]:
    """(query row per profile topic, phrase-as-written id per topic, written phrases, query keys), -1 padded.

    Works on the flat list of every profile's topics at once: a phrase is normalised once per call however
    many subscribers wrote it, and a profile listing one topic twice (in any spelling) keeps the first."""
    counts = np.fromiter((len(p.topics) for p in profiles), dtype=np.int64, count=len(profiles))
    flat = [t for p in profiles for t in p.topics]
    written_ids = {t: i for i, t in enumerate(dict.fromkeys(flat))}
    wid = np.fromiter(map(written_ids.__getitem__, flat), dtype=np.int64, count=len(flat))
    keys = [phrase_key(t) for t in written_ids]
    topic_ids = {k: i for i, k in enumerate(dict.fromkeys(k for k in keys if k))}
    topic_of_written = np.array([topic_ids.get(k, -1) for k in keys] or [-1], dtype=np.int64)
    rows = np.repeat(np.arange(len(profiles)), counts)
    tid = topic_of_written[wid] if flat else wid
    ok = np.flatnonzero(tid >= 0)
    _, first = np.unique(rows[ok] * (len(topic_ids) + 1) + tid[ok], return_index=True)
    ok = ok[np.sort(first)]
    rows, tid, wid = rows[ok], tid[ok], wid[ok]
    per_row = np.bincount(rows, minlength=len(profiles))
    position = np.arange(rows.size) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    width = int(per_row.max(initial=0)) or 1
    slots = np.full((len(profiles), width), -1, dtype=np.int64)
    written = np.full((len(profiles), width), -1, dtype=np.int64)
    slots[rows, position], written[rows, position] = tid, wid
    texts = [(t.strip(), int(i)) for t, i in zip(written_ids, topic_of_written.tolist())]
    return slots, written, texts, list(topic_ids)


def _rows_matrix(rows: list, vocab: dict[str, int]) -> sparse.csr_matrix:
    """subscribers × vocabulary 0/1; keys the edition never saw are dropped (they match nothing)."""
    r, c = [], []
    for i, keys in enumerate(rows):
        for k in keys:
            col = vocab.get(k)
            if col is not None:
                r.append(i), c.append(col)
    return sparse.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(len(rows), len(vocab)))


def _exclusions(profiles, edition: Edition) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """An exclusion hides a paper that contains the word/phrase or has an author of that name."""
    ids: dict[str, int] = {}
    rows = [[ids.setdefault(e, len(ids)) for e in {fold(x).strip() for x in p.exclude} if e] if p.exclude else []
            for p in profiles]
    entries = list(ids)
    queries = bulk_queries([phrase_key(e) for e in entries], edition.index)
    hits = words_present(queries, np.arange(len(entries)), edition.index).astype(np.float32)
    named = [(i, edition.author_vocab[follow_key(e)]) for i, e in enumerate(entries)
             if follow_key(e) in edition.author_vocab]
    if named:
        by_author = sparse.csr_matrix((np.ones(len(named), np.float32), tuple(zip(*named))),
                                      shape=(len(entries), len(edition.author_vocab)))
        hits = hits + by_author @ edition.paper_authors
    matrix = sparse.csr_matrix((np.ones(sum(map(len, rows)), np.float32),
                                ([i for i, r in enumerate(rows) for _ in r], [e for r in rows for e in r])),
                               shape=(len(profiles), len(entries)))
    return matrix, sparse.csr_matrix(hits > 0, dtype=np.float32)


def _sent_keys(profiles, edition: Edition, already_sent: dict[int, set[int]]) -> np.ndarray:
    """Sorted row * n_papers + paper for papers already sent, widened to every near-duplicate of one."""
    if not already_sent:
        return np.zeros(0, dtype=np.int64)
    position = dict(zip(edition.paper_ids.tolist(), edition.groups.tolist()))
    members: dict[int, list[int]] = {}
    for i, g in enumerate(edition.groups.tolist()):
        members.setdefault(g, []).append(i)
    n = edition.index.n_papers
    keys = [row * n + m for row, p in enumerate(profiles) if p.subscriber_id in already_sent
            for pid in already_sent[p.subscriber_id] if pid in position for m in members[position[pid]]]
    return np.unique(np.array(keys, dtype=np.int64))
