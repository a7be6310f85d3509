"""Text side of ranking, pure: tokens, the per-edition paper index, phrase queries.

Papers are vectorised once per edition into a BM25 matrix over stemmed
unigrams and bigrams (title counted TITLE_WEIGHT times); topic phrases become
sparse query rows normalised so that a score of 1.0 means "every word of the
topic, prominently, in this paper". Scores for all topics × all papers are one
sparse × dense product.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
from scipy import sparse

# Folded text is ASCII: every character but a-z and 0-9 becomes a space, then str.split() finds the words
# (what the regex [a-z0-9]+ would, in one C pass instead of a match object per word).
_NOT_WORD = str.maketrans({c: " " for c in map(chr, range(128)) if not (c.isascii() and (c.islower() or c.isdigit()))})
_SEPARATOR = "|"  # a token no word can be: marks where one field ends in the joined corpus
STOPWORDS = frozenset(
    "a an and are as at be by for from in into is it its of on or that the this to with we our via using based "
    "can has have not than their these they which while also such between over under".split()
)
TITLE_WEIGHT = 3.0
BM25_K1 = 1.2
BM25_B = 0.75
PHRASE_BONUS = 0.15  # the topic's words adjacent, in order: a phrase matched as a phrase

_SUFFIXES = (("ices", "ix"), ("isation", "iz"), ("ization", "iz"), ("ations", "ate"), ("ation", "ate"),
             ("izing", "iz"), ("ising", "iz"), ("ized", "iz"), ("ised", "iz"), ("izes", "iz"), ("ize", "iz"),
             ("ise", "iz"), ("ing", ""), ("ies", "y"), ("es", "e"), ("s", ""))
_STEMS: dict[str, str] = {}


def stem(word: str) -> str:
    """A tiny suffix stripper: quantization/quantized/quantizing → quantiz."""
    cached = _STEMS.get(word)
    if cached is not None:
        return cached
    result = word
    for suffix, repl in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            result = word[: len(word) - len(suffix)] + repl
            break
    if len(_STEMS) < 500_000:
        _STEMS[word] = result
    return result


def fold(text: str) -> str:
    """Lower-case ASCII: accents dropped (Gödel → godel), so feeds and profiles compare equal."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def words(text: str) -> list[str]:
    """Content words of a text, unstemmed (hyphens split: low-bit → low, bit)."""
    return [w for w in fold(text).translate(_NOT_WORD).split() if w not in STOPWORDS]


def tokens(text: str) -> list[str]:
    return [stem(w) for w in words(text)]


def terms_of(toks: list[str]) -> list[str]:
    """Unigrams and adjacent bigrams ("message pass")."""
    return toks + [f"{a} {b}" for a, b in zip(toks, toks[1:])]


def author_keys(name: str) -> tuple[str, str]:
    """(full key, initial key): "Yoshua Bengio" → ("yoshua bengio", "y bengio")."""
    parts = fold(name).translate(_NOT_WORD).split()
    if not parts:
        return "", ""
    return " ".join(parts), f"{parts[0][0]} {parts[-1]}" if len(parts) > 1 else parts[0]


def follow_key(name: str) -> str:
    """How a followed name is matched: in full, or by initial + surname when given as "Y. Bengio"."""
    full, initial = author_keys(name)
    parts = full.split()
    return initial if len(parts) > 1 and len(parts[0]) == 1 else full


@dataclass
class PaperIndex:
    """One edition's papers, vectorised once: BM25 weights, presence, tf-idf unit rows."""

    vocab: "Vocabulary"
    idf: np.ndarray                # per term
    weights: sparse.csr_matrix     # papers × terms: idf · saturated tf
    present: sparse.csc_matrix     # papers × terms, 1.0 where the term occurs
    unit: sparse.csr_matrix        # papers × terms, L2-normalised sublinear tf-idf: near-duplicates

    @property
    def n_papers(self) -> int:
        return self.weights.shape[0]

    def oov_idf(self) -> float:
        return float(np.log((self.n_papers + 1) / 1) + 1.0)


