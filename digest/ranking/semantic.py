"""Relevance by meaning, pure: sentence embeddings of papers and profiles, scored block by block.

Per distinct topic phrase (once per call): its vector moved toward its
PRF_DEPTH best papers (pseudo-relevance feedback; a few words are a thin
query), its category affinity (the share of each arXiv category among its
AFFINITY_DEPTH best papers) and its own best papers (`topic_table`), scored
as TOPIC_OWN_WEIGHT × cosine + LEXICAL_WEIGHT × BM25 + CATEGORY_WEIGHT ×
affinity, so that each of a reader's topics brings its own papers.

Per profile, a block at a time (`Queries.block`): the query is the mean of its
topics' moved vectors plus the centroid of the papers it liked minus a share
of the disliked (Rocchio in embedding space, `ranking.likes`); its category
affinity is that of its liked papers (minus half the disliked) or, without
likes, the mean of its topics'. Its nearest papers (`ranking.nearest`: exact
for small calls, an inverted file for large ones) score

    q · x + CATEGORY_WEIGHT × affinity · categories + LEXICAL_WEIGHT × best topic's BM25
          + AUTHOR_WEIGHT × shares an author with a liked paper.

A cell is kept only when the paper is near enough to what the reader asked
for: with liked papers, q · x reaches SEMANTIC_FLOOR (or the profile's own
floor, if higher); otherwise one of its topics' raw phrase vectors does, or the
words match. Pseudo-relevance feedback pulls every query toward some cluster,
and a topic that matches nothing today must still get nothing. The weights were
chosen on the labelled harness (bench/rank.py prints each varied alone) and
checked on the library and simulated-reader harnesses (`ranking.harness`).

Vectors come from `Candidate.embedding` / `Example.embedding` (stored at
ingest); a missing one is computed here when the model loads
(`ranking.embed.get_embedder`), else that paper is ranked by words only.
Topic phrase vectors are stored per phrase (`digest.embeddings.load_phrases`)
and kept per process (`remember_phrases`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from digest.ranking import embed, likes, nearest
from digest.ranking.likes import DISLIKED_WEIGHT, LIKED_WEIGHT, unit  # noqa: F401 - part of this module's surface

SEMANTIC_FLOOR = 0.3
PRF_DEPTH, PRF_WEIGHT = 20, 1.0
AFFINITY_DEPTH = 10
LEXICAL_WEIGHT = 0.2
CATEGORY_WEIGHT = 0.25
AUTHOR_WEIGHT = 0.1
TOPIC_OWN_WEIGHT = 0.8  # a topic's own nearest papers, relative to the whole profile's

PHRASES_KEPT = 100_000  # topic phrase vectors a process keeps (float16: about 77 MB)
_PHRASES: OrderedDict[str, np.ndarray] = OrderedDict()
_PHRASES_LOCK = threading.Lock()


def remember_phrases(vectors: dict[str, bytes]) -> None:
    """Seed the per-process phrase cache with stored topic vectors (phrase → float16 bytes)."""
    with _PHRASES_LOCK:
        for phrase, blob in vectors.items():
            if blob:
                _keep(phrase, embed.from_bytes(blob))


def _keep(phrase: str, vector: np.ndarray) -> None:
    _PHRASES[phrase] = np.asarray(vector, dtype=np.float16)
    _PHRASES.move_to_end(phrase)
    while len(_PHRASES) > PHRASES_KEPT:
        _PHRASES.popitem(last=False)


def phrase_vectors(phrases: list[str]) -> np.ndarray | None:
    """Vectors of topic phrases (cached per process); None when some are missing and no model loads."""
    with _PHRASES_LOCK:
        missing = [p for p in dict.fromkeys(phrases) if p not in _PHRASES]
    if missing:
        embedder = embed.get_embedder()
        if embedder is None:
            return None
        made = embedder.embed(missing)
        with _PHRASES_LOCK:
            for phrase, vector in zip(missing, made):
                _keep(phrase, vector)
    with _PHRASES_LOCK:
        found = [_PHRASES.get(p) for p in phrases]
    if any(v is None for v in found):  # pushed out by a huge call: embed them again
        return phrase_vectors(phrases) if len(phrases) < PHRASES_KEPT else None
    return np.stack(found).astype(np.float32) if phrases else np.zeros((0, embed.EMBED_DIM), np.float32)


@dataclass
class SemanticEdition:
    """The edition's paper vectors and exact categories (papers × categories)."""

    vectors: np.ndarray          # papers × EMBED_DIM float32, unit; zero rows where `ok` is False
    ok: np.ndarray               # has a vector and speaks for its near-duplicate group
    categories: sparse.csr_matrix  # papers × exact categories (lower case)
    category_vocab: dict[str, int]
    _clusters: "nearest.Clusters | None" = None  # the papers grouped by meaning (built on first large call)

    @property
    def clusters(self) -> "nearest.Clusters":
        if self._clusters is None:
            self._clusters = nearest.cluster(self.vectors, self.ok)
        return self._clusters


