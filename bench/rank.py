"""Ranking benchmark: 2,000 real candidate papers × 1,000 / 10,000 / 100,000 varied subscribers, top 20 each.

Prints seconds (median of --repeats) and peak memory per case, each case in a
fresh process so peaks do not leak between cases: a cold call (no vectorised
edition cached; the targets are about it), a warm call (the same candidates
again, as the next delivery batch does), and, separately, writing every
subscriber's Picks and reasons from the lazy result; then the 1,000-subscriber
case with a naive per-subscriber Python loop over papers (same scoring model,
no diversity pass), as a ratio beside ours, then the quality figures.

Both start from what the database holds: the papers with the ranking features
ingest stored for them (digest.ranking.features, computed once per paper and
not timed here). A cold call concatenates those features and indexes the terms
its profiles use; nothing is tokenised in the call.

    /work/venv/bin/python bench/rank.py                 # all cases, median of 5
    /work/venv/bin/python bench/rank.py --sizes 1000 --repeats 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from benchdata import FEEDS, ROOT, real_papers, require

NOW = dt.datetime(2024, 11, 29, 12, tzinfo=dt.timezone.utc)
KNOWN = ROOT / "tests/fixtures/embeddings/all-archives_2024-11-28.npz"  # the capture's stored embeddings


def load_papers(n: int = 2000):
    """Real papers: arXiv RSS captures, arXiv API entries, the seed listing; near-copies fill any gap."""
    from digest.ranking import Candidate
    from digest.ranking.evaluate import attach_embeddings
    from digest.ranking.features import featurise

    texts = real_papers()
    rng = random.Random(7)
    rows = []
    for i in range(n):
        title, abstract, authors, cats = texts[i % len(texts)]
        if i >= len(texts):  # the same work seen again from another source
            title = f"{title} (v{i // len(texts) + 1})"
        rows.append(dict(
            paper_id=i + 1, title=title, abstract=abstract, authors=authors, categories=cats,
            seen_at=NOW - dt.timedelta(hours=rng.uniform(0, 72)),
            upvotes=int(rng.paretovariate(1.2) * 3) if rng.random() < 0.05 else 0,
            github_stars=int(rng.paretovariate(1.0) * 20) if rng.random() < 0.02 else 0,
            n_sources=rng.choice((1, 1, 1, 1, 2, 3)),
        ))
    # What ingest stores beside each paper (not timed here: it is paid once per paper, when it is stored):
    # ranking features and the sentence embedding (the capture's from tests/fixtures/embeddings, the rest
    # computed now; a near-copy shares its original's vector, as the model gives it nearly the same one).
    features = featurise([(r["title"], r["abstract"], r["authors"]) for r in rows])
    originals = attach_embeddings([Candidate(i + 1, t, a) for i, (t, a, _, _) in enumerate(texts)], KNOWN)
    return [Candidate(**r, features=f, embedding=originals[i % len(texts)].embedding)
            for i, (r, f) in enumerate(zip(rows, features))]


def phrase_vocabulary(papers, size: int = 3000) -> list[str]:
    """Topic phrases people type: arXiv taxonomy phrases plus frequent title bigrams/trigrams."""
    from digest.ranking.evaluate import CATEGORY_TOPICS
    from digest.ranking.text import words

    grams = Counter()
    for p in papers:
        w = words(p.title)
        grams.update(" ".join(w[i: i + n]) for n in (2, 3) for i in range(len(w) - n + 1))
    phrases = [t for ts in CATEGORY_TOPICS.values() for t in ts]
    phrases += [g for g, c in grams.most_common(size) if c >= 2 and not any(ch.isdigit() for ch in g)]
    return phrases[:size]


def make_profiles(n: int, papers, seed: int = 1, topics_each: int = 0, liked_each: int = 0):
    """Varied profiles: 1–4 Zipf-drawn topics (or exactly `topics_each`), some free-text topics, categories,
    exclusions, follows; with `liked_each`, that many liked papers each, drawn from older papers (not in the
    edition) whose embeddings are stored. The topics' vectors are made known first, as each delivery batch
    loads them from phrase_embeddings (embeddings.load_phrases): embedding a phrase is not part of ranking."""
    from digest.ranking import Example, Profile, semantic
    from digest.ranking.text import words

    rng = random.Random(seed)
    vocab = phrase_vocabulary(papers)
    weights = [1 / (r + 1) ** 0.8 for r in range(len(vocab))]
    cats = [c for p in papers for c in p.categories]
    authors = [a for p in papers for a in p.authors]
    profiles, sent = [], {}
    older = [Example(10**7 + p.paper_id, p.title, p.abstract, p.authors, p.categories, embedding=p.embedding)
             for p in papers[:1500]] if liked_each else []
    for sid in range(1, n + 1):
        topics = rng.choices(vocab, weights, k=topics_each or rng.choice((1, 1, 2, 2, 3, 3, 4)))
        if rng.random() < 0.05:  # a free-text topic of their own
            w = words(rng.choice(papers).title)
            topics.append(" ".join(rng.sample(w, min(len(w), rng.choice((2, 3))))))
        profiles.append(Profile(
            sid, topics=tuple(topics),
            categories=tuple(rng.sample(cats, rng.choice((1, 2, 3)))) if rng.random() < 0.25 else (),
            exclude=tuple(rng.choice(("survey", "quantum", "benchmark", "medical", rng.choice(authors)))
                          for _ in range(rng.choice((1, 2)))) if rng.random() < 0.1 else (),
            authors=tuple(rng.sample(authors, rng.choice((1, 2, 3)))) if rng.random() < 0.1 else (),
            max_papers=20, min_score=0.3 if rng.random() < 0.2 else 0.0,
            liked=tuple(rng.sample(older, liked_each)) if liked_each else (),
        ))
        if rng.random() < 0.2:
            sent[sid] = {rng.randint(1, len(papers)) for _ in range(rng.randint(1, 10))}
    semantic.phrase_vectors(list(dict.fromkeys(t.strip() for p in profiles for t in p.topics)))
    return profiles, sent


def naive_rank(profiles, papers, sent):
    """The same model as a per-subscriber Python loop over papers (what a straightforward script does)."""
    import numpy as np

    from digest.ranking.edition import prepare_edition
    from digest.ranking.text import bulk_queries, match_terms, phrase_key

    edition = prepare_edition(papers, NOW, 36.0)  # the same stored features, concatenated, as ours starts from
    index = match_terms(edition.text, np.unique(edition.text.hashes))  # every term of the edition, BM25-weighted
    w = index.weights.T.tocsr()  # papers × terms
    rows = [dict(zip(w.indices[w.indptr[i]: w.indptr[i + 1]].tolist(), w.data[w.indptr[i]: w.indptr[i + 1]].tolist()))
            for i in range(len(papers))]
    boost = (0.6 + 0.25 * edition.recency + 0.15 * edition.trend).tolist()
    out = {}
    for p in profiles:
        q = bulk_queries([phrase_key(t) for t in p.topics], index).matrix
        queries = [dict(zip(q[i].indices.tolist(), q[i].data.tolist())) for i in range(q.shape[0])]
        cats, gone = {c.lower() for c in p.categories}, sent.get(p.subscriber_id, set())
        scored = []
        for i, paper in enumerate(papers):
            if paper.paper_id in gone or (cats and not cats & {c.lower() for c in paper.categories}):
                continue
            rel = max((sum(v * rows[i].get(t, 0.0) for t, v in qd.items()) for qd in queries), default=0.0)
            if rel >= max(p.min_score, 0.2):
                scored.append((rel * boost[i], paper.paper_id))
        scored.sort(reverse=True)
        out[p.subscriber_id] = scored[: p.max_papers]
    return out


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory now (VmRSS) or at its peak so far (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(n: int, repeats: int, naive: bool, topics_each: int = 0, liked_each: int = 0) -> dict:
    """Per repeat: a cold call (no vectorised edition cached), then, for ours, a warm call (the same candidates
    again, as the next delivery batch does) and writing every subscriber's Picks and reasons from it."""
    from digest.ranking import rank
    from digest.ranking.edition import clear_edition_cache

    papers = load_papers()
    profiles, sent = make_profiles(n, papers, topics_each=topics_each, liked_each=liked_each)
    before = rss_mb()
    got = {"n": n, "times": [], "warm": [], "materialise": [], "rss_before_mb": before, "peak_mb": 0.0,
           "peak_all_mb": 0.0}
    for _ in range(repeats):
        picks = everything = None  # the previous results are not part of this call's memory
        clear_edition_cache()
        reset_peak()
        start = time.perf_counter()
        picks = naive_rank(profiles, papers, sent) if naive else rank(profiles, papers, NOW, already_sent=sent,
                                                                      half_life_hours=36.0)
        got["times"].append(time.perf_counter() - start)
        got["peak_mb"] = max(got["peak_mb"], rss_mb("VmHWM"))
        everything = picks
        if naive:
            continue
        picks = everything = None
        start = time.perf_counter()
        picks = rank(profiles, papers, NOW, already_sent=sent, half_life_hours=36.0)
        got["warm"].append(time.perf_counter() - start)
        start = time.perf_counter()
        everything = dict(picks.items())  # every Pick object and reason string, as a caller reading all would
        got["materialise"].append(time.perf_counter() - start)
        got["peak_all_mb"] = max(got["peak_all_mb"], rss_mb("VmHWM"))
    got["mean_picks"] = sum(map(len, everything.values())) / max(len(everything), 1)
    got["skipped"] = sum(1 for v in everything.values() if not v)
    return got


