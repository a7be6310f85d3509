"""A paper's ranking features, pure: its text tokenised once, when the paper is stored, not at every ranking.

`featurise` turns (title, abstract, authors) into a compact blob: stable
64-bit hashes of its terms (stemmed unigrams and adjacent bigrams, each once,
sorted) with their weighted counts (title counted TITLE_WEIGHT times), its
length, a hash of its normalised title, hashed author keys, a MinHash
signature of its term set, and a digest of the text it came from. The terms
are the words of the text as read (`text.fold` decodes LaTeX: `Schr\\"odinger`
is "schrodinger", as a topic writes it). Ingest
stores the blob beside the paper (digest.features); a ranking
call only concatenates blobs (`EditionText`) and looks up the few terms its
profiles use, so no text is split or stemmed while subscribers wait. A
candidate without a blob, or with one from another FEATURES_VERSION, is
featurised in the call: slower, never different.

Hashes are 64-bit (blake2b for a stem, splitmix64's finaliser over a pair of
stem hashes), so two different terms sharing one is a 2**-64 event, not a
bucket collision as in a hashing vectoriser. Layout (little-endian, padded to
whole 8-byte words): the 32-byte header, MINHASHES uint32, the term hashes
(uint64), the author-key hashes (uint64), one uint8 count per term.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import numpy as np

from digest.ranking.select import ragged
from digest.ranking.text import (
    _GOLDEN,
    _NOT_WORD,
    _STEMS,
    STOPWORDS,
    TITLE_WEIGHT,
    author_keys,
    fold,
    mix,
    pair_hash,
    stem,
    string_hash,
    words,
)

FEATURES_VERSION = 3                # 2: blobs padded to whole 8-byte words; 3: LaTeX decoded (text.fold)
MINHASHES = 64                      # signature bins, a power of two: 16 LSH bands of 4 in ranking.edition
_HEAD = struct.Struct("<BxHIfIQQ")  # version, author keys, terms, length, (pad), title hash, text digest
_SEPARATOR = "|"  # a token no word can be: marks where one field ends in the joined corpus


def title_hash(title: str) -> int:
    """Same normalised title, same hash (0: a title with no words, which matches nothing)."""
    key = " ".join(words(title))
    return string_hash(key) if key else 0


def text_digest(title: str, abstract: str, authors) -> int:
    """What the features were computed from: a stored blob whose digest differs is stale."""
    text = "\x1e".join((title, abstract, "\x1f".join(authors)))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def is_current(blob: bytes | None, title: str, abstract: str, authors) -> bool:
    """True if `blob` holds this FEATURES_VERSION's features of exactly this text."""
    return bool(blob) and blob[0] == FEATURES_VERSION and len(blob) >= _HEAD.size and \
        _HEAD.unpack_from(blob)[6] == text_digest(title, abstract, authors)


def author_hashes(authors) -> list[int]:
    """Every key a name can be followed by (full name, initial + surname), hashed."""
    return [string_hash(k) for name in authors for k in dict.fromkeys(author_keys(name)) if k]


def featurise(papers: list[tuple[str, str, tuple[str, ...] | list[str]]]) -> list[bytes]:
    """Blobs for (title, abstract, authors) triples, the whole list vectorised at once."""
    n = len(papers)
    if n == 0:
        return []
    corpus = f" {_SEPARATOR} ".join([fold(part).translate(_NOT_WORD) for p in papers for part in p[:2]]).split()
    distinct = dict.fromkeys(corpus)
    position = dict(zip(distinct, range(len(distinct))))
    value = np.array([0 if w == _SEPARATOR else 1 if w in STOPWORDS else string_hash(_STEMS.get(w) or stem(w))
                      for w in distinct], dtype=np.uint64)
    hashed = value[np.fromiter(map(position.__getitem__, corpus), dtype=np.int64, count=len(corpus))]
    field = np.cumsum(hashed == 0)[hashed > 1]   # title, abstract, title, … of each content word
    hashed = hashed[hashed > 1]
    same = field[1:] == field[:-1]
    terms = np.concatenate([hashed, pair_hash(hashed[:-1][same], hashed[1:][same])])
    where = np.concatenate([field, field[:-1][same]])
    weight = np.where(where % 2 == 0, np.float32(TITLE_WEIGHT), np.float32(1.0))
    paper = where // 2
    # By paper, then by term: a term sort, then a stable sort on the small paper index (a radix sort for int16).
    order = np.argsort(terms)
    order = order[np.argsort(paper[order].astype(np.int16 if n < 2**15 else np.int64), kind="stable")]
    terms, paper, weight = terms[order], paper[order], weight[order]
    first = np.ones(terms.size, dtype=bool)
    first[1:] = (terms[1:] != terms[:-1]) | (paper[1:] != paper[:-1])
    starts = np.flatnonzero(first)
    tf = np.add.reduceat(weight, starts) if starts.size else weight
    terms, paper = terms[starts], paper[starts]
    counts = np.bincount(paper, minlength=n)
    ends = np.cumsum(counts)
    lengths = np.bincount(paper, weights=tf, minlength=n)
    signatures = _minhash(terms, counts)
    tf_bytes = np.minimum(np.rint(tf), 255).astype(np.uint8)
    out = []
    for i, (title, abstract, authors) in enumerate(papers):
        lo, hi = int(ends[i] - counts[i]), int(ends[i])
        akeys = np.array(author_hashes(authors), dtype=np.uint64)
        out.append(b"".join((
            _HEAD.pack(FEATURES_VERSION, akeys.size, hi - lo, float(lengths[i]), 0, title_hash(title),
                       text_digest(title, abstract, authors)),
            signatures[i].astype("<u4").tobytes(), terms[lo:hi].astype("<u8").tobytes(), akeys.astype("<u8").tobytes(),
            tf_bytes[lo:hi].tobytes(),
            bytes(-(hi - lo) % 8))))  # whole words: an edition's blobs joined stay 8-byte aligned
    return out


