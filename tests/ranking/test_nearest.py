"""The nearest-papers search (digest.ranking.nearest): the inverted file against exhaustive scoring."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from digest.ranking import nearest
from digest.ranking import evaluate as ranking_eval
from digest.ranking.likes import unit
from helpers import FIXTURES

CAPTURE = sorted((FIXTURES / "arxiv-rss-new").glob("all-archives_2024-11-28_part*.xml"))
KNOWN = FIXTURES.parent / "embeddings" / "all-archives_2024-11-28.npz"


def floor(rows, papers, qx):
    return qx >= 0.3


@pytest.fixture(scope="module")
def capture():
    """The capture's paper vectors and categories; queries like a reader's: the centroid of 20 papers that
    share a category (liked papers), and single papers' vectors."""
    from digest.ranking import embed

    papers = ranking_eval.attach_embeddings(ranking_eval.load_arxiv_rss(CAPTURE), KNOWN)
    vectors = unit(np.stack([embed.from_bytes(p.embedding) for p in papers]))
    vocab = {c: i for i, c in enumerate(sorted({c for p in papers for c in p.categories}))}
    pairs = [(i, vocab[c]) for i, p in enumerate(papers) for c in p.categories]
    cats = sparse.csr_matrix((np.ones(len(pairs), np.float32), tuple(zip(*pairs))), shape=(len(papers), len(vocab)))
    rng = np.random.default_rng(5)
    by_cat = [np.flatnonzero(cats[:, j].toarray().ravel()) for j in range(len(vocab))]
    liked = [unit(vectors[rng.choice(m, 20, replace=False)].mean(axis=0)) for m in by_cat if m.size >= 40]
    q = np.vstack([np.stack(liked), vectors[rng.choice(len(papers), 200, replace=False)]]).astype(np.float32)
    affinity = np.zeros((q.shape[0], len(vocab)), np.float32)
    affinity[np.arange(q.shape[0]), rng.integers(0, len(vocab), q.shape[0])] = 0.25
    return q, affinity, vectors, cats


def cells(found):
    r, p, _ = found
    return set(zip(r.tolist(), p.tolist()))


def test_each_row_gets_its_own_best_cells_whatever_the_depth_of_the_others():
    rng = np.random.default_rng(3)
    score = rng.permutation(np.linspace(0, 1, 600, dtype=np.float32)).reshape(2, 300)
    rows, cols, got = nearest._best(score, np.array([10, 250]))
    for row, depth in ((0, 10), (1, 250)):
        want = set(np.argsort(-score[row])[:depth].tolist())
        assert set(cols[rows == row].tolist()) == want
        assert np.allclose(np.sort(got[rows == row]), np.sort(score[row, list(want)]))


def test_ineligible_and_missing_cells_are_never_returned():
    score = np.array([[0.9, -np.inf, 0.5], [-np.inf, -np.inf, -np.inf]], np.float32)
    rows, cols, _ = nearest._best(score, np.array([5, 5]))
    assert list(zip(rows.tolist(), cols.tolist())) == [(0, 0), (0, 2)]


def test_probing_every_group_is_the_exhaustive_search(capture, monkeypatch):
    q, affinity, vectors, cats = capture
    ok = np.ones(len(vectors), bool)
    depth = np.full(q.shape[0], 24)
    depth[::3] = 60  # rows that want more (papers already sent, exclusions)
    exact = nearest.search(q, affinity, nearest.cluster(vectors, ok), vectors, cats, floor, depth, True)
    monkeypatch.setattr(nearest, "PROBES", 10**6)
    probed = nearest.search(q, affinity, nearest.cluster(vectors, ok), vectors, cats, floor, depth, False)
    assert cells(probed) == cells(exact)
    assert exact[0].size > 20 * q.shape[0]


def test_the_inverted_file_finds_nearly_all_of_the_exhaustive_best(capture):
    q, affinity, vectors, cats = capture
    ok = np.ones(len(vectors), bool)
    depth = np.full(q.shape[0], 24)
    exact = cells(nearest.search(q, affinity, nearest.cluster(vectors, ok), vectors, cats, floor, depth, True))
    probed = cells(nearest.search(q, affinity, nearest.cluster(vectors, ok), vectors, cats, floor, depth, False))
    recall = len(exact & probed) / len(exact)
    print(f"inverted file: recall {recall:.3f} of the exhaustive best 24 ({nearest.PROBES} probes)")
    assert recall >= 0.9


def test_blocks_ranked_on_several_threads_give_what_one_thread_gives(monkeypatch):
    """Many blocks (a tiny block size), the inverted file forced, two threads against one."""
    import datetime as dt

    from digest import ranking
    from digest.ranking import Example, Profile, rank
    from digest.ranking.edition import clear_edition_cache

    papers = ranking_eval.attach_embeddings(ranking_eval.load_arxiv_rss(CAPTURE), KNOWN)[:600]
    rng = np.random.default_rng(11)
    topics = ["graph neural networks", "dark matter", "quantum error correction", "language models",
              "partial differential equations", "galaxy formation", "reinforcement learning"]
    profiles = []
    for sid in range(1, 121):
        liked = tuple(Example(paper_id=p.paper_id, title=p.title, abstract=p.abstract, categories=p.categories,
                              embedding=p.embedding) for p in rng.choice(papers, 3, replace=False)) if sid % 2 else ()
        profiles.append(Profile(sid, topics=tuple(rng.choice(topics, 1 + sid % 3, replace=False)), liked=liked,
                                exclude=("survey",) if sid % 5 == 0 else (), max_papers=8))
    now = dt.datetime(2024, 11, 29, 12, tzinfo=dt.timezone.utc)
    monkeypatch.setattr(nearest, "EXACT_CELLS", 0)
    monkeypatch.setattr(ranking, "BLOCK_ROWS", 13)
    got = {}
    for threads in (1, 2):
        monkeypatch.setattr(ranking, "RANK_THREADS", threads)
        clear_edition_cache()
        picks = rank(profiles, papers, now, already_sent={4: {papers[0].paper_id}})
        got[threads] = {sid: [(p.paper_id, round(p.score, 5)) for p in picks[sid]] for sid in picks}
    assert got[1] == got[2]
    assert sum(map(len, got[1].values())) > 5 * len(profiles)
