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


@dataclass
class Flat:
    """Every profile's liked then disliked examples in one flat list, as the call's profiles hold them."""

    rows: np.ndarray       # the profile row of each entry
    examples: list         # the Example of each entry
    liked: np.ndarray      # True for a liked entry, False for a disliked one
    paper_ids: np.ndarray  # the stored paper of each entry; -1 for an imported entry without one
    per_row: np.ndarray    # per entry: how many entries of the same kind its profile has


def flatten(profiles) -> Flat | None:
    """The call's feedback in one pass over the profiles; None when no profile has any."""
    liked_rows = [i for i, p in enumerate(profiles) if p.liked]
    disliked_rows = [i for i, p in enumerate(profiles) if p.disliked]
    if not liked_rows and not disliked_rows:
        return None
    examples = [e for i in liked_rows for e in profiles[i].liked] + [
        e for i in disliked_rows for e in profiles[i].disliked]
    n_liked = np.array([len(profiles[i].liked) for i in liked_rows], np.int64)
    n_disliked = np.array([len(profiles[i].disliked) for i in disliked_rows], np.int64)
    ids = [e.paper_id for e in examples]
    paper_ids = (np.fromiter(ids, np.int64, len(ids)) if None not in ids
                 else np.array([-1 if x is None else x for x in ids], np.int64))
    return Flat(np.concatenate([np.repeat(np.array(liked_rows, np.int64), n_liked),
                                np.repeat(np.array(disliked_rows, np.int64), n_disliked)]),
                examples, np.arange(len(examples)) < n_liked.sum(), paper_ids,
                np.concatenate([np.repeat(n_liked, n_liked), np.repeat(n_disliked, n_disliked)]))


def compile_feedback(n: int, flat: Flat | None, edition) -> Feedback | None:
    """Profiles × distinct examples (liked and disliked papers) and what the examples are: vectors, categories,
    authors."""
    if flat is None:
        return None
    # Distinct examples: a stored paper by its id, an imported entry by its text.
    ids = flat.paper_ids.copy()
    text_keys: dict = {}
    for k in np.flatnonzero(ids < 0).tolist():
        ids[k] = -1 - text_keys.setdefault((flat.examples[k].title, flat.examples[k].abstract), len(text_keys))
    _, first, col = np.unique(ids, return_index=True, return_inverse=True)
    examples = [flat.examples[k] for k in first.tolist()]
    r, e = flat.rows, col.ravel().astype(np.int64)
    w = np.where(flat.liked, LIKED_WEIGHT, -DISLIKED_WEIGHT).astype(np.float32) / flat.per_row
    shape = (n, len(examples))
    signed = sparse.csr_matrix((w, (r, e)), shape=shape)
    shares = sparse.csr_matrix((np.where(flat.liked, w / LIKED_WEIGHT, w / DISLIKED_WEIGHT * 0.5), (r, e)),
                               shape=shape)
    liked = sparse.csr_matrix((np.ones(int(flat.liked.sum()), np.float32), (r[flat.liked], e[flat.liked])),
                              shape=shape)
    vocab = edition.semantic.category_vocab
    cat_pairs = [(k, vocab[c]) for k, ex in enumerate(examples)
                 for c in dict.fromkeys(x.strip().lower() for x in ex.categories) if c in vocab]
    ex_cats = sparse.csr_matrix((np.ones(len(cat_pairs), np.float32), tuple(zip(*cat_pairs)) or ([], [])),
                                shape=(len(examples), max(len(vocab), 1)))
    pairs = [(k, key) for k, ex in enumerate(examples) for key in map(follow_key, ex.authors) if key]
    found = edition.author_rows([key for _, key in pairs])
    hit = np.flatnonzero(found >= 0)
    owners = np.fromiter((k for k, _ in pairs), np.int64, len(pairs))
    ex_authors = sparse.csr_matrix((np.ones(hit.size, np.float32), (owners[hit], found[hit])),
                                   shape=(len(examples), edition.author_hashes.size))
    has_likes = np.diff(liked.indptr) > 0
    return Feedback(signed, shares, liked, has_likes, np.diff(signed.indptr) > 0,
                     example_vectors(examples, edition), ex_cats,
                     sparse.csr_matrix((ex_authors @ edition.paper_authors) > 0, dtype=np.float32), examples)
