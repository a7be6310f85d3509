"""Stored ranking features: stable bytes, the same ranking as from text, kept in step with the paper's text."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import random
import subprocess
import sys

import numpy as np
from digest.ranking import evaluate as ranking_eval
from digest.ranking import Profile, rank
from digest.ranking.dups import duplicate_groups
from digest.ranking.edition import clear_edition_cache, prepare_edition
from digest.ranking.features import edition_text, featurise
from digest.ranking.text import (
    BM25_B,
    BM25_K1,
    PHRASE_BONUS,
    TITLE_WEIGHT,
    bulk_queries,
    match_terms,
    phrase_hashes,
    phrase_key,
    score_phrases,
    tokens,
)
from helpers import FIXTURES

NOW = dt.datetime(2024, 11, 29, 12, tzinfo=dt.timezone.utc)
CAPTURE = sorted((FIXTURES / "arxiv-rss-new").glob("all-archives_2024-11-28_part*.xml"))


def real_candidates(n: int | None = None):
    got = ranking_eval.load_arxiv_rss(CAPTURE)
    return got[:n] if n else got


def with_features(candidates):
    blobs = featurise([(c.title, c.abstract, c.authors) for c in candidates])
    return [dataclasses.replace(c, features=b) for c, b in zip(candidates, blobs)]


def test_features_are_the_same_bytes_in_another_process_with_another_hash_seed():
    papers = [("Quantized LLMs at 2 bits", "We quantize large language models.", ("Ann Lee", "B. Chen")),
              ("Graph neural networks", "Message passing on graphs, again and again.", ())]
    code = ("import json, sys; from digest.ranking.features import featurise; "
            "print(json.dumps([b.hex() for b in featurise(json.loads(sys.argv[1]))]))")
    other = subprocess.run([sys.executable, "-c", code, json.dumps(papers)], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"}).stdout
    assert json.loads(other) == [b.hex() for b in featurise(papers)]


def test_ranking_from_stored_features_equals_ranking_from_text():
    candidates = real_candidates(600)
    profiles, _ = ranking_eval.category_profiles(candidates)
    profiles = [dataclasses.replace(p, max_papers=15) for p in profiles]
    profiles.append(Profile(999, topics=("diffusion models",), exclude=("survey",), max_papers=15))
    clear_edition_cache()
    from_text = dict(rank(profiles, candidates, NOW).items())
    clear_edition_cache()
    stored = dict(rank(profiles, with_features(candidates), NOW).items())
    assert stored == from_text
    assert sum(map(len, stored.values())) > 100


def test_bm25_over_hashed_features_equals_bm25_computed_from_the_words():
    candidates = real_candidates(300)
    phrases = ["graph neural networks", "large language models", "reinforcement learning", "quantum error correction",
               "diffusion", "nonexistentword transformer"]
    keys = [phrase_key(p) for p in phrases]
    edition = prepare_edition(with_features(candidates), NOW, 36.0)
    index = match_terms(edition.text, phrase_hashes(keys))
    got = score_phrases(bulk_queries(keys, index), np.arange(len(keys))).toarray()

    counts = []
    for c in candidates:  # the model written out: weighted term counts per paper, then BM25
        tf: dict[str, float] = {}
        for text, weight in ((c.title, TITLE_WEIGHT), (c.abstract, 1.0)):
            toks = tokens(text)
            for term in toks + [f"{a} {b}" for a, b in zip(toks, toks[1:])]:  # words, then adjacent pairs
                tf[term] = tf.get(term, 0.0) + weight
        counts.append(tf)
    n, lengths = len(counts), [sum(tf.values()) for tf in counts]
    mean = sum(lengths) / n
    for q, key in enumerate(keys):
        toks = key.split()
        terms = list(dict.fromkeys(toks)) + list(dict.fromkeys(f"{a} {b}" for a, b in zip(toks, toks[1:])))
        idf = {t: math.log((n + 1) / (sum(t in tf for tf in counts) + 1)) + 1 for t in terms}
        total = sum(idf.values()) * (BM25_K1 + 1)
        for p, tf in enumerate(counts):
            norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths[p] / mean)
            score = sum(idf[t] * tf[t] * (BM25_K1 + 1) / (tf[t] + norm) for t in terms if t in tf) / total
            bigrams = [t for t in terms if " " in t]
            if bigrams and all(t in tf for t in bigrams):
                score += PHRASE_BONUS
            assert got[q, p] == np.float32(min(score, 1.0)) or abs(got[q, p] - min(score, 1.0)) < 1e-5
    assert (got > 0.2).sum() > 20  # the phrases do match real papers


def test_edited_copies_of_real_abstracts_are_found_as_near_duplicates_and_nothing_else_is():
    rng = random.Random(3)
    originals = [c for c in real_candidates() if len(c.abstract.split()) >= 80][:300]
    copies = []
    for c in originals[:150]:  # another source's text: the title reworded, a few words changed or dropped
        words = c.abstract.split()
        for i in rng.sample(range(len(words)), len(words) // 40):
            words[i] = rng.choice(("novel", "", "robust", "theory"))
        copies.append(dataclasses.replace(c, paper_id=c.paper_id + 100_000, title=f"{c.title} (extended version)",
                                          abstract=" ".join(w for w in words if w)))
    text = edition_text(featurise([(c.title, c.abstract, c.authors) for c in originals + copies]), None)
    groups = duplicate_groups(text)
    n = len(originals)
    assert all(groups[n + i] == groups[i] for i in range(len(copies)))
    assert len(set(groups[:n].tolist())) == n  # no two different real papers merged
