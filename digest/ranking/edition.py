"""Ranking inputs as arrays, pure: the edition's papers once per call, all profiles once per call.

`prepare_edition` turns candidates into arrays (their concatenated text
features, categories, authors, recency, trending, near-duplicate groups);
`bulk_compile` looks up the terms the profiles use and turns profiles into
sparse rows over them, with identical topic phrases sharing one query row.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import sparse

from digest.ranking.dups import duplicate_groups, representatives
from digest.ranking.features import EditionText, edition_text
from digest.ranking.select import quantised
from digest.ranking.semantic import SemanticEdition, edition_vectors
from digest.ranking import withheld
from digest.ranking.trending import popularity_order, popularity_reasons, trend_scores
from digest.ranking.text import (
    PhraseQueries,
    author_keys,
    bulk_queries,
    follow_key,
    match_terms,
    phrase_hashes,
    phrase_key,
    score_phrases,
    string_hash,
    tokens,
    words,
)

EDITION_CACHE_SIZE = 4    # per process: today's and yesterday's (late time zones), each with its revisions (Updated)
_EDITIONS: OrderedDict[tuple, "Edition"] = OrderedDict()
_EDITIONS_LOCK = threading.Lock()


@dataclass
class Edition:
    """One edition's candidate papers as arrays, built once per process while the candidates stay the same."""

    text: EditionText
    paper_ids: np.ndarray
    trend: np.ndarray
    trend_reason: list[str | None]
    groups: np.ndarray                   # near-duplicate group per paper
    representative: np.ndarray           # True for the one paper that speaks for its group
    category_vocab: dict[str, int]
    paper_categories: sparse.csr_matrix  # categories × papers (representatives only)
    category_bits: np.ndarray            # papers × words: category membership bitset
    categories: list[tuple[str, ...]]
    author_hashes: np.ndarray            # sorted distinct author-key hashes: the rows of paper_authors
    paper_authors: sparse.csr_matrix     # author keys × papers (representatives only)
    authors: list[tuple[str, ...]]
    popularity_order: np.ndarray         # representatives, most popular first (ranking.trending)
    popularity_place: np.ndarray         # per paper: its place in popularity_order
    popularity_reason: list[str | None]  # per paper: the figure that places it ("trending: 283 upvotes")
    texts: list[tuple[str, str]] = field(default_factory=list)  # (title, abstract) per paper, for reasons
    sentences: list[bytes | None] = field(default_factory=list)  # stored sentence vectors per paper, for reasons
    semantic: "SemanticEdition | None" = None  # paper vectors (ranking.semantic); None: words only
    # Per call (they depend on `now` and the half-life), on a copy of the cached content-only edition:
    recency: np.ndarray | None = None
    age_hours: np.ndarray | None = None  # since announced (else first seen); NaN when unknown
    boost: np.ndarray | None = None      # per paper: W_BASE + W_RECENCY·recency + W_TREND·trending
    popular: np.ndarray | None = None    # per paper: score of its place in popularity_order

    @property
    def n_papers(self) -> int:
        return self.text.n

    def author_rows(self, names) -> np.ndarray:
        """Row in paper_authors of each follow key (-1: no paper of the edition has that author)."""
        wanted = np.fromiter((string_hash(k) for k in names), dtype=np.uint64, count=len(names))
        if not self.author_hashes.size:
            return np.full(wanted.size, -1, np.int64)
        pos = np.minimum(np.searchsorted(self.author_hashes, wanted), self.author_hashes.size - 1)
        return np.where(self.author_hashes[pos] == wanted, pos, -1)

    def author_names(self, paper: int) -> list[tuple[str, frozenset]]:
        return [(a, frozenset(k for k in author_keys(a) if k)) for a in self.authors[paper]]

    def explain_topic(self, topic: str, queries: PhraseQueries, topic_id: int, paper: int) -> tuple[str, list[str]]:
        """('matches your topic “…” on: a, b', the topic's words found in the paper)."""
        have = queries.index.paper_columns(paper)
        shown = dict(zip(tokens(topic), words(topic)))
        terms, cols = queries.terms[topic_id], queries.columns[topic_id]
        unigrams = [c for t, c in zip(terms, cols) if " " not in t]
        matched = [shown.get(t, t) for t, c in zip(terms, cols) if " " not in t and c in have]
        exact = all(c in have for c in ([c for t, c in zip(terms, cols) if " " in t] or unigrams))
        if exact:
            return f"matches your topic “{topic}”", matched
        return f"matches your topic “{topic}” on: {', '.join(matched)}", matched


def prepare_edition(candidates, now: dt.datetime, half_life_hours: float) -> Edition:
    """The candidates as arrays: text, trending, duplicates, categories, authors (reused while the same
    papers come back, see `_vectorised`), and recency for this `now` and half-life (computed every call)."""
    hours = _ages(candidates, now)
    return replace(_vectorised(candidates), recency=_recency(hours, half_life_hours), age_hours=hours,
                   boost=None, popular=None)


