"""Sentence embeddings of the captured arXiv day the tests and benchmarks rank (1,504 entries).

The quality harnesses rank the real 2024-11-28 capture, and several tests
ingest it; running the model over its 1,504 abstracts and their sentences takes
minutes on two cores, so the vectors are computed once with the shipped model
and kept beside the capture, keyed by the digest of the text embedded
(`embed.write_known`); the suite points DIGEST_EMBEDDINGS_KNOWN at the file. A vector whose text or EMBED_VERSION
no longer matches is simply computed again, and
tests/ranking/test_ranking_quality.py checks a sample against the model.
Run this again after changing the model or `embed.paper_text`:

    python tools/embed_fixtures.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = sorted((ROOT / "tests/fixtures/feeds/arxiv-rss-new").glob("all-archives_2024-11-28_part*.xml"))
OUT = ROOT / "tests/fixtures/embeddings/all-archives_2024-11-28.npz"


def main() -> int:
    from digest.ranking import embed
    from digest.ranking.evaluate import load_arxiv_rss

    embedder = embed.get_embedder()
    if embedder is None:
        print(f"embed_fixtures: the model does not load: {embed.embedder_problem()}", file=sys.stderr)
        return 1
    from digest.latex import readable
    from digest.ranking.quotes import sentences

    papers = load_arxiv_rss(CAPTURE)
    # Each paper's text, and its abstract's sentences (stored beside it for the closest-sentence reasons).
    texts = list(dict.fromkeys([embed.paper_text(c.title, c.abstract) for c in papers]
                               + [s for c in papers for s in sentences(readable(c.abstract))]))
    started = time.perf_counter()
    vectors = embedder.run(texts)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    embed.write_known(OUT, texts, vectors)
    print(f"{len(texts)} vectors in {time.perf_counter() - started:.1f} s -> {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