class Vocabulary:
    """term → column without a string per bigram: unigram stems are columns 0..S-1, a bigram "a b" is found by
    its pair of stem ids (a · S + b) in the sorted pair keys, column S + its position there."""

    def __init__(self, stems: dict[str, int], pair_keys: np.ndarray) -> None:
        self.stems, self.pair_keys, self.width = stems, pair_keys, len(stems)

    def get(self, term: str, default=None):
        first, space, second = term.partition(" ")
        if not space:
            return self.stems.get(term, default)
        a, b = self.stems.get(first), self.stems.get(second)
        if a is None or b is None:
            return default
        key = a * self.width + b
        at = int(np.searchsorted(self.pair_keys, key))
        return self.width + at if at < self.pair_keys.size and self.pair_keys[at] == key else default

    def columns(self, terms: list[str]) -> np.ndarray:
        """Column per term, -1 where the edition never uses it: bigrams found with one sorted search."""
        parts = [t.split(" ", 1) for t in terms]
        a = np.fromiter((self.stems.get(p[0], -1) for p in parts), dtype=np.int64, count=len(parts))
        b = np.fromiter((self.stems.get(p[1], -1) if len(p) > 1 else -2 for p in parts), dtype=np.int64,
                        count=len(parts))
        out = np.where(b == -2, a, -1)
        pair = np.flatnonzero((a >= 0) & (b >= 0))
        if pair.size and self.pair_keys.size:
            key = a[pair] * self.width + b[pair]
            at = np.minimum(np.searchsorted(self.pair_keys, key), self.pair_keys.size - 1)
            found = self.pair_keys[at] == key
            out[pair[found]] = self.width + at[found]
        return out

    def __contains__(self, term: str) -> bool:
        return self.get(term) is not None

    def __getitem__(self, term: str) -> int:
        col = self.get(term)
        if col is None:
            raise KeyError(term)
        return col

    def __len__(self) -> int:
        return self.width + self.pair_keys.size


