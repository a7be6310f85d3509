"""Ranking by meaning: sentence embeddings, Rocchio on liked and disliked papers, learned affinities, reasons.

These run the shipped model (digest.ranking.embed) on small real-looking corpora;
the harness figures on the 1,504-entry capture are in test_ranking_quality.py.
"""

from __future__ import annotations

import datetime as dt

import pytest

from digest.ranking import Candidate, Example, Profile, embed, rank
from digest.ranking import edition as ranking_edition

NOW = dt.datetime(2024, 11, 28, 12, tzinfo=dt.timezone.utc)

PAPERS = [
    ("Message-passing neural networks for molecules", "We propose message-passing networks that predict "
     "molecular properties from graphs of atoms. Our model beats prior graph networks on QM9.", ("cs.LG",)),
    ("Equivariant graph networks", "Graph neural networks that respect rotations are built from spherical "
     "harmonics. They learn interatomic potentials with fewer samples.", ("cs.LG", "physics.chem-ph")),
    ("Faster inference for transformers", "We speed up the forward pass of large transformer models on GPUs "
     "by fusing attention kernels. Throughput improves by two times.", ("cs.LG",)),
    ("Dark matter halos of dwarf galaxies", "We measure rotation curves of dwarf galaxies. The halos are cored "
     "rather than cuspy, in tension with cold dark matter simulations.", ("astro-ph.GA",)),
    ("Turbulent pipe flow at high Reynolds number", "Direct numerical simulation of turbulent flow in pipes "
     "resolves the near-wall streaks. Drag scales as predicted by the log law.", ("physics.flu-dyn",)),
    ("Tax policy and labour supply", "We study how income tax changes affect hours worked by households, using "
     "twenty years of administrative data.", ("econ.GN",)),
    ("Soil microbes under drought", "Microbial communities in soil respond to drought by changing composition; "
     "fungi recover faster than bacteria.", ("q-bio.PE",)),
    ("Galaxy clusters weigh the dark sector", "Weak lensing masses of 100 galaxy clusters constrain the "
     "abundance of dark matter and dark energy.", ("astro-ph.CO",)),
]


def candidates() -> list[Candidate]:
    return [Candidate(i + 1, t, a, categories=c, seen_at=NOW - dt.timedelta(hours=2)) for i, (t, a, c) in
            enumerate(PAPERS)]


@pytest.fixture(autouse=True)
def model():
    if embed.get_embedder() is None:
        pytest.fail(f"the shipped model must load here: {getattr(embed, 'embedder_problem', lambda: '')()}")
    ranking_edition.clear_edition_cache()


def test_a_topic_finds_papers_that_use_other_words():
    got = rank([Profile(1, topics=("graph neural networks",), max_papers=3)], candidates(), NOW)[1]
    assert {p.paper_id for p in got[:2]} == {1, 2}  # paper 1 never says "graph neural networks"
    assert 6 not in {p.paper_id for p in got}


def test_reasons_quote_the_paper_and_never_a_bare_stem():
    got = {p.paper_id: p.reason for p in rank([Profile(1, topics=("message passing",), max_papers=5)],
                                               candidates(), NOW)[1]}
    assert "“Message-passing”" in got[1] or "“message-passing”" in got[1], got[1]
    # Paper 3 only says "forward pass": if it is picked at all, its reason does not claim the stem "pass".
    if 3 in got:
        assert "on: pass" not in got[3] and "passing" not in got[3].split("“message passing”", 1)[1][:12]


def test_a_match_by_meaning_names_the_closest_sentence_of_the_abstract():
    got = {p.paper_id: p.reason for p in rank([Profile(1, topics=("cosmology",), max_papers=3)],
                                               candidates(), NOW)[1]}
    assert 8 in got
    reason = got[8]
    assert reason.startswith("Close to your topic “cosmology”: “"), reason
    quoted = reason.split(": “", 1)[1].rstrip("”")
    assert quoted.rstrip("…") in PAPERS[7][1]


def test_a_topic_that_matches_nothing_today_gets_nothing():
    assert rank([Profile(1, topics=("sourdough bread baking",))], candidates(), NOW)[1] == []


def test_liked_papers_alone_are_a_profile_and_are_never_sent_back():
    cands = candidates()
    liked = Example(paper_id=4, title=PAPERS[3][0], abstract=PAPERS[3][1], categories=PAPERS[3][2])
    got = rank([Profile(1, liked=(liked,), max_papers=2)], cands, NOW)[1]
    ids = [p.paper_id for p in got]
    assert 4 not in ids and ids[0] == 8
    assert got[0].reason.startswith("Close to “Dark matter halos of dwarf galaxies”, which you liked")


def test_an_imported_library_entry_without_a_stored_paper_works_from_its_text():
    entry = Example(title="Neural network potentials for molecular dynamics",
                    abstract="Graph networks learn interatomic forces from quantum chemistry data.")
    got = rank([Profile(1, liked=(entry,), max_papers=2)], candidates(), NOW)[1]
    assert {p.paper_id for p in got} <= {1, 2, 3} and got


def test_disliked_papers_push_their_neighbours_down_and_are_never_sent():
    cands = candidates()
    base = [p.paper_id for p in rank([Profile(1, topics=("dark matter",), max_papers=3)], cands, NOW)[1]]
    disliked = Example(paper_id=4, title=PAPERS[3][0], abstract=PAPERS[3][1], categories=PAPERS[3][2])
    after = [p.paper_id for p in rank([Profile(1, topics=("dark matter",), disliked=(disliked,), max_papers=3)],
                                      cands, NOW)[1]]
    assert 4 in base and 4 not in after and after[0] == 8


def test_without_a_model_ranking_falls_back_to_words(monkeypatch):
    monkeypatch.setattr(embed, "get_embedder", lambda: None)
    ranking_edition.clear_edition_cache()
    got = rank([Profile(1, topics=("graph neural networks",), max_papers=3)], candidates(), NOW)[1]
    assert [p.paper_id for p in got] == [2, 1]  # only papers with the words: BM25 alone
    assert got[0].reason.startswith("Matches your topic “graph neural networks”")
    # Words as the paper spells them ("graphs"), never as stems.
    assert got[1].reason == "Matches your topic “graph neural networks” on: “graphs”, “neural”, “networks”", got[1].reason
    assert all("Close to" not in p.reason for p in got)


def test_every_pick_carries_the_key_sentence_of_its_own_abstract():
    liked = Example(paper_id=4, title=PAPERS[3][0], abstract=PAPERS[3][1], categories=PAPERS[3][2])
    for profile in (Profile(1, topics=("cosmology",), max_papers=3), Profile(1, liked=(liked,), max_papers=2)):
        got = rank([profile], candidates(), NOW)[1]
        assert got
        for pick in got:
            assert pick.sentence and pick.sentence.rstrip("…") in PAPERS[pick.paper_id - 1][1], pick