def _vectorised(candidates) -> Edition:
    """The content-only part of an edition, from a small per-process cache keyed on the candidates themselves.

    Delivery ranks one batch of ~100 subscribers at a time against the same few thousand candidates, so
    indexing them every call would cost more than ranking. The key is the tuple of (frozen) candidates: its
    hash covers every field of every paper (but its features, derived from its text), and a hit is confirmed
    field by field, so an edited paper, a new paper or another order never reuses a stale index. Nothing
    cached depends on `now` or the half-life."""
    try:
        key = _Key(tuple(candidates))
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


class _Key:
    """The candidates as a dict key whose hash (over every field of every paper) is computed once."""

    __slots__ = ("items", "hash")

    def __init__(self, items: tuple) -> None:
        self.items, self.hash = items, hash(items)

    def __hash__(self) -> int:
        return self.hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and self.hash == other.hash and self.items == other.items


def clear_edition_cache() -> None:
    """Forget every vectorised edition (benchmarks measure cold calls with it)."""
    with _EDITIONS_LOCK:
        _EDITIONS.clear()


def _vectorise(candidates) -> Edition:
    """The candidates as arrays: their stored features concatenated, trending, duplicates, categories, authors."""
    text = edition_text([c.features for c in candidates],
                        lambda i: (candidates[i].title, candidates[i].abstract, candidates[i].authors))
    trend, reasons = trend_scores(candidates)
    groups = duplicate_groups(text)
    representative = representatives(groups, trend)
    keep = representative.astype(np.float32)
    cat_vocab, paper_cats = _incidence([_category_keys(tuple(c.categories)) for c in candidates])
    author_hashes, inverse = np.unique(text.author_keys, return_inverse=True)
    owner = np.repeat(np.arange(text.n), np.diff(text.author_indptr))
    paper_authors = sparse.csr_matrix((np.ones(inverse.size, np.float32), (inverse.ravel(), owner)),
                                      shape=(author_hashes.size, text.n))
    paper_authors.data[:] = 1.0
    order, place = popularity_order(candidates, representative)
    return Edition(
        text=text, paper_ids=np.array([c.paper_id for c in candidates], dtype=np.int64),
        trend=trend, trend_reason=reasons,
        groups=groups, representative=representative, category_vocab=cat_vocab,
        paper_categories=sparse.csr_matrix(paper_cats.multiply(keep[None, :])), category_bits=bitsets(paper_cats.T),
        categories=[tuple(c.categories) for c in candidates], author_hashes=author_hashes,
        paper_authors=sparse.csr_matrix(paper_authors.multiply(keep[None, :])),
        authors=[tuple(c.authors) for c in candidates], popularity_order=order, popularity_place=place,
        popularity_reason=popularity_reasons(candidates), texts=[(c.title, c.abstract) for c in candidates],
        sentences=[c.sentences for c in candidates],
        semantic=edition_vectors(candidates, representative),
    )


