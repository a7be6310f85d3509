"""Ranking quality on labelled real data, pure: P@k and nDCG@k for our ranker and two baselines.

The labelled set: the real arXiv capture of 2024-11-28 (all archives, 1,504
entries). Each profile describes one arXiv category with phrases taken from
the arXiv category taxonomy (its name and description), and does NOT list the
category itself; a paper is relevant to it when arXiv filed the paper under
that category (primary or cross-list). Labels therefore come from arXiv, not
from any ranker.
"""

from __future__ import annotations

import datetime as dt
import math
import xml.etree.ElementTree as ET
from pathlib import Path

from digest.ranking import Candidate, Profile, rank
from digest.ranking.text import fold

DC = "{http://purl.org/dc/elements/1.1/}"
ARXIV = "{http://arxiv.org/schemas/atom}"

# Phrases from the arXiv category taxonomy (https://arxiv.org/category_taxonomy): name and description.
CATEGORY_TOPICS: dict[str, tuple[str, ...]] = {
    "cs.CV": ("computer vision", "image processing", "pattern recognition", "scene understanding"),
    "cs.LG": ("machine learning", "supervised learning", "unsupervised learning", "reinforcement learning",
              "bandit problems"),
    "cs.CL": ("natural language processing", "computational linguistics"),
    "cs.RO": ("robotics", "robot"),
    "cs.CR": ("cryptography", "security", "authentication"),
    "cs.IT": ("information theory", "coding theory", "channel capacity"),
    "cs.HC": ("human-computer interaction", "user interfaces"),
    "cs.SE": ("software engineering", "software testing"),
    "quant-ph": ("quantum physics", "quantum information", "quantum computation"),
    "hep-th": ("quantum field theory", "string theory", "supersymmetry", "supergravity"),
    "hep-ph": ("particle physics phenomenology", "effective field theories", "particle physics"),
    "hep-ex": ("experimental particle physics", "collider experiments"),
    "gr-qc": ("general relativity", "gravitational waves", "quantum gravity", "quantum cosmology"),
    "astro-ph.HE": ("high energy astrophysics", "cosmic rays", "gamma-ray bursts", "neutron stars", "supernovae"),
    "astro-ph.GA": ("galaxies", "interstellar medium", "star formation", "galaxy formation"),
    "astro-ph.CO": ("cosmology", "cosmic microwave background", "dark energy", "dark matter",
                    "large-scale structure"),
    "astro-ph.SR": ("solar and stellar astrophysics", "stellar evolution", "the sun"),
    "cond-mat.mtrl-sci": ("materials science", "mechanical properties", "phonons", "defects", "interfaces"),
    "cond-mat.str-el": ("strongly correlated electrons", "quantum magnetism", "spin liquids", "quantum criticality",
                        "metal-insulator transitions"),
    "cond-mat.mes-hall": ("quantum dots", "spintronics", "quantum Hall effect", "graphene", "nanostructures"),
    "cond-mat.stat-mech": ("statistical mechanics", "phase transitions", "nonequilibrium", "thermodynamics"),
    "math-ph": ("mathematical physics",),
    "math.AP": ("partial differential equations", "existence and uniqueness", "conservation laws"),
    "math.CO": ("combinatorics", "graph theory", "discrete mathematics", "enumeration"),
    "math.AG": ("algebraic geometry", "algebraic varieties", "moduli spaces"),
    "math.NA": ("numerical analysis", "numerical methods", "finite element"),
    "math.OC": ("optimization and control", "optimal control", "operations research"),
    "math.PR": ("probability theory", "stochastic processes", "random walks"),
    "math.NT": ("number theory", "prime numbers", "diophantine equations"),
    "stat.ME": ("statistical methodology", "model selection", "multiple testing", "survival analysis",
                "nonparametric methods"),
    "stat.ML": ("machine learning", "statistical learning"),
    "eess.SP": ("signal processing", "detection and estimation"),
    "eess.SY": ("systems and control", "control theory"),
    "eess.AS": ("audio and speech processing", "speech recognition", "audio"),
    "eess.IV": ("image and video processing", "image", "video"),
    "physics.optics": ("optics", "lasers", "photonics"),
    "nucl-th": ("nuclear theory", "nuclear structure", "nuclear matter"),
}


def load_arxiv_rss(paths: list[Path], *, first_id: int = 1) -> list[Candidate]:
    """Candidates from real arXiv RSS captures (well-formed XML): title, abstract, authors, categories, date."""
    out = []
    for path in paths:
        for item in ET.parse(path).getroot().iter("item"):
            description = item.findtext("description") or ""
            abstract = description.split("Abstract:", 1)[-1].strip()
            when = item.findtext("pubDate")
            seen = dt.datetime.strptime(when, "%a, %d %b %Y %H:%M:%S %z") if when else None
            creators = item.findtext(f"{DC}creator") or ""
            out.append(Candidate(
                paper_id=first_id + len(out), title=(item.findtext("title") or "").strip(), abstract=abstract,
                authors=tuple(a.strip() for a in creators.split(",") if a.strip()),
                categories=tuple(c.text for c in item.findall("category") if c.text), seen_at=seen,
                announce_type=item.findtext(f"{ARXIV}announce_type"),
            ))
    return out


def category_profiles(candidates: list[Candidate], *, min_relevant: int = 15, max_papers: int = 10):
    """(profiles, relevant paper ids per subscriber id) for categories with enough papers in the set."""
    profiles, labels = [], {}
    for n, (category, topics) in enumerate(sorted(CATEGORY_TOPICS.items()), 1):
        relevant = {c.paper_id for c in candidates if category in c.categories}
        if len(relevant) >= min_relevant:
            profiles.append(Profile(n, topics=topics, max_papers=max_papers))
            labels[n] = relevant
    return profiles, labels


