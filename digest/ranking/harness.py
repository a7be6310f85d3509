"""Two more quality harnesses on the real capture, pure: a reader's library, and a reader who clicks.

- Library: for every arXiv category with at least LIBRARY_MIN new papers in
  the capture, a profile made of LIBRARY_SIZE liked papers of that category
  (drawn at random, LIBRARY_DRAWS times) and nothing else; the rest of the
  capture is ranked and judged on arXiv's category labels (P@10). References
  computed on the same draws: the MiniLM centroid of the liked papers (what
  zotero-arxiv-daily does) and a tf-idf centroid (our tokens, log tf, idf).
- Simulated reader: a hidden interest (a category) and one vague topic (the
  archive's broad name: "physics", "mathematics"…). The capture is shuffled
  into READER_EDITIONS editions; after each, the reader clicks "more" on the
  picks inside the interest and "less" on the others, and the next edition is
  ranked with that feedback. P@10 per edition is the curve.

Labels come from arXiv, never from a ranker. Candidates must carry their
embeddings (else they are computed in the call, when the model loads).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter

import numpy as np

from digest.ranking import Candidate, Example, Profile, embed, rank
from digest.ranking.evaluate import precision_at
from digest.ranking.text import tokens

LIBRARY_MIN, LIBRARY_SIZE, LIBRARY_DRAWS = 20, 8, 5
READER_EDITIONS, READER_MIN = 5, 40
# The vague topic of a hidden interest: the broad field of its archive.
BROAD = {"cs": "computer science", "math": "mathematics", "stat": "statistics", "eess": "engineering",
         "q-bio": "biology", "q-fin": "finance", "econ": "economics", "astro-ph": "astrophysics",
         "cond-mat": "condensed matter physics", "hep-th": "particle physics", "hep-ph": "particle physics",
         "hep-ex": "particle physics", "hep-lat": "particle physics", "nucl-th": "nuclear physics",
         "nucl-ex": "nuclear physics", "quant-ph": "quantum physics", "gr-qc": "gravitation",
         "math-ph": "mathematical physics", "nlin": "nonlinear dynamics"}


def example(c: Candidate) -> Example:
    return Example(c.paper_id, c.title, c.abstract, c.authors, c.categories, embedding=c.embedding)


def _now(candidates) -> dt.datetime:
    return max(c.seen_at for c in candidates if c.seen_at) + dt.timedelta(hours=12)


def library_draws(candidates: list[Candidate]):
    """(category, liked paper ids) for every draw of the library harness."""
    fresh = Counter(cat for c in candidates if c.announce_type in (None, "new") for cat in c.categories)
    out = []
    for category in sorted(k for k, v in fresh.items() if v >= LIBRARY_MIN):
        members = [c.paper_id for c in candidates if category in c.categories and c.announce_type in (None, "new")]
        for draw in range(LIBRARY_DRAWS):
            out.append((category, random.Random(f"{category}/{draw}").sample(members, LIBRARY_SIZE)))
    return out


def library_harness(candidates: list[Candidate], k: int = 10) -> dict[str, float]:
    """Mean P@k of ours and the two centroid references over every draw."""
    by_id = {c.paper_id: c for c in candidates}
    draws = library_draws(candidates)
    profiles = [Profile(i, liked=tuple(example(by_id[p]) for p in liked), max_papers=k)
                for i, (_, liked) in enumerate(draws)]
    picks = rank(profiles, candidates, _now(candidates))
    vectors, tfidf = _matrices(candidates)
    position = {c.paper_id: i for i, c in enumerate(candidates)}
    result = {"ours": [], "MiniLM centroid": [], "tf-idf centroid": []}
    for i, (category, liked) in enumerate(draws):
        rows = [position[p] for p in liked]
        label = {c.paper_id for c in candidates if category in c.categories}
        result["ours"].append(precision_at([p.paper_id for p in picks[i]], label, k))
        for name, matrix in (("MiniLM centroid", vectors), ("tf-idf centroid", tfidf)):
            score = matrix @ matrix[rows].mean(axis=0)
            score[rows] = -np.inf
            top = np.argsort(-score, kind="stable")[:k]
            result[name].append(precision_at([candidates[j].paper_id for j in top], label, k))
    return {name: float(np.mean(v)) for name, v in result.items()}


def reader_interests(candidates: list[Candidate]) -> list[tuple[str, str]]:
    """(hidden category, vague topic) for categories with at least READER_MIN papers."""
    counts = Counter(cat for c in candidates for cat in c.categories)
    out = []
    for category in sorted(k for k, v in counts.items() if v >= READER_MIN):
        archive = category.split(".")[0]
        out.append((category, BROAD.get(archive, "physics")))
    return out


def simulated_reader(candidates: list[Candidate], k: int = 10) -> list[float]:
    """Mean P@k per edition (1..READER_EDITIONS) over every hidden interest."""
    shuffled = list(candidates)
    random.Random("editions").shuffle(shuffled)
    editions = [shuffled[i::READER_EDITIONS] for i in range(READER_EDITIONS)]
    interests = reader_interests(candidates)
    liked: list[list[Example]] = [[] for _ in interests]
    disliked: list[list[Example]] = [[] for _ in interests]
    curve = []
    for papers in editions:
        profiles = [Profile(i, topics=(topic,), liked=tuple(liked[i]), disliked=tuple(disliked[i]), max_papers=k)
                    for i, (_, topic) in enumerate(interests)]
        picks = rank(profiles, papers, _now(papers))
        by_id = {c.paper_id: c for c in papers}
        scores = []
        for i, (category, _) in enumerate(interests):
            got = [by_id[p.paper_id] for p in picks[i]]
            scores.append(sum(category in c.categories for c in got) / k)
            for c in got:
                (liked if category in c.categories else disliked)[i].append(example(c))
        curve.append(float(np.mean(scores)))
    return curve


def _matrices(candidates: list[Candidate]) -> tuple[np.ndarray, np.ndarray]:
    """Unit MiniLM vectors and unit tf-idf vectors (log tf × idf over our tokens) of the candidates."""
    vectors = np.zeros((len(candidates), embed.EMBED_DIM), np.float32)
    for i, c in enumerate(candidates):
        if c.embedding:
            vectors[i] = embed.from_bytes(c.embedding)
    docs = [Counter(tokens(f"{c.title} {c.abstract}")) for c in candidates]
    df = Counter(t for d in docs for t in d)
    vocab = {t: i for i, t in enumerate(df)}
    tfidf = np.zeros((len(candidates), len(vocab)), np.float32)
    for i, d in enumerate(docs):
        for t, n in d.items():
            tfidf[i, vocab[t]] = (1 + math.log(n)) * math.log(len(docs) / df[t])
    norms = np.linalg.norm(tfidf, axis=1, keepdims=True)
    return vectors, tfidf / np.maximum(norms, 1e-9)
