"""Popularity order, pure: what a reader without topics gets, most popular first.

"Get trending papers in your email inbox once a day": a subscriber with no
topics, categories or followed authors gets the edition's most popular new
papers, and a categories-only one the most popular of their categories, since
without a topic there is no relevance to rank by. Popularity is read in this
order: Hugging Face upvotes, then GitHub stars, then how many sources carry
the paper, then recency. The order is computed once per edition, over the one
representative of each near-duplicate group; a reader's cells are the head of
that single order, long enough to survive their exclusions and papers already
sent, expanded for every such reader at once (no loop over papers per reader).
`trend_scores` gives each paper's damped popularity within the edition and,
where it is notable, the reason shown on its card.
"""

from __future__ import annotations

import math

import numpy as np

from digest.ranking.select import TRENDING, Cells, ragged

TREND_UPVOTES, TREND_STARS, TREND_SOURCES = 10, 100, 3  # what makes a paper's popularity notable


def popularity_order(candidates, representative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(representatives, most popular first; each paper's place in that order, len(order) for the others)."""
    n = len(candidates)
    figures = np.array([(c.upvotes or 0, c.github_stars or 0, max(c.n_sources or 1, 1),
                         c.seen_at.timestamp() if c.seen_at else -math.inf) for c in candidates],
                       dtype=np.float64).reshape(-1, 4)
    # lexsort's last key leads; the paper's index breaks ties, so equal figures keep the edition's order.
    order = np.lexsort((np.arange(n), -figures[:, 3], -figures[:, 2], -figures[:, 1], -figures[:, 0]))
    order = order[representative[order]].astype(np.int64)
    place = np.full(n, order.size, dtype=np.int64)
    place[order] = np.arange(order.size)
    return order, place


def popularity_reasons(candidates) -> list[str | None]:
    """The figure that puts each paper where it is in the order; None when it has none (the tail)."""
    reasons: list[str | None] = []
    for c in candidates:
        up, stars, sources = c.upvotes or 0, c.github_stars or 0, c.n_sources or 1
        if up > 0:
            reasons.append(f"trending: {up:,} upvote{'s' if up != 1 else ''}")
        elif stars > 0:
            reasons.append(f"trending: {stars:,} GitHub star{'s' if stars != 1 else ''}")
        elif sources > 1:
            reasons.append(f"carried by {sources} sources")
        else:
            reasons.append(None)
    return reasons


def age_reason(hours: float) -> str:
    """Why a paper of the tail (no popularity figure) is there: it is new."""
    if math.isnan(hours):
        return "new"
    days = int(max(hours, 0.0) // 24)
    return "new today" if days == 0 else "new yesterday" if days == 1 else f"new {days} days ago"


def popular_scores(place: np.ndarray, n_order: int, relevance: float, base: float) -> np.ndarray:
    """Score per paper from its place: relevance × (1 for the most popular … `base` for the last), so the
    order holds in top-k and the scores sit in the same band as a category's papers always did."""
    span = np.float32(1.0 - base) * (1.0 - place / max(n_order, 1))
    return (np.float32(relevance) * (np.float32(base) + span)).astype(np.float32)


def trending_cells(rows: np.ndarray, lengths: np.ndarray, order: np.ndarray, relevance: float) -> Cells:
    """The first `lengths[i]` papers of the order for each block row in `rows`, best first."""
    counts = np.minimum(lengths, order.size).astype(np.int64)
    pos, rank = ragged(np.zeros(rows.size, np.int64), counts)
    return Cells(np.repeat(rows, counts).astype(np.int64), order[pos], np.full(pos.size, relevance, np.float32),
                 np.full(pos.size, TRENDING, np.int16), rank)


def trend_scores(candidates) -> tuple[np.ndarray, list[str | None]]:
    """log-damped popularity / the edition's maximum, and a short reason where it is notable."""
    figures = np.array([(c.upvotes or 0, c.github_stars or 0, c.comments or 0, c.n_sources or 1) for c in candidates],
                       dtype=np.float64).reshape(-1, 4)
    up, stars, comments = (np.maximum(figures[:, k], 0) for k in range(3))
    sources = np.maximum(figures[:, 3], 1)
    pop = np.log1p(up) + 0.5 * np.log1p(stars) + 0.25 * np.log1p(comments) + np.log(sources)
    top = pop.max() if len(pop) else 0.0
    trend = (pop / top if top > 0 else np.zeros_like(pop)).astype(np.float32)
    reasons: list[str | None] = [None] * len(candidates)
    for i in np.flatnonzero((up >= TREND_UPVOTES) | (stars >= TREND_STARS) | (sources >= TREND_SOURCES)).tolist():
        if up[i] >= TREND_UPVOTES:
            reasons[i] = f"trending: {int(up[i]):,} upvotes"
        elif stars[i] >= TREND_STARS:
            reasons[i] = f"trending: {int(stars[i]):,} GitHub stars"
        else:
            reasons[i] = f"trending: carried by {int(sources[i])} sources"
    return trend, reasons