def _newest_first(candidates, now) -> list[int]:
    order = sorted(candidates, key=lambda c: (c.seen_at or now - dt.timedelta(days=365), c.paper_id), reverse=True)
    return [c.paper_id for c in order]


def recency_baseline(profiles, candidates, now, k=10) -> dict[int, list[int]]:
    """Newest first (ties: the later arXiv listing position), whatever the profile."""
    ids = _newest_first(candidates, now)[:k]
    return {p.subscriber_id: ids for p in profiles}


def keyword_baseline(profiles, candidates, now, k=10) -> dict[int, list[int]]:
    """Plain keyword filter: papers containing the most topic phrases (substring, any case), newest first."""
    texts = [(fold(f"{c.title} {c.abstract}"), c.paper_id) for c in candidates]
    fresh = {pid: r for r, pid in enumerate(_newest_first(candidates, now))}
    out = {}
    for p in profiles:
        phrases = [fold(t) for t in p.topics]
        hits = sorted(((sum(ph in text for ph in phrases), pid) for text, pid in texts),
                      key=lambda h: (-h[0], fresh[h[1]]))
        out[p.subscriber_id] = [pid for n, pid in hits[:k] if n > 0]
    return out


def ours(profiles, candidates, now, k=10) -> dict[int, list[int]]:
    picks = rank(profiles, candidates, now)
    return {sid: [p.paper_id for p in got[:k]] for sid, got in picks.items()}


def minilm_baseline(profiles, candidates, now, k=10) -> dict[int, list[int]]:
    """all-MiniLM-L6-v2 alone: cosine to the mean of the profile's topic vectors (zotero-arxiv-daily's way)."""
    import numpy as np

    from digest.ranking import embed
    from digest.ranking.semantic import phrase_vectors, unit

    x = unit(np.stack([embed.from_bytes(c.embedding) for c in candidates]).astype(np.float32))
    ids = np.array([c.paper_id for c in candidates])
    out = {}
    for p in profiles:
        score = x @ unit(phrase_vectors(list(p.topics)).mean(axis=0))
        out[p.subscriber_id] = ids[np.argsort(-score, kind="stable")[:k]].tolist()
    return out


def words_only(profiles, candidates, now, k=10) -> dict[int, list[int]]:
    """Our ranker without the model: BM25 over the stored features (ranking v1, the fallback)."""
    picks = rank(profiles, candidates, now, words_only=True)
    return {sid: [p.paper_id for p in got[:k]] for sid, got in picks.items()}


def precision_at(ranked: list[int], relevant: set[int], k: int = 10) -> float:
    return sum(1 for pid in ranked[:k] if pid in relevant) / k


def ndcg_at(ranked: list[int], relevant: set[int], k: int = 10) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, pid in enumerate(ranked[:k]) if pid in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return dcg / ideal if ideal else 0.0


def evaluate(rankings: dict[int, list[int]], labels: dict[int, set[int]], k: int = 10) -> dict[str, float]:
    """Mean P@k and nDCG@k over the labelled profiles (a short list counts its empty slots as misses)."""
    n = len(labels)
    return {
        f"P@{k}": sum(precision_at(rankings.get(s, []), rel, k) for s, rel in labels.items()) / n,
        f"nDCG@{k}": sum(ndcg_at(rankings.get(s, []), rel, k) for s, rel in labels.items()) / n,
    }


def report(paths: list[Path], k: int = 10, known: Path | None = None) -> dict[str, dict[str, float]]:
    """Figures for ours, ours by words only and both baselines on the category-labelled capture."""
    candidates = attach_embeddings(load_arxiv_rss(paths), known)
    now = max(c.seen_at for c in candidates if c.seen_at) + dt.timedelta(hours=12)
    profiles, labels = category_profiles(candidates, max_papers=k)
    return {name: evaluate(fn(profiles, candidates, now, k), labels, k)
            for name, fn in (("ours", ours), ("MiniLM alone", minilm_baseline), ("words only", words_only),
                             ("recency", recency_baseline), ("keyword", keyword_baseline))}


def attach_embeddings(candidates: list[Candidate], known: Path | None = None) -> list[Candidate]:
    """The candidates with their sentence embeddings: from a file of known vectors (`embed.write_known`; the
    test fixtures ship one for the capture) where the text's digest matches, else computed by the model."""
    import dataclasses

    import numpy as np

    from digest.ranking import embed

    texts = [embed.paper_text(c.title, c.abstract) for c in candidates]
    vectors: dict[bytes, np.ndarray] = {}
    if known is not None and known.is_file():
        with np.load(known, allow_pickle=False) as data:
            if int(data["version"]) == embed.EMBED_VERSION:
                vectors = {bytes(k): v for k, v in zip(data["keys"], data["vectors"])}
    missing = [i for i, t in enumerate(texts) if embed.text_key(t) not in vectors]
    embedder = embed.get_embedder() if missing else None
    if embedder is not None:
        for i, v in zip(missing, embedder.embed([texts[i] for i in missing])):
            vectors[embed.text_key(texts[i])] = v
    return [dataclasses.replace(c, embedding=embed.to_bytes(vectors[embed.text_key(t)]))
            if embed.text_key(t) in vectors else c for c, t in zip(candidates, texts)]
