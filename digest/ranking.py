"""Ranking v0, pure: recency × topic match, with a reason per pick.

Plain data and an explicit `now` in, ranked picks out; no database.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from dataclasses import dataclass, field

_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
STOPWORDS = frozenset(
    "a an and are as at be by for from in into is it of on or that the this to with we our via using based".split()
)
TITLE_WEIGHT = 2.0
DEFAULT_FLOOR = 0.25


@dataclass(frozen=True)
class Profile:
    """What a subscriber wants."""

    subscriber_id: int
    topics: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    max_papers: int = 10
    min_score: float = 0.0


@dataclass(frozen=True)
class Candidate:
    """A paper that may go out in this edition."""

    paper_id: int
    title: str
    abstract: str = ""
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    seen_at: dt.datetime | None = None
    upvotes: int = 0


@dataclass
class Pick:
    paper_id: int
    score: float
    reason: str
    topic: str | None = None
    terms: list[str] = field(default_factory=list)


def stem(word: str) -> str:
    """A tiny suffix stripper: quantization/quantized/quantizing → quantiz."""
    for suffix, repl in (("ices", "ix"), ("isation", "iz"), ("ization", "iz"), ("ations", "ate"), ("ation", "ate"),
                         ("izing", "iz"), ("ising", "iz"), ("ized", "iz"), ("ised", "iz"), ("izes", "iz"),
                         ("ize", "iz"), ("ise", "iz"), ("ing", ""), ("ies", "y"), ("es", "e"), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: len(word) - len(suffix)] + repl
    return word


def tokens(text: str) -> list[str]:
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def recency(seen_at: dt.datetime | None, now: dt.datetime, half_life_hours: float) -> float:
    """Exponential decay: 1.0 now, 0.5 after one half-life."""
    if seen_at is None:
        return 0.5
    hours = max(0.0, (now - seen_at).total_seconds() / 3600)
    return 0.5 ** (hours / half_life_hours)


def rank(profiles: list[Profile], candidates: list[Candidate], now: dt.datetime, *,
         already_sent: dict[int, set[int]] | None = None, half_life_hours: float = 36.0) -> dict[int, list[Pick]]:
    """Ranked picks per subscriber id: topic match (idf-weighted) × recency, above a floor."""
    already_sent = already_sent or {}
    docs = [(Counter(tokens(c.title)), Counter(tokens(c.abstract))) for c in candidates]
    df = Counter()
    for title_terms, abstract_terms in docs:
        df.update(set(title_terms) | set(abstract_terms))
    n = max(1, len(candidates))
    idf = {t: math.log((n + 1) / (d + 0.5)) for t, d in df.items()}
    fresh = [recency(c.seen_at, now, half_life_hours) for c in candidates]
    picks: dict[int, list[Pick]] = {}
    for profile in profiles:
        picks[profile.subscriber_id] = _rank_one(profile, candidates, docs, idf, fresh,
                                                 already_sent.get(profile.subscriber_id, set()))
    return picks


def _rank_one(profile, candidates, docs, idf, fresh, sent) -> list[Pick]:
    topics = [(t, tokens(t)) for t in profile.topics if tokens(t)]
    excluded = [e.lower() for e in profile.exclude if e.strip()]
    followed = [a.lower() for a in profile.authors if a.strip()]
    floor = max(profile.min_score, DEFAULT_FLOOR)
    scored: list[Pick] = []
    for cand, (title_terms, abstract_terms), decay in zip(candidates, docs, fresh):
        if cand.paper_id in sent:
            continue
        text = f"{cand.title} {cand.abstract}".lower()
        if any(e in text for e in excluded):
            continue
        if profile.categories and not set(profile.categories) & set(cand.categories):
            continue
        best = (0.0, None, [])
        for topic, terms in topics:
            weight = sum(idf.get(t, 0.0) for t in terms) or 1.0
            hit = [t for t in terms if t in title_terms or t in abstract_terms]
            got = sum(idf.get(t, 0.0) * (TITLE_WEIGHT if t in title_terms else 1.0) for t in hit) / (weight * TITLE_WEIGHT)
            if len(terms) > 1 and topic.lower() in text:
                got = min(1.0, got + 0.25)  # the phrase itself, not just its words
            if got > best[0]:
                best = (got, topic, hit)
        author = next((a for a in cand.authors if a.lower() in followed), None)
        relevance = best[0]
        if author:
            relevance = max(relevance, 1.0)
        if relevance < floor:
            continue
        reason = f"by {author}, an author you follow" if author else f"matches “{best[1]}”"
        scored.append(Pick(cand.paper_id, round(relevance * (0.5 + 0.5 * decay), 4), reason, best[1], best[2]))
    scored.sort(key=lambda p: (-p.score, p.paper_id))
    return scored[: profile.max_papers]