def edition_vectors(candidates, representative: np.ndarray) -> SemanticEdition | None:
    """Stored vectors, the missing ones computed when the model loads; None when no paper has one."""
    n = len(candidates)
    vectors = np.zeros((n, embed.EMBED_DIM), np.float32)
    have = np.zeros(n, bool)
    for i, c in enumerate(candidates):
        if c.embedding:
            vectors[i] = embed.from_bytes(c.embedding)
            have[i] = True
    missing = np.flatnonzero(~have)
    if missing.size:
        embedder = embed.get_embedder()
        if embedder is not None:
            texts = [embed.paper_text(candidates[i].title, candidates[i].abstract) for i in missing]
            vectors[missing] = embedder.embed(texts)
            have[missing] = True
    if not have.any():
        return None
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for i, c in enumerate(candidates):
        for cat in dict.fromkeys(x.strip().lower() for x in c.categories if x.strip()):
            rows.append(i)
            cols.append(vocab.setdefault(cat, len(vocab)))
    cats = sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, max(len(vocab), 1)))
    ok = have & representative
    vectors = unit(vectors) * ok[:, None]
    return SemanticEdition(vectors, ok, cats, vocab)


@dataclass
class Queries:
    """Per distinct topic its vectors and best papers; per profile what its query is made of. The query
    vectors and affinities themselves are built a block of subscribers at a time (`block`)."""

    slots: np.ndarray           # profiles × max topics: topic id, -1 pad (Compiled.slots)
    active: np.ndarray          # has a query: a topic with a vector, or feedback
    from_likes: np.ndarray      # eligibility by the whole query (likes anchor it), not by its topics alone
    topic_raw: np.ndarray       # topic ids × EMBED_DIM: the phrase's own vector
    topic_expanded: np.ndarray  # topic ids × EMBED_DIM: moved toward the topic's best papers
    topic_affinity: np.ndarray  # topic ids × categories: share among the topic's best papers
    topic_cos: np.ndarray       # topic ids × papers: cosine of the phrase's own vector (the floor's test)
    topic_lexical: np.ndarray   # topic ids × papers: BM25 relevance (ranking.text), 0 under the lexical floor
    topic_table: tuple[np.ndarray, np.ndarray, np.ndarray]  # per topic its best papers: indptr, cols, rels
    feedback: "likes.Feedback | None"  # liked and disliked examples per profile
    words_spare: bool = False   # every paper of the lexical topic tables has a vector (lexical cells replaced)
    _topic_mean: sparse.csr_matrix | None = None

    def block(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query vectors, CATEGORY_WEIGHT × category affinity) of these profiles."""
        if self.topic_raw.size:  # the mean over each profile's topics: one sparse product each
            mean = self.topic_mean[rows]
            q = unit(np.asarray(mean @ self.topic_expanded, dtype=np.float32))
            affinity = np.asarray(mean @ self.topic_affinity, dtype=np.float32)
        else:
            q = np.zeros((rows.size, embed.EMBED_DIM), np.float32)
            affinity = np.zeros((rows.size, self.topic_affinity.shape[1]), np.float32)
        fb = self.feedback
        if fb is not None:
            q += np.asarray(fb.signed[rows] @ fb.vectors, dtype=np.float32)
            learned = self.from_likes[rows]
            affinity[learned] = 0.0  # liked papers say more about the reader's categories than any topic
            affinity += (fb.shares[rows] @ fb.categories).toarray()
            q = unit(q)
        return q, CATEGORY_WEIGHT * affinity

    def prepare(self, edition) -> None:
        """Build the lazy parts that blocks share (before several threads rank blocks at once)."""
        if self.topic_raw.size:
            _ = self.topic_mean
        sem = edition.semantic
        sem.clusters.dense(sem.vectors, sem.categories)

    @property
    def topic_mean(self) -> sparse.csr_matrix:
        """profiles × topics: 1 / (the profile's number of topics) for each of its topics."""
        if self._topic_mean is None:
            has = self.slots >= 0
            r, j = np.nonzero(has)
            weight = (1.0 / np.maximum(has.sum(axis=1), 1)).astype(np.float32)
            self._topic_mean = sparse.csr_matrix((weight[r], (r, self.slots[r, j])),
                                                 shape=(self.slots.shape[0], self.topic_raw.shape[0]))
        return self._topic_mean

    def liked_authors(self, subs: np.ndarray, r: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Per cell (profile subs[r], paper): 1 where the paper shares an author with one the profile liked."""
        fb = self.feedback
        if fb is None or not fb.authors.nnz or not r.size:
            return np.zeros(r.size, np.float32)
        hits = (fb.liked[subs] @ fb.authors).tocsr()  # the block's profiles × papers, sparse
        return (np.asarray(hits[r, cols]).ravel() > 0).astype(np.float32)

    def closest_liked(self, row: int, paper_vector: np.ndarray):
        """(the liked example nearest to a paper, its vector), for the reason; None without likes."""
        fb = self.feedback
        if fb is None:
            return None
        idx = fb.liked.indices[fb.liked.indptr[row]:fb.liked.indptr[row + 1]]
        if not idx.size:
            return None
        best = int(idx[np.argmax(fb.vectors[idx] @ paper_vector)])
        return fb.examples[best], fb.vectors[best]


def topic_side(compiled, edition) -> "tuple[np.ndarray, _Topics]":
    """(each distinct topic's phrase vector, its expansion, affinity and table): needs only the topic side
    of the compiled profiles (edition.compile_topics), so it may run while the rest is compiled."""
    first_written: dict[int, str] = {}
    for text, topic_id in compiled.written_texts:
        if topic_id >= 0:
            first_written.setdefault(topic_id, text)
    raw = phrase_vectors([first_written[i] for i in range(len(first_written))])
    if raw is None:  # no model, and the phrases were never embedded: topics rank by words
        raw = np.zeros((0, embed.EMBED_DIM), np.float32)
    return raw, _topic_side(raw, compiled, edition.semantic)


def compile_queries(profiles, compiled, edition, feedback: "likes.Flat | None" = None,
                    side: "tuple[np.ndarray, _Topics] | None" = None) -> Queries | None:
    """Every distinct topic's table and every profile's makings, as arrays (module docstring)."""
    sem = edition.semantic
    n = len(profiles)
    raw, topics = side or topic_side(compiled, edition)
    active = (compiled.slots[:, 0] >= 0) if raw.size else np.zeros(n, bool)
    liked = likes.compile_feedback(n, feedback, edition)
    from_likes = np.zeros(n, bool)
    if liked is not None:
        from_likes = liked.has_likes
        active = active | liked.any
    if not active.any():
        return None
    return Queries(slots=compiled.slots, active=active, from_likes=from_likes, topic_raw=raw,
                   topic_expanded=topics.expanded, topic_affinity=topics.affinity, topic_cos=topics.cos,
                   topic_lexical=topics.lexical, topic_table=topics.table, feedback=liked,
                   words_spare=bool(sem.ok[compiled.table[1]].all()))


@dataclass
class _Topics:
    expanded: np.ndarray   # topic ids × EMBED_DIM: moved toward the topic's best papers (pseudo-relevance)
    affinity: np.ndarray   # topic ids × categories: share among the topic's best papers
    cos: np.ndarray        # topic ids × papers: cosine of the raw phrase vector
    lexical: np.ndarray    # topic ids × papers: BM25 relevance
    table: tuple[np.ndarray, np.ndarray, np.ndarray]


TOPIC_CHUNK = 1024  # distinct topics scored together: bounds the topics × papers temporaries


def _topic_side(raw: np.ndarray, compiled, sem: SemanticEdition) -> _Topics:
    """Per distinct topic: pseudo-relevance expansion, category affinity and its best papers (rel, best first)."""
    x, n, k = sem.vectors, sem.vectors.shape[0], len(raw)
    indptr, cols, rels = compiled.table
    lexical = np.zeros((k, n), np.float32)
    if k:
        owner = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))[:cols.size]
        lexical[owner, cols] = rels
    cos = np.empty((k, n), np.float32)
    expanded = raw.astype(np.float32, copy=True)
    affinity = np.zeros((k, sem.categories.shape[1]), np.float32)
    tables = []
    cats = sem.categories.toarray()
    for start in range(0, k, TOPIC_CHUNK):
        part = slice(start, min(start + TOPIC_CHUNK, k))
        cos[part], expanded[part], affinity[part], table = _topic_chunk(raw[part], lexical[part], x, cats, sem.ok)
        tables.append(table)
    return _Topics(expanded, affinity, cos, lexical, _join_tables(tables))


def _topic_chunk(raw, lexical, x, cats, ok):
    """_topic_side for a slice of the topics: (cosine, expanded vectors, affinity, best papers table)."""
    n = x.shape[0]
    cos = raw @ x.T
    cos[:, ~ok] = -2.0
    expanded = raw
    if n > PRF_DEPTH:
        top = np.argpartition(-(cos + LEXICAL_WEIGHT * lexical), PRF_DEPTH, axis=1)[:, :PRF_DEPTH]
        expanded = unit(raw + PRF_WEIGHT * unit(x[top].mean(axis=1)))
    own = expanded @ x.T
    own += LEXICAL_WEIGHT * lexical
    depth = min(AFFINITY_DEPTH, n)
    best = np.argpartition(-own, depth - 1, axis=1)[:, :depth] if depth < n else np.tile(np.arange(n), (len(raw), 1))
    affinity = cats[best].mean(axis=1) if depth else np.zeros((len(raw), cats.shape[1]), np.float32)
    rel = own
    rel *= TOPIC_OWN_WEIGHT
    rel += CATEGORY_WEIGHT * (affinity @ cats.T)
    rel[~(((cos >= SEMANTIC_FLOOR) | (lexical > 0)) & ok[None, :])] = -np.inf
    return cos, expanded, affinity, nearest.best_per_row(rel, nearest.TOPIC_DEPTH)


def _join_tables(tables) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate per-chunk CSR tables (indptr, cols, values) into one."""
    if not tables:
        return np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    shift = np.cumsum([0] + [t[0][-1] for t in tables[:-1]])
    indptr = np.concatenate([[0]] + [t[0][1:] + s for t, s in zip(tables, shift)]).astype(np.int64)
    return indptr, np.concatenate([t[1] for t in tables]), np.concatenate([t[2] for t in tables])



LIKED = -4  # slot marker: brought in by the reader's liked papers, close to none of their topics


def block_cells(queries: Queries, edition, compiled, rows: np.ndarray, depth: np.ndarray):
    """Semantic cells of the block's rows with a query: each topic's best papers (one segment per topic slot)
    and each query's nearest papers (`nearest.search`), as select.Cells parts."""
    from digest.ranking import select

    sem = edition.semantic
    active = queries.active[rows]
    slots = np.where(active[:, None], compiled.slots[rows], -1)
    q, affinity = queries.block(rows[active])
    parts = [select.topic_cells(slots, *queries.topic_table)] if queries.topic_raw.size else []
    local = np.flatnonzero(active)
    if local.size:
        subs = rows[local]
        own_slots = compiled.slots[subs]
        floor = np.maximum(compiled.floors[subs], SEMANTIC_FLOOR)

        by_likes = queries.from_likes[subs]

        def eligible(r, papers, qx):
            ok = qx >= floor[r][:, None]
            by_topic = ~by_likes[r]
            if by_topic.any():  # without likes: one of the topics' own phrase vectors must be near enough
                r2 = r[by_topic]
                near = np.zeros((r2.size, papers.size), bool)
                for j in range(own_slots.shape[1]):
                    t = own_slots[r2, j]
                    has = t >= 0
                    near[has] |= queries.topic_cos[t[has][:, None], papers] >= floor[r2[has]][:, None]
                ok[by_topic] = near
            return ok

        exact = local.size * sem.vectors.shape[0] <= nearest.EXACT_CELLS
        r, col, score = nearest.search(q, affinity, sem.clusters, sem.vectors, sem.categories, eligible,
                                       depth[local], exact)
        score = score + AUTHOR_WEIGHT * queries.liked_authors(subs, r, col)
        if queries.topic_raw.size:  # the exact words still count: the best topic's lexical match
            t = own_slots[r]
            words = np.where(t >= 0, queries.topic_lexical[np.maximum(t, 0), col[:, None]], 0.0)
            score = score + LEXICAL_WEIGHT * words.max(axis=1, initial=0.0)
        slot = _closest_topic(queries, own_slots[r], col, floor[r])
        row = local[r]
        # One int64 sort: row, then slot, then best first (scores in steps of 2**-20).
        quant = np.int64(2**24 - 1) - np.clip(score * 2**20, 0, 2**24 - 1).astype(np.int64)
        order = np.argsort((row.astype(np.int64) << 32) | ((slot + 8).astype(np.int64) << 24) | quant)
        row, col, score, slot = row[order], col[order], score[order], slot[order]
        starts = np.ones(row.size, dtype=bool)
        starts[1:] = (row[1:] != row[:-1]) | (slot[1:] != slot[:-1])
        first = np.maximum.accumulate(np.where(starts, np.arange(row.size), 0))
        parts.append(select.Cells(row, col, score.astype(np.float32), slot.astype(np.int16),
                                  np.arange(row.size) - first))
    return parts


def _closest_topic(queries: Queries, slots: np.ndarray, col: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Per cell, the slot of the row's topic nearest the paper; LIKED when no topic is near enough."""
    if not queries.topic_raw.size or not slots.size:
        return np.full(col.size, LIKED, np.int64)
    fit = np.where(slots >= 0, queries.topic_cos[np.maximum(slots, 0), col[:, None]], -np.inf)
    best = np.argmax(fit, axis=1)
    near = fit[np.arange(col.size), best] >= floor
    return np.where(near, best, LIKED).astype(np.int64)
