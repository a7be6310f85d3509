"""Text side of ranking, pure: tokens, stable term hashes, the call's term index, phrase queries.

Papers arrive tokenised (ranking.features: stemmed unigrams and bigrams as
64-bit hashes, title counted TITLE_WEIGHT times). A call builds a BM25 index
over just the terms its topic phrases and exclusions use (`match_terms`), with
document frequencies and lengths of the whole edition, so every term scores as
in a full index. Topic phrases become sparse query rows normalised so that a
score of 1.0 means "every word of the topic, prominently, in this paper";
scores for all topics × all papers are one sparse × dense product. Papers
and topics are folded alike (`fold`: LaTeX decoded, ASCII, Greek spelled out),
so a topic "Schrödinger equation" finds `Schr\\"odinger equation`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import sparse

from digest.latex import plain_text
from digest.latex_tables import GREEK

# Folded text is ASCII: every character but a-z and 0-9 becomes a space, then str.split() finds the words
# (what the regex [a-z0-9]+ would, in one C pass instead of a match object per word).
_NOT_WORD = str.maketrans({c: " " for c in map(chr, range(128)) if not (c.isascii() and (c.islower() or c.isdigit()))})
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


# Greek letters by name: "α-synuclein", "$\\alpha$-synuclein" and "alpha-synuclein" are the same words.
_GREEK_NAMES = {sign: f" {name.removeprefix('var').lower()} " for name, sign in GREEK.items()}
_GREEK = re.compile("[" + "".join(_GREEK_NAMES) + "]")


def fold(text: str) -> str:
    """Lower-case ASCII of the text as read: LaTeX decoded (Schr\\"odinger → schrodinger), accents dropped
    (Gödel → godel), Greek letters spelled out (β-VAE → beta-vae), so feeds and profiles compare equal."""
    text = plain_text(text)
    if text.isascii():
        return text.lower()
    text = _GREEK.sub(lambda m: _GREEK_NAMES[m.group()], text)  # a scan in C; str.translate would go char by char
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def words(text: str) -> list[str]:
    """Content words of a text, unstemmed (hyphens split: low-bit → low, bit)."""
    return [w for w in fold(text).translate(_NOT_WORD).split() if w not in STOPWORDS]


def tokens(text: str) -> list[str]:
    return [stem(w) for w in words(text)]


@lru_cache(maxsize=200_000)  # the same names come back in every call (followed authors, liked papers' authors)
def author_keys(name: str) -> tuple[str, str]:
    """(full key, initial key): "Yoshua Bengio" → ("yoshua bengio", "y bengio")."""
    parts = fold(name).translate(_NOT_WORD).split()
    if not parts:
        return "", ""
    return " ".join(parts), f"{parts[0][0]} {parts[-1]}" if len(parts) > 1 else parts[0]


@lru_cache(maxsize=200_000)
def follow_key(name: str) -> str:
    """How a followed name is matched: in full, or by initial + surname when given as "Y. Bengio"."""
    full, initial = author_keys(name)
    parts = full.split()
    return initial if len(parts) > 1 and len(parts[0]) == 1 else full


_HASHES: dict[str, int] = {}
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def string_hash(text: str) -> int:
    """Stable 64-bit hash of a stem or key (Python's own hash() differs per process)."""
    got = _HASHES.get(text)
    if got is None:
        got = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
        got = got if got > 1 else got + 2  # 0 and 1 mark separators and stopwords in featurise
        if len(_HASHES) < 1_000_000:
            _HASHES[text] = got
    return got


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit reaches every output bit."""
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def pair_hash(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The term "a b" from the hashes of a and b."""
    with np.errstate(over="ignore"):
        return mix(first.astype(np.uint64) * _GOLDEN + second.astype(np.uint64))


def term_hashes(terms: list[str]) -> np.ndarray:
    """Hashes of terms written as stems: "quantiz" or "llm quantiz" (as featurise hashes a paper's)."""
    parts = [t.split(" ", 1) for t in terms]
    first = np.fromiter((string_hash(p[0]) for p in parts), dtype=np.uint64, count=len(parts))
    second = np.fromiter((string_hash(p[1]) if len(p) > 1 else 0 for p in parts), dtype=np.uint64, count=len(parts))
    return np.where(second == 0, first, pair_hash(first, second))


@dataclass
class TermIndex:
    """An edition's papers over just the terms one call's queries use: BM25 weights and presence.

    Columns are the sorted distinct query-term hashes; document frequencies, lengths and BM25 saturation
    are those of the whole edition, so a term scores exactly as in a full index over every word."""

    hashes: np.ndarray             # sorted uint64: the columns
    idf: np.ndarray                # per column (a term no paper has gets the largest idf)
    weights: sparse.csr_matrix     # columns × papers: idf · saturated tf
    present: sparse.csr_matrix     # columns × papers, 1.0 where the paper has the term
    n_papers: int
    _by_paper: sparse.csc_matrix | None = None

    def columns(self, hashes: np.ndarray) -> np.ndarray:
        pos = np.minimum(np.searchsorted(self.hashes, hashes), max(self.hashes.size - 1, 0))
        return np.where(self.hashes[pos] == hashes, pos, -1) if self.hashes.size else np.full(hashes.shape, -1)

    def paper_columns(self, paper: int) -> frozenset:
        """The query terms (columns) this paper has."""
        if self._by_paper is None:
            self._by_paper = self.present.tocsc()
        p = self._by_paper
        return frozenset(p.indices[p.indptr[paper]: p.indptr[paper + 1]].tolist())


def match_terms(text, query_hashes: np.ndarray) -> TermIndex:
    """BM25 columns for the distinct query_hashes over an edition's concatenated features (`EditionText`)."""
    cols = np.unique(query_hashes)
    n = text.n
    hit = pos = np.zeros(0, np.int64)
    if cols.size and text.hashes.size:
        # A 64 K table of 16 bits of each query hash (read as a uint16 view, no arithmetic) rejects most of the
        # edition's terms; the few left are looked up exactly.
        wanted = np.zeros(1 << 16, dtype=bool)
        wanted[np.ascontiguousarray(cols).view(np.uint16)[::4]] = True
        maybe = np.flatnonzero(wanted[np.ascontiguousarray(text.hashes).view(np.uint16)[::4]])
        pos = np.minimum(np.searchsorted(cols, text.hashes[maybe]), cols.size - 1)
        found = cols[pos] == text.hashes[maybe]
        hit, pos = maybe[found], pos[found]
    row = np.searchsorted(text.indptr, hit, side="right") - 1
    tf = text.tf[hit]
    df = np.bincount(pos, minlength=cols.size)
    idf = (np.log((n + 1) / (df + 1)) + 1.0).astype(np.float32)
    mean = float(text.lengths.mean()) if n else 1.0
    norm = BM25_K1 * (1 - BM25_B + BM25_B * text.lengths / max(mean, 1e-9))
    data = idf[pos] * tf * (BM25_K1 + 1) / (tf + norm[row])
    weights = sparse.csr_matrix((data.astype(np.float32), (pos, row)), shape=(cols.size, n))
    present = sparse.csr_matrix((np.ones(pos.size, np.float32), (pos, row)), shape=(cols.size, n))
    return TermIndex(cols, idf, weights, present, n)


def oov_idf(n_papers: int) -> float:
    return float(np.log((n_papers + 1) / 1) + 1.0)


@dataclass
class PhraseQueries:
    """Unique phrases as query rows over the call's term index."""

    phrases: list[str]             # as normalised: stemmed tokens joined by spaces
    terms: list[list[str]]         # per phrase: its unigram + bigram terms
    columns: "_Columns"            # per phrase: each term's column in `index`
    matrix: sparse.csr_matrix      # phrases × terms: BM25 query weights, a full match scores 1.0
    bigrams: sparse.csr_matrix     # phrases × terms: 1.0 per distinct bigram
    n_bigrams: np.ndarray          # per phrase: distinct bigrams it needs for an exact phrase match
    index: TermIndex


_KEYS: dict[str, str] = {}


def phrase_key(text: str) -> str:
    """Two phrases with the same key are the same query ("LLM Quantisation" = "llm quantization")."""
    key = _KEYS.get(text)
    if key is None:
        key = " ".join(tokens(text))
        if len(_KEYS) < 200_000:
            _KEYS[text] = key
    return key


_PHRASES: dict[str, tuple[list[str], np.ndarray, np.ndarray]] = {}


def phrase_parts(keys: list[str]) -> list[tuple[list[str], np.ndarray, np.ndarray]]:
    """Per normalised phrase: (terms, their hashes, which are bigrams), its distinct unigrams then its distinct
    bigrams. Kept per process (the same few thousand phrases come back in every call); the phrases not seen
    yet are hashed together, in one vectorised pass."""
    missing = [k for k in dict.fromkeys(keys) if k not in _PHRASES]
    if missing:
        split = [k.split() for k in missing]
        terms = [list(dict.fromkeys(t)) + list(dict.fromkeys(f"{a} {b}" for a, b in zip(t, t[1:]))) for t in split]
        flat = [t for ts in terms for t in ts]
        hashes = term_hashes(flat)
        bigram = np.fromiter((" " in t for t in flat), dtype=bool, count=len(flat))
        ends = np.cumsum([len(ts) for ts in terms]).tolist()
        if len(_PHRASES) + len(missing) > 200_000:
            _PHRASES.clear()
        for key, ts, end in zip(missing, terms, ends):
            _PHRASES[key] = (ts, hashes[end - len(ts): end], bigram[end - len(ts): end])
    return [_PHRASES[k] for k in keys]


def phrase_hashes(keys: list[str]) -> np.ndarray:
    """Every term hash of the given normalised phrases, concatenated."""
    return np.concatenate([p[1] for p in phrase_parts(keys)] or [np.zeros(0, np.uint64)])


def bulk_queries(keys: list[str], index: TermIndex) -> PhraseQueries:
    """Query rows for normalised phrases; terms no paper has still count in the norm (they were looked up too)."""
    parts = phrase_parts(keys)
    all_terms = [p[0] for p in parts]
    sizes = [len(terms) for terms in all_terms]
    row = np.repeat(np.arange(len(keys)), sizes)
    col = index.columns(np.concatenate([p[1] for p in parts] or [np.zeros(0, np.uint64)]))
    is_bigram = np.concatenate([p[2] for p in parts] or [np.zeros(0, bool)])
    hit = col >= 0
    idf = np.where(hit, index.idf[np.maximum(col, 0)].astype(np.float64), oov_idf(index.n_papers))
    total = np.bincount(row, weights=idf, minlength=len(keys)) * (BM25_K1 + 1)
    n_bigrams = np.bincount(row[is_bigram], minlength=len(keys)).astype(np.float32)
    n_bigrams[n_bigrams == 0] = np.inf
    bigram = hit & is_bigram
    shape = (len(keys), index.hashes.size)
    matrix = sparse.csr_matrix(((1.0 / total[row[hit]]).astype(np.float32), (row[hit], col[hit])), shape=shape)
    bigrams = sparse.csr_matrix((np.ones(int(bigram.sum()), np.float32), (row[bigram], col[bigram])), shape=shape)
    return PhraseQueries(keys, all_terms, _Columns(col, sizes), matrix, bigrams, n_bigrams, index)


class _Columns:
    """Per phrase, its terms' columns: sliced from one array when an explanation asks."""

    def __init__(self, flat: np.ndarray, sizes: list[int]) -> None:
        self.flat, self.ends = flat, np.cumsum(sizes)

    def __getitem__(self, phrase: int) -> list[int]:
        start = int(self.ends[phrase - 1]) if phrase else 0
        return self.flat[start: int(self.ends[phrase])].tolist()


def score_phrases(queries: PhraseQueries, rows: np.ndarray) -> sparse.csr_matrix:
    """Relevance of the given phrase rows × every paper in [0, 1], sparse: most pairs share no term.

    One sparse product for the BM25 part; PHRASE_BONUS where every bigram of a multi-word phrase occurs
    (the phrase, as a phrase: its words are then present too, so the bonus lands on stored cells)."""
    index = queries.index
    scores = (queries.matrix[rows] @ index.weights).tocsr()
    b = queries.bigrams[rows]
    if b.nnz:
        counts = (b @ index.present).tocsr()
        row_of = np.repeat(np.arange(len(rows)), np.diff(counts.indptr))
        counts.data = np.where(counts.data >= queries.n_bigrams[rows][row_of], np.float32(PHRASE_BONUS),
                               np.float32(0.0))
        counts.eliminate_zeros()
        scores = (scores + counts).tocsr()
    np.minimum(scores.data, 1.0, out=scores.data)
    return scores


def words_present(queries: PhraseQueries, rows: np.ndarray) -> sparse.csr_matrix:
    """phrases × papers, True where the phrase (one word, or all its bigrams) occurs: for exclusions."""
    q = queries.matrix[rows]
    single = np.array([len(queries.terms[r]) == 1 for r in rows], dtype=bool)
    hits = (q > 0).astype(np.float32) @ queries.index.present
    out = sparse.csr_matrix(hits.multiply(single[:, None].astype(np.float32)) > 0)
    b = queries.bigrams[rows]
    if b.nnz:
        counts = (b @ queries.index.present).tocsr()
        counts.data = (counts.data >= queries.n_bigrams[rows][np.repeat(np.arange(len(rows)), np.diff(counts.indptr))])
        out = out + (counts > 0)
    return out.tocsr()
