"""The paper's own words for a reason, pure: a topic phrase as it appears in the text, and the closest sentence.

A reason never names a bare stem. `quote_phrase` finds the topic's content
words adjacent and in order (matched on stems, so "message-passing networks"
answers the topic "message passing network"), and returns that stretch of the
paper's text as written. `found_words` gives the topic words present, each as
the paper spells it. `closest_sentence` names the abstract sentence nearest in
meaning to a query vector, by the sentence vectors stored with the paper at
ingest, or, without them, the sentence sharing the most topic words.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from digest.ranking import embed
from digest.ranking.text import STOPWORDS, fold, stem, tokens

MAX_QUOTE = 220
MAX_SENTENCES = 12  # an abstract's sentences that are embedded and may be quoted
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[“\"'])")


@lru_cache(maxsize=4096)  # a paper's text is quoted for many readers and topics in one delivery batch
def _spans(text: str) -> list[tuple[str, int, int]]:
    """(stem, start, end) of every word of the text, stop words included (they may sit inside a phrase)."""
    out = []
    for m in _WORD.finditer(text):
        word = fold(m.group())
        if word:
            out.append((stem(word) if word not in STOPWORDS else "", m.start(), m.end()))
    return out


@lru_cache(maxsize=65536)
def _topic_tokens(topic: str) -> tuple[str, ...]:
    return tuple(tokens(topic))


@lru_cache(maxsize=4096)
def _content_spans(text: str) -> list[tuple[str, int, int]]:
    return [s for s in _spans(text) if s[0]]


def quote_phrase(text: str, topic: str) -> str | None:
    """The stretch of `text` where the topic's content words stand adjacent and in order, as written."""
    wanted = _topic_tokens(topic)
    if not wanted:
        return None
    spans = _content_spans(text)
    present = {s[0] for s in spans}
    if not all(w in present for w in wanted):
        return None
    for i in range(len(spans) - len(wanted) + 1):
        if all(spans[i + k][0] == w for k, w in enumerate(wanted)):
            # Adjacent in the text: at most a few characters (spaces, hyphens, stop words) between words.
            if all(spans[i + k + 1][1] - spans[i + k][2] <= 6 for k in range(len(wanted) - 1)):
                return text[spans[i][1]:spans[i + len(wanted) - 1][2]]
    return None


def found_words(text: str, topic: str) -> list[str]:
    """The topic's content words present in the text, each as the text spells it (first occurrence)."""
    wanted = dict.fromkeys(_topic_tokens(topic))
    seen: dict[str, str] = {}
    for s, start, end in _spans(text):
        if s in wanted and s not in seen:
            seen[s] = text[start:end]
    return [seen[w] for w in wanted if w in seen]


@lru_cache(maxsize=4096)
def _sentence_tokens(abstract: str) -> list[frozenset]:
    return [frozenset(tokens(s)) for s in sentences(abstract)]


@lru_cache(maxsize=4096)
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
    """The abstract sentence nearest to the query vector, by the sentence vectors stored with the paper
    (`sentence_vectors`, computed at ingest); without them, the sentence sharing the most topic words (the
    first on a tie). The model never runs here: reasons are written per subscriber, in delivery."""
    parts = sentences(abstract)
    if not parts:
        return ""
    if query is not None and stored and len(stored) == len(parts) * embed.EMBED_DIM * 2:
        vectors = np.frombuffer(stored, dtype="<f2").reshape(len(parts), embed.EMBED_DIM).astype(np.float32)
        return shorten(parts[int(np.argmax(vectors @ query))])
    wanted = set(_topic_tokens(topic))
    overlap = [len(wanted & words) for words in _sentence_tokens(abstract)]
    return shorten(parts[overlap.index(max(overlap))])


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
