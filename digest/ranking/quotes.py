"""The paper's own words for a reason, pure: a topic phrase as it appears in the text, and the closest sentence.

A reason never names a bare stem. `quote_phrase` finds the topic's content
words adjacent and in order (matched on stems, so "message-passing networks"
answers the topic "message passing network"), and returns that stretch of the
paper's text as written. `found_words` gives the topic words present, each as
the paper spells it. `closest_sentence` names the abstract sentence nearest in
meaning to a query vector (the sentences of a paper are embedded once per
process and kept in a small cache), or, without a model, the sentence sharing
the most topic words.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict

import numpy as np

from digest.ranking import embed
from digest.ranking.text import STOPWORDS, fold, stem, tokens

MAX_QUOTE = 220
MAX_SENTENCES = 12  # an abstract's sentences that are embedded and may be quoted
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[“\"'])")
_CACHE: OrderedDict[str, tuple[list[str], np.ndarray]] = OrderedDict()
_CACHE_SIZE = 8192
_LOCK = threading.Lock()


def _spans(text: str) -> list[tuple[str, int, int]]:
    """(stem, start, end) of every word of the text, stop words included (they may sit inside a phrase)."""
    out = []
    for m in _WORD.finditer(text):
        word = fold(m.group())
        if word:
            out.append((stem(word) if word not in STOPWORDS else "", m.start(), m.end()))
    return out


def quote_phrase(text: str, topic: str) -> str | None:
    """The stretch of `text` where the topic's content words stand adjacent and in order, as written."""
    wanted = tokens(topic)
    if not wanted:
        return None
    spans = [s for s in _spans(text) if s[0]]
    for i in range(len(spans) - len(wanted) + 1):
        if all(spans[i + k][0] == w for k, w in enumerate(wanted)):
            # Adjacent in the text: at most a few characters (spaces, hyphens, stop words) between words.
            if all(spans[i + k + 1][1] - spans[i + k][2] <= 6 for k in range(len(wanted) - 1)):
                return text[spans[i][1]:spans[i + len(wanted) - 1][2]]
    return None


def found_words(text: str, topic: str) -> list[str]:
    """The topic's content words present in the text, each as the text spells it (first occurrence)."""
    wanted = dict.fromkeys(tokens(topic))
    seen: dict[str, str] = {}
    for s, start, end in _spans(text):
        if s in wanted and s not in seen:
            seen[s] = text[start:end]
    return [seen[w] for w in wanted if w in seen]


def sentences(abstract: str) -> list[str]:
    """The abstract's sentences (LaTeX already decoded), at most MAX_SENTENCES; the texts that are embedded."""
    parts = [s.strip() for s in _SENTENCE.split(abstract) if len(s.strip()) > 20]
    return (parts or ([abstract.strip()] if abstract.strip() else []))[:MAX_SENTENCES]


def shorten(sentence: str, limit: int = MAX_QUOTE) -> str:
    if len(sentence) <= limit:
        return sentence
    cut = sentence[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


def closest_sentence(abstract: str, query: np.ndarray | None, topic: str = "", stored: bytes | None = None) -> str:
    """The abstract sentence nearest to the query vector, from the sentence vectors stored with the paper (or
    embedded here and kept in a small cache); by shared topic words when no model loads."""
    parts = sentences(abstract)
    if not parts:
        return ""
    if len(parts) == 1:
        return shorten(parts[0])
    if query is not None and stored and len(stored) == len(parts) * embed.EMBED_DIM * 2:
        vectors = np.frombuffer(stored, dtype="<f2").reshape(len(parts), embed.EMBED_DIM).astype(np.float32)
        return shorten(parts[int(np.argmax(vectors @ query))])
    embedder = embed.get_embedder() if query is not None else None
    if embedder is None:
        wanted = set(tokens(topic))
        return shorten(max(parts, key=lambda s: len(wanted & set(tokens(s)))))
    with _LOCK:
        hit = _CACHE.get(abstract)
        if hit is not None:
            _CACHE.move_to_end(abstract)
    if hit is None:
        hit = (parts, embedder.embed(parts).astype(np.float32))
        with _LOCK:
            _CACHE[abstract] = hit
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    return shorten(hit[0][int(np.argmax(hit[1] @ query))])


def sentence_vectors(embedder, abstracts: list[str]) -> list[bytes]:
    """Per abstract (LaTeX decoded), its sentences' vectors as stored beside the paper: float16, one row a
    sentence of `sentences(abstract)`; all sentences of the batch go through the model together."""
    split = [sentences(a) for a in abstracts]
    flat = [s for parts in split for s in parts]
    if not flat:
        return [b"" for _ in abstracts]
    vectors = np.asarray(embedder.embed(flat), dtype="<f2")
    out, at = [], 0
    for parts in split:
        out.append(vectors[at:at + len(parts)].tobytes())
        at += len(parts)
    return out