def bitsets(matrix: sparse.spmatrix) -> np.ndarray:
    """rows × ceil(columns / 64) uint64 words: set membership tests as AND."""
    coo = sparse.coo_matrix(matrix)
    bits = np.zeros((coo.shape[0], max(1, -(-coo.shape[1] // 64))), dtype=np.uint64)
    np.bitwise_or.at(bits, (coo.row, coo.col // 64), np.left_shift(np.uint64(1), (coo.col % 64).astype(np.uint64)))
    return bits


def _ages(candidates, now: dt.datetime) -> np.ndarray:
    """Hours since each paper was announced (else first seen); NaN when unknown."""
    return np.array([(now - c.seen_at).total_seconds() / 3600 if c.seen_at else math.nan for c in candidates],
                    dtype=np.float64)


def _recency(hours: np.ndarray, half_life_hours: float) -> np.ndarray:
    """Exponential decay: 1.0 now, 0.5 after one half-life; 0.5 when the time is unknown."""
    fresh = 0.5 ** (np.maximum(hours, 0.0) / max(half_life_hours, 1e-6))
    return np.where(np.isnan(hours), 0.5, fresh).astype(np.float32)


@functools.lru_cache(maxsize=65536)
def _category_keys(categories: tuple[str, ...]) -> list[str]:
    """cs.LG counts as cs.LG and as its archive cs, so a profile may list either (a few thousand distinct
    lists recur in every edition, so each is worked out once per process)."""
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
    trending_only: np.ndarray      # no topics, categories or followed authors: the popularity order
    has_categories: np.ndarray
    categories: sparse.csr_matrix  # subscribers × categories
    category_bits: np.ndarray      # subscribers × words
    category_names: list[frozenset]
    follows: sparse.csr_matrix     # subscribers × author keys
    follow_keys: list[frozenset]
    excludes: sparse.csr_matrix    # subscribers × exclusions
    exclusion_hits: sparse.csr_matrix  # exclusions × papers
    sent_keys: np.ndarray          # sorted row * n_papers + paper, never to send again
    sent_counts: np.ndarray        # per subscriber: how many sent_keys


def topic_table(queries: PhraseQueries, edition: Edition, floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per topic, the representative papers at or above the floor, best (relevance × boost) first, as CSR arrays."""
    n_topics = len(queries.phrases)
    rel = score_phrases(queries, np.arange(n_topics)).tocoo()
    keep = (rel.data >= floor) & edition.representative[rel.col]
    r, c, v = rel.row[keep].astype(np.int64), rel.col[keep].astype(np.int64), rel.data[keep].astype(np.float32)
    # One int64 sort (topic, then best first) instead of a lexsort on a float key: scores in steps of 2**-30.
    order = np.argsort((r << 32) | (np.int64(2**32 - 1) - quantised(v * edition.boost[c], 2**30)), kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=n_topics))]).astype(np.int64)
    return indptr, c[order], v[order]


@dataclass
class CompiledTopics:
    """The topic side of a call: each profile's topic slots and each distinct topic's BM25 query and table."""

    slots: np.ndarray
    written: np.ndarray
    written_texts: list[tuple[str, int]]
    queries: PhraseQueries
    table: tuple[np.ndarray, np.ndarray, np.ndarray]


def compile_topics(profiles, edition: Edition, default_floor: float) -> CompiledTopics:
    """Identical topic phrases (after normalising) share one query; each query's papers above the floor."""
    slots, written, written_texts, topic_keys = _topic_slots(profiles)
    queries = bulk_queries(topic_keys, match_terms(edition.text, phrase_hashes(topic_keys)))
    return CompiledTopics(slots, written, written_texts, queries, topic_table(queries, edition, default_floor))


def bulk_compile(profiles, edition: Edition, already_sent: dict[int, set[int]], default_floor: float,
                 also_sent: tuple[np.ndarray, np.ndarray] | None = None,
                 topics: CompiledTopics | None = None) -> Compiled:
    """Profiles → sparse rows (`topics`: compile_topics's, when the caller made it first). `also_sent`:
    (profile rows, paper ids) kept from their readers like papers already sent (the papers they rated)."""
    topics = topics or compile_topics(profiles, edition, default_floor)
    slots = topics.slots
    exclusion_rows, exclusion_entries = withheld.exclusion_entries(profiles)
    exclusion_keys = [phrase_key(e) for e in exclusion_entries]
    index = match_terms(edition.text, phrase_hashes(exclusion_keys))
    cat_keys: dict[tuple, list[str]] = {(): []}
    cat_rows = [cat_keys[p.categories] if p.categories in cat_keys else cat_keys.setdefault(
        p.categories, _wanted_categories(p.categories)) for p in profiles]
    categories = _rows_matrix(cat_rows, edition.category_vocab)
    empty = frozenset()
    follow_rows = [frozenset(k for k in map(follow_key, p.authors) if k) if p.authors else empty for p in profiles]
    excludes, exclusion_hits = withheld.exclusions(exclusion_rows, exclusion_entries,
                                           bulk_queries(exclusion_keys, index), edition)
    has_categories = np.fromiter(map(bool, cat_rows), dtype=bool, count=len(profiles))
    sent_keys = withheld.sent_keys(profiles, edition, already_sent, also_sent)
    # As written: a topic that normalises to nothing (stop words) is still a topic, and matches nothing.
    asked = np.fromiter((bool(p.topics or p.authors or p.liked) for p in profiles), dtype=bool, count=len(profiles))
    return Compiled(
        queries=topics.queries, table=topics.table, slots=slots,
        written=topics.written, written_texts=topics.written_texts,
        floors=np.maximum(np.fromiter((p.min_score or 0.0 for p in profiles), np.float32, len(profiles)),
                          np.float32(default_floor)),
        max_papers=np.maximum(np.fromiter((p.max_papers or 0 for p in profiles), np.int64, len(profiles)), 0),
        category_only=has_categories & (slots[:, 0] < 0), trending_only=~has_categories & ~asked,
        has_categories=has_categories,
        categories=categories, category_bits=bitsets(categories), category_names=[frozenset(c) for c in cat_rows],
        follows=_follows_matrix(follow_rows, edition), follow_keys=follow_rows,
        excludes=excludes, exclusion_hits=exclusion_hits, sent_keys=sent_keys,
        sent_counts=np.bincount(sent_keys // max(edition.n_papers, 1), minlength=len(profiles)),
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


def _follows_matrix(rows: list[frozenset], edition: Edition) -> sparse.csr_matrix:
    """subscribers × the edition's author keys, 1 where followed; names no paper has are dropped."""
    flat = [k for keys in rows for k in keys]
    owner = np.repeat(np.arange(len(rows)), [len(keys) for keys in rows])
    col = edition.author_rows(flat)
    ok = col >= 0
    return sparse.csr_matrix((np.ones(int(ok.sum()), np.float32), (owner[ok], col[ok])),
                             shape=(len(rows), edition.author_hashes.size))