def bulk_index(texts: list[tuple[str, str]]) -> PaperIndex:
    """Vectorise (title, abstract) pairs: BM25 over unigrams + bigrams, title weighted.

    The edition is split into words in one pass (fields joined by a separator token); each distinct word is
    stemmed once, and every word becomes a stem id through one dict lookup; bigrams are pairs of ids counted
    with numpy, so no string is built per bigram."""
    n = len(texts)
    corpus = f" {_SEPARATOR} ".join([fold(part).translate(_NOT_WORD) for pair in texts for part in pair]).split()
    distinct = dict.fromkeys(corpus)
    position = dict(zip(distinct, range(len(distinct))))
    stems: dict[str, int] = {}
    separator = -2
    stem_of = np.array([separator if w == _SEPARATOR else -1 if w in STOPWORDS else
                        stems.setdefault(_STEMS.get(w) or stem(w), len(stems)) for w in distinct] or [-1], dtype=np.int64)
    sid = stem_of[np.fromiter(map(position.__getitem__, corpus), dtype=np.int64, count=len(corpus))]
    seg = np.cumsum(sid == separator)  # field of each word: title, abstract, title, …
    keep = sid >= 0
    sid, seg = sid[keep], seg[keep]
    same = seg[1:] == seg[:-1]
    width = max(len(stems), 1)
    pair_keys, pair_cols = np.unique(sid[:-1][same] * width + sid[1:][same], return_inverse=True)
    cols = np.concatenate([sid, len(stems) + pair_cols.ravel()])
    where = np.concatenate([seg, seg[:-1][same]])
    weight = np.where(where % 2 == 0, np.float32(TITLE_WEIGHT), np.float32(1.0))
    vocab = Vocabulary(stems, pair_keys)
    tf = sparse.csr_matrix((weight, (where // 2, cols)), shape=(n, len(vocab)), dtype=np.float32)
    lengths = np.asarray(tf.sum(axis=1)).ravel()
    tf.sort_indices()
    df = np.bincount(tf.indices, minlength=len(vocab))
    idf = (np.log((n + 1) / (df + 1)) + 1.0).astype(np.float32)
    norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths / max(float(lengths.mean()) if n else 1.0, 1e-9))
    row_of = np.repeat(np.arange(n), np.diff(tf.indptr))
    weights = tf.copy()
    weights.data = idf[tf.indices] * tf.data * (BM25_K1 + 1) / (tf.data + norm[row_of])
    present = tf.copy()
    present.data[:] = 1.0
    unit = tf.copy()
    unit.data = (1 + np.log(tf.data)) * idf[tf.indices]
    return PaperIndex(vocab, idf, weights, present.tocsc(), _l2_rows(unit))


def _l2_rows(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ matrix, dtype=np.float32)


@dataclass
class PhraseQueries:
    """Unique phrases as query rows over the paper index."""

    phrases: list[str]             # as normalised: stemmed tokens joined by spaces
    terms: list[list[str]]         # per phrase: its unigram + bigram terms
    matrix: sparse.csr_matrix      # phrases × terms: BM25 query weights, a full match scores 1.0
    bigrams: sparse.csr_matrix     # phrases × terms: 1.0 per distinct in-vocabulary bigram
    n_bigrams: np.ndarray          # per phrase: distinct bigrams it needs for an exact phrase match


_KEYS: dict[str, str] = {}


def phrase_key(text: str) -> str:
    """Two phrases with the same key are the same query ("LLM Quantisation" = "llm quantization")."""
    key = _KEYS.get(text)
    if key is None:
        key = " ".join(tokens(text))
        if len(_KEYS) < 200_000:
            _KEYS[text] = key
    return key


def bulk_queries(keys: list[str], index: PaperIndex) -> PhraseQueries:
    """Query rows for normalised phrases; words the edition never uses still count in the norm."""
    all_terms, n_bigrams = [], []
    for key in keys:
        toks = key.split()
        bigram_terms = list(dict.fromkeys(f"{a} {b}" for a, b in zip(toks, toks[1:])))
        all_terms.append(list(dict.fromkeys(toks)) + bigram_terms)
        n_bigrams.append(len(bigram_terms) or np.inf)
    flat = [t for terms in all_terms for t in terms]
    row = np.repeat(np.arange(len(keys)), [len(terms) for terms in all_terms])
    col = index.vocab.columns(flat)
    hit = col >= 0
    idf = np.where(hit, index.idf[np.maximum(col, 0)].astype(np.float64), index.oov_idf())
    total = np.bincount(row, weights=idf, minlength=len(keys)) * (BM25_K1 + 1)
    bigram = hit & np.fromiter((" " in t for t in flat), dtype=bool, count=len(flat))
    shape = (len(keys), len(index.vocab))
    matrix = sparse.csr_matrix(((1.0 / total[row[hit]]).astype(np.float32), (row[hit], col[hit])), shape=shape)
    bigrams = sparse.csr_matrix((np.ones(int(bigram.sum()), np.float32), (row[bigram], col[bigram])), shape=shape)
    return PhraseQueries(keys, all_terms, matrix, bigrams, np.array(n_bigrams, dtype=np.float32))


def score_phrases(queries: PhraseQueries, rows: np.ndarray, index: PaperIndex) -> np.ndarray:
    """Relevance of the given phrase rows × every paper, float32 in [0, 1]."""
    q = queries.matrix[rows]
    used = np.unique(q.indices)
    if used.size == 0:
        return np.zeros((len(rows), index.n_papers), dtype=np.float32)
    # Only the columns some query uses: a dense papers × used block keeps the product cheap.
    block = index.weights[:, used].toarray()
    q = sparse.csr_matrix((q.data, np.searchsorted(used, q.indices), q.indptr), shape=(len(rows), used.size))
    scores = np.asarray(q @ block.T, dtype=np.float32)
    exact = phrase_present(queries, rows, index)
    if exact is not None:
        scores += PHRASE_BONUS * exact
    np.minimum(scores, 1.0, out=scores)
    return scores


def phrase_present(queries: PhraseQueries, rows: np.ndarray, index: PaperIndex) -> np.ndarray | None:
    """1.0 where every bigram of a multi-word phrase occurs in the paper (the phrase, as a phrase)."""
    b = queries.bigrams[rows]
    if b.nnz == 0:
        return None
    hits = (b @ index.present.T).toarray()
    return (hits >= queries.n_bigrams[rows, None]).astype(np.float32)


def words_present(queries: PhraseQueries, rows: np.ndarray, index: PaperIndex) -> sparse.csr_matrix:
    """phrases × papers, True where the phrase (one word, or all its bigrams) occurs: for exclusions."""
    q = queries.matrix[rows]
    single = np.array([len(queries.terms[r]) == 1 for r in rows], dtype=bool)
    hits = (q > 0).astype(np.float32) @ index.present.T
    out = sparse.csr_matrix(hits.multiply(single[:, None].astype(np.float32)) > 0)
    b = queries.bigrams[rows]
    if b.nnz:
        counts = (b @ index.present.T).tocsr()
        counts.data = (counts.data >= queries.n_bigrams[rows][np.repeat(np.arange(len(rows)), np.diff(counts.indptr))])
        out = out + (counts > 0)
    return out.tocsr()
