"""What a reader's liked and disliked papers contribute to ranking, pure (see ranking.semantic).

Profiles × distinct examples as sparse matrices (the Rocchio direction, category shares, likes), and what
each example is: its vector (the edition's own, a stored one, else embedded from its text), its categories
over the edition's vocabulary, and the edition's papers it shares an author with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from digest.ranking import embed
from digest.ranking.text import follow_key

LIKED_WEIGHT, DISLIKED_WEIGHT = 1.0, 0.25


def unit(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.maximum(norm, 1e-9)).astype(np.float32)


@dataclass
class Feedback:
    signed: sparse.csr_matrix    # profiles × examples: LIKED_WEIGHT / n liked, −DISLIKED_WEIGHT / n disliked
    shares: sparse.csr_matrix    # profiles × examples: 1 / n liked, −0.5 / n disliked (category affinity)
    liked: sparse.csr_matrix     # profiles × examples, 1 where liked
    has_likes: np.ndarray
    any: np.ndarray              # has any feedback
    vectors: np.ndarray          # examples × EMBED_DIM, unit
    categories: sparse.csr_matrix  # examples × the edition's categories
    authors: sparse.csr_matrix   # examples × papers: shares an author
    examples: list


def example_vectors(examples: list, edition) -> np.ndarray:
    """Unit vectors of distinct examples: the edition's own, a stored one, else embedded from the text."""
    position = {pid: i for i, pid in enumerate(edition.paper_ids.tolist())}
    out = np.zeros((len(examples), embed.EMBED_DIM), np.float32)
    todo = []
    for i, ex in enumerate(examples):
        at = position.get(ex.paper_id) if ex.paper_id is not None else None
        if at is not None and edition.semantic.ok[at]:
            out[i] = edition.semantic.vectors[at]
        elif ex.embedding:
            out[i] = embed.from_bytes(ex.embedding)
        elif ex.title or ex.abstract:
            todo.append(i)
    embedder = embed.get_embedder() if todo else None
    if embedder is not None:
        out[todo] = embedder.embed([embed.paper_text(examples[i].title, examples[i].abstract) for i in todo])
    return unit(out)


def compile_feedback(profiles, edition) -> Feedback | None:
    """Profiles × distinct examples (liked and disliked papers) and what the examples are: vectors, categories,
    authors."""
    n = len(profiles)
    rows = [i for i, p in enumerate(profiles) if p.liked or p.disliked]
    if not rows:
        return None
    owner, weight, flat = [], [], []
    for sign in (LIKED_WEIGHT, -DISLIKED_WEIGHT):
        groups = [(i, profiles[i].liked if sign > 0 else profiles[i].disliked) for i in rows]
        groups = [(i, g) for i, g in groups if g]
        sizes = [len(g) for _, g in groups]
        flat += [ex for _, g in groups for ex in g]
        owner.append(np.repeat([i for i, _ in groups], sizes).astype(np.int64))
        weight.append(np.repeat([sign / k for k in sizes], sizes).astype(np.float32))
        if sign > 0:
            n_liked = len(flat)
    # Distinct examples: a stored paper by its id, an imported entry by its text.
    ids = np.fromiter((-1 if ex.paper_id is None else ex.paper_id for ex in flat), np.int64, len(flat))
    text_keys: dict = {}
    for k in np.flatnonzero(ids < 0).tolist():
        ids[k] = -1 - text_keys.setdefault((flat[k].title, flat[k].abstract), len(text_keys))
    distinct, first, col = np.unique(ids, return_index=True, return_inverse=True)
    examples = [flat[k] for k in first.tolist()]
    r, e, w = np.concatenate(owner), col.ravel().astype(np.int64), np.concatenate(weight)
    shape = (n, len(examples))
    signed = sparse.csr_matrix((w, (r, e)), shape=shape)
    liked_part = np.arange(w.size) < n_liked
    shares = sparse.csr_matrix((np.where(liked_part, w / LIKED_WEIGHT, w / DISLIKED_WEIGHT * 0.5), (r, e)), shape=shape)
    liked = sparse.csr_matrix((np.ones(int(liked_part.sum()), np.float32), (r[liked_part], e[liked_part])), shape=shape)
    vocab = edition.semantic.category_vocab
    cat_pairs = [(k, vocab[c]) for k, ex in enumerate(examples)
                 for c in dict.fromkeys(x.strip().lower() for x in ex.categories) if c in vocab]
    ex_cats = sparse.csr_matrix((np.ones(len(cat_pairs), np.float32), tuple(zip(*cat_pairs)) or ([], [])),
                                shape=(len(examples), max(len(vocab), 1)))
    author_pairs = [(k, c) for k, ex in enumerate(examples) for c in edition.author_rows(
        [key for key in map(follow_key, ex.authors) if key]).tolist() if c >= 0]
    ex_authors = sparse.csr_matrix((np.ones(len(author_pairs), np.float32), tuple(zip(*author_pairs)) or ([], [])),
                                   shape=(len(examples), edition.author_hashes.size))
    has_likes = np.diff(liked.indptr) > 0
    return Feedback(signed, shares, liked, has_likes, np.diff(signed.indptr) > 0,
                     example_vectors(examples, edition), ex_cats,
                     sparse.csr_matrix((ex_authors @ edition.paper_authors) > 0, dtype=np.float32), examples)
