"""Sentence-embedding figures: milliseconds per paper to embed 2,000 real abstracts, and the model's quality.

Embeds the title and abstract (digest.ranking.embed.paper_text) of 2,000 real
papers from the captured feeds (near-copies fill any gap, as in bench/rank.py)
with the shipped model, straight through the model (no vector looked up),
several times; prints the median wall time per paper, the CPU time per paper
(all threads), the thread count and the model variant. Target: 25 ms per
paper or less on a 2-core machine.

--quality adds, on the labelled arXiv capture of 2024-11-28 (1,504 papers,
37 category profiles, digest.ranking.evaluate): P@10 and nDCG@10 when papers
are ranked by cosine to the mean of each profile's topic vectors, and with
--reference MODEL the mean cosine between this model's vectors and that
model's with the default settings (say the float32 build of
tools/build_model.py).

    python bench/embed.py [--runs 5] [--model PATH] [--threads 2] [--batch 32] [--max-tokens 128]
    python bench/embed.py --quality --reference /tmp/models/fp32/minilm.onnx
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from pathlib import Path

from benchdata import FEEDS, real_papers, require


def texts_of(n: int) -> list[str]:
    from digest.ranking.embed import paper_text

    papers = real_papers()
    texts = []
    for i in range(n):
        title, abstract = papers[i % len(papers)][:2]
        if i >= len(papers):  # the same work seen again from another source
            title = f"{title} (v{i // len(papers) + 1})"
        texts.append(paper_text(title, abstract))
    return texts


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def speed(embedder, texts: list[str], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each run over all texts (one warm-up run first, not counted)."""
    embedder.run(texts[:64])
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), cpu_seconds()
        embedder.run(texts)
        walls.append(time.perf_counter() - wall)
        cpus.append(cpu_seconds() - cpu)
    return walls, cpus


def quality(embedder, reference) -> dict[str, float]:
    """P@10 and nDCG@10 ranking by cosine to the mean topic vector; cosine to the reference model's vectors."""
    import numpy as np

    from digest.ranking import evaluate
    from digest.ranking.embed import paper_text

    capture = require(sorted((FEEDS / "arxiv-rss-new").glob("all-archives_2024-11-28_part*.xml")), "arXiv capture")
    candidates = evaluate.load_arxiv_rss(capture)
    profiles, labels = evaluate.category_profiles(candidates)
    texts = [paper_text(c.title, c.abstract) for c in candidates]
    papers = embedder.run(texts).astype(np.float32)
    ids = np.array([c.paper_id for c in candidates])
    rankings = {}
    for profile in profiles:
        query = embedder.run(list(profile.topics)).astype(np.float32).mean(axis=0)
        rankings[profile.subscriber_id] = ids[np.argsort(-(papers @ query), kind="stable")[:10]].tolist()
    figures = evaluate.evaluate(rankings, labels, k=10)
    if reference is not None:
        other = reference.run(texts).astype(np.float32)
        figures["cosine"] = float(np.mean(np.sum(papers * other, axis=1)))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--n", type=int, default=2000, help="abstracts per run")
    parser.add_argument("--model", type=Path, help="an ONNX build of tools/build_model.py (default: the shipped one)")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--batch", type=int)
    parser.add_argument("--max-tokens", type=int)
    parser.add_argument("--spinning", action="store_true", help="let onnxruntime's idle threads spin")
    parser.add_argument("--quality", action="store_true", help="also P@10 / nDCG@10 on the labelled capture")
    parser.add_argument("--reference", type=Path, help="with --quality: the model to compare vectors with")
    args = parser.parse_args()
    texts = texts_of(args.n)
    from digest.ranking import embed

    options = {k: v for k, v in (("threads", args.threads), ("batch", args.batch), ("max_tokens", args.max_tokens))
               if v is not None}
    options["spinning"] = args.spinning
    model = args.model or embed.MODEL_FILE
    embedder = embed.Embedder(model, model.parent / "tokenizer.json", known=None, **options)
    walls, cpus = speed(embedder, texts, args.runs)
    per = [w / len(texts) * 1e3 for w in walls]
    print(f"model {embedder.variant}: {model} ({model.stat().st_size / 1e6:.1f} MB), threads {embedder.threads}, "
          f"batch {embedder.batch}, max tokens {embedder.max_tokens}, spinning {args.spinning}, {os.cpu_count()} CPUs, "
          f"load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"runs (ms per paper): {' '.join(f'{x:.1f}' for x in per)}; CPU "
          f"{statistics.median(cpus) / len(texts) * 1e3:.1f} ms per paper (all threads)")
    if args.quality:
        # The reference as shipped settings run it (128 tokens): fewer tokens count as a loss against it.
        reference = embed.Embedder(args.reference, args.reference.parent / "tokenizer.json",
                                   known=None) if args.reference else None
        print("quality " + "  ".join(f"{k} {v:.3f}" for k, v in quality(embedder, reference).items()))
    print(f"embed {statistics.median(per):.1f} ms per paper (median of {args.runs} runs, {len(texts)} abstracts)")


if __name__ == "__main__":
    main()