def reset_peak() -> None:
    """Start VmHWM afresh, so each call's peak is its own (Linux; elsewhere the process peak stands)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def run_case(n: int, repeats: int, naive: bool = False, topics_each: int = 0, liked_each: int = 0) -> dict:
    cmd = [sys.executable, __file__, "--child", str(n), "--repeats", str(repeats), "--topics", str(topics_each),
           "--liked", str(liked_each)] + (["--naive"] if naive else [])
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode:  # the child's own one-line reason (no data, say), not a CalledProcessError traceback
        sys.exit(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"bench: child exited {done.returncode}")
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--naive-repeats", type=int, default=3)
    parser.add_argument("--child", type=int)
    parser.add_argument("--naive", action="store_true")
    parser.add_argument("--topics", type=int, default=0, help="exactly this many topics per profile (0: 1–4)")
    parser.add_argument("--liked", type=int, default=0, help="liked papers per profile")
    parser.add_argument("--no-quality", action="store_true", help="skip the quality harnesses")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.repeats, args.naive, args.topics, args.liked)))
        return
    print(f"2,000 candidate papers, top 20 each; seconds = median of {args.repeats}; peak = max RSS during the call")
    print("cold = no vectorised edition cached (the targets); warm = the same candidates again (a later batch)")
    medians = {}
    for n in (int(s) for s in args.sizes.split(",")):
        got = run_case(n, args.repeats, topics_each=args.topics, liked_each=args.liked)
        medians[n] = statistics.median(got["times"])
        print(f"{n:>8,} subscribers: cold {medians[n]:6.3f} s (min {min(got['times']):.3f}, first in process "
              f"{got['times'][0]:.3f})  peak {got['peak_mb']:5.0f} MB (inputs {got['rss_before_mb']:.0f} MB)  "
              f"{got['mean_picks']:.1f} picks/subscriber, {got['skipped']:,} skipped")
        print(f"{'':>22}warm {statistics.median(got['warm']):6.3f} s;  then writing every Pick and reason: "
              f"{statistics.median(got['materialise']):6.2f} s, peak {got['peak_all_mb']:5.0f} MB")
    if 1000 in medians:
        naive = statistics.median(run_case(1000, args.naive_repeats, naive=True)["times"])
        print(f"   1,000 subscribers, naive per-subscriber Python loop (same model): {naive:.2f} s (median of "
              f"{args.naive_repeats}) = {naive / medians[1000]:.0f}x ours cold for the whole call")
        big = max(medians)
        if big > 1000:  # what each further subscriber costs, once the edition's papers are vectorised
            marginal = (medians[big] - medians[1000]) / (big - 1000)
            print(f"   per extra subscriber: ours {marginal * 1e3:.3f} ms (1,000 → {big:,}), naive "
                  f"{naive / 1000 * 1e3:.2f} ms = {naive / 1000 / marginal:.0f}x")
    if not args.no_quality:
        quality()


def quality() -> None:
    """The three harnesses on the real capture, and the weights of the mix, each varied alone."""
    from digest.ranking import harness, semantic
    from digest.ranking.edition import clear_edition_cache
    from digest.ranking.evaluate import attach_embeddings, load_arxiv_rss, report

    paths = require(sorted((FEEDS / "arxiv-rss-new").glob("all-archives_2024-11-28_part*.xml")), "arXiv capture")
    print("quality, 37 profiles of arXiv taxonomy phrases, judged by arXiv's own categories:")
    for name, figures in report(paths, known=KNOWN).items():
        print(f"quality {name:14s} " + "  ".join(f"{k} {v:.3f}" for k, v in figures.items()))
    print("the mix, one weight varied at a time (ours: the first line of each):")
    for name, values in (("LEXICAL_WEIGHT", (0.2, 0.0, 0.1, 0.3, 0.5)), ("CATEGORY_WEIGHT", (0.25, 0.0, 0.15, 0.35)),
                         ("PRF_WEIGHT", (1.0, 0.0, 0.5, 2.0)), ("TOPIC_OWN_WEIGHT", (0.8, 0.0, 1.0)),
                         ("SEMANTIC_FLOOR", (0.3, 0.2, 0.35))):
        default = getattr(semantic, name)
        for value in values:
            setattr(semantic, name, value)
            clear_edition_cache()
            figures = report(paths, known=KNOWN)["ours"]
            print(f"  {name} = {value:<5} " + "  ".join(f"{k} {v:.3f}" for k, v in figures.items()))
        setattr(semantic, name, default)
    capture = attach_embeddings(load_arxiv_rss(paths), KNOWN)
    library = harness.library_harness(capture)
    print("library (8 liked papers of a category, nothing else; P@10): "
          + "  ".join(f"{k} {v:.3f}" for k, v in library.items()))
    curve = harness.simulated_reader(capture)
    print("simulated reader, P@10 by edition: " + " → ".join(f"{p:.3f}" for p in curve)
          + f"  (rise {curve[-1] - curve[0]:+.3f})")

if __name__ == "__main__":
    main()