def _minhash(terms: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """papers × MINHASHES uint32 by one-permutation hashing, densified: a term's mixed hash picks a bin (its top
    bits) and offers its low 32 bits, each bin keeps the least, and an empty bin borrows from the next filled
    one to its right (mixed with the distance), so two papers agree on a bin with probability about their
    Jaccard similarity. One pass over the terms instead of one per value. A paper without terms: all ones."""
    n, bins = counts.size, MINHASHES
    sig = np.full(n * bins, np.iinfo(np.uint32).max, dtype=np.uint32)
    filled = np.zeros(n * bins, dtype=bool)
    if terms.size:
        mixed = mix(terms)
        where = (np.repeat(np.arange(n, dtype=np.int64), counts) * bins
                 + (mixed >> np.uint64(64 - (bins - 1).bit_length())).astype(np.int64))
        np.minimum.at(sig, where, (mixed & np.uint64(0xFFFFFFFF)).astype(np.uint32))
        filled[where] = True
    sig, filled = sig.reshape(n, bins), filled.reshape(n, bins)
    twice = np.concatenate([filled, filled], axis=1)
    at = np.where(twice, np.arange(2 * bins), 2 * bins)
    nearest = np.minimum.accumulate(at[:, ::-1], axis=1)[:, ::-1][:, :bins]  # next filled bin, circularly
    empty = ~filled & (nearest < 2 * bins)
    rows, cols = np.nonzero(empty)
    source = nearest[rows, cols]
    borrowed = sig[rows, source % bins].astype(np.uint64) + (source - cols).astype(np.uint64) * _GOLDEN
    sig[rows, cols] = (mix(borrowed) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    return sig


@dataclass
class EditionText:
    """An edition's papers as concatenated feature arrays (row-major, each paper's terms sorted)."""

    n: int
    indptr: np.ndarray       # papers + 1: where each paper's terms start
    hashes: np.ndarray       # uint64 per (paper, term)
    tf: np.ndarray           # float32 weighted count per (paper, term)
    lengths: np.ndarray      # float32 per paper: weighted terms
    titles: np.ndarray       # uint64 per paper: normalised-title hash, 0 if none
    signatures: np.ndarray   # papers × MINHASHES uint32
    author_indptr: np.ndarray
    author_keys: np.ndarray  # uint64 per (paper, author key)

    def row_of(self) -> np.ndarray:
        return np.repeat(np.arange(self.n), np.diff(self.indptr))


def edition_text(blobs: list[bytes | None], fallback) -> EditionText:
    """Concatenate the candidates' blobs; `fallback(i)` gives (title, abstract, authors) for any missing one, or
    one of another FEATURES_VERSION, and those are featurised here in one go. A blob is trusted to be of its
    candidate's text (the database layer checks `is_current` when it loads them).

    The blobs are joined into one buffer and read as 8-byte words: every field of every paper is gathered
    with one fancy index, no per-paper parsing."""
    blobs = list(blobs)
    stale = [i for i, b in enumerate(blobs) if not b or b[0] != FEATURES_VERSION]
    if stale:
        for i, blob in zip(stale, featurise([fallback(i) for i in stale])):
            blobs[i] = blob
    n = len(blobs)
    sizes = np.fromiter(map(len, blobs), dtype=np.int64, count=n)
    buf = b"".join(blobs)
    words, halves = np.frombuffer(buf, dtype="<u8"), np.frombuffer(buf, dtype="<u4")
    base = (np.cumsum(sizes) - sizes) // 8
    n_akeys = (halves[base * 2] >> np.uint32(16)).astype(np.int64)
    n_terms = halves[base * 2 + 1].astype(np.int64)
    sig_at = base + _HEAD.size // 8
    terms_at = sig_at + MINHASHES // 2
    signatures = halves[sig_at[:, None] * 2 + np.arange(MINHASHES)].astype(np.uint32)
    terms, _ = ragged(terms_at, n_terms)
    akeys, _ = ragged(terms_at + n_terms, n_akeys)
    tf, _ = ragged((terms_at + n_terms + n_akeys) * 8, n_terms)
    return EditionText(
        n=n, indptr=np.concatenate([[0], np.cumsum(n_terms)]).astype(np.int64), hashes=words[terms].astype(np.uint64),
        tf=np.frombuffer(buf, dtype=np.uint8)[tf].astype(np.float32),
        lengths=np.frombuffer(buf, dtype="<f4")[base * 2 + 2].astype(np.float32),
        titles=words[base + 2].astype(np.uint64), signatures=signatures,
        author_indptr=np.concatenate([[0], np.cumsum(n_akeys)]).astype(np.int64),
        author_keys=words[akeys].astype(np.uint64))
