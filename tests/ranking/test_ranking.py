"""Ranking behaviour: pure function, plain data and an explicit `now`."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, MutableMapping

import pytest

from digest import ranking
from digest.ranking import edition as ranking_edition
from digest.ranking import Candidate, Profile, rank

NOW = dt.datetime(2024, 11, 28, 12, tzinfo=dt.timezone.utc)


@pytest.fixture
def words_only(monkeypatch):
    """The fallback path: no model loads, papers carry no embedding, ranking is BM25 alone."""
    from digest.ranking import embed

    monkeypatch.setattr(embed, "get_embedder", lambda: None)
    ranking_edition.clear_edition_cache()
    yield
    ranking_edition.clear_edition_cache()
FILLER = [
    ("Protein folding with diffusion priors", "We predict protein structures from sequence with a diffusion model."),
    ("Galaxy rotation curves revisited", "We measure rotation curves of nearby spiral galaxies and dark matter halos."),
    ("A survey of sorting networks", "Sorting networks are compared by depth and size on small inputs."),
    ("Tax policy and labour supply", "We study how income tax changes affect hours worked by households."),
    ("Fluid turbulence in pipes", "Direct numerical simulation of turbulent pipe flow at high Reynolds number."),
    ("Soil microbes and drought", "Microbial communities in soil respond to drought by changing composition."),
]


def paper(pid, title, abstract="", *, hours=1.0, **kw) -> Candidate:
    return Candidate(pid, title, abstract, seen_at=NOW - dt.timedelta(hours=hours), **kw)


def corpus(*papers: Candidate) -> list[Candidate]:
    """The given papers plus unrelated filler, so idf behaves as in a real edition."""
    filler = [paper(900 + i, t, a) for i, (t, a) in enumerate(FILLER)]
    return list(papers) + filler


def ids(picks) -> list[int]:
    return [p.paper_id for p in picks]


def test_exact_phrase_ranks_above_scattered_words():
    papers = corpus(
        paper(1, "Training networks on graphs of sensors", "A neural approach to graphs; networks of sensors."),
        paper(2, "Graph neural networks for molecules", "We propose a graph neural network for property prediction."),
    )
    got = rank([Profile(7, topics=("graph neural networks",))], papers, NOW)[7]
    assert ids(got)[0] == 2


def test_title_match_outranks_the_same_words_in_the_abstract(words_only):
    # By meaning, paper 1 (about quantising weights) is as close; the lexical title weight holds without a model.
    papers = corpus(
        paper(1, "A study of language", "We quantize weights of a large model and measure quantization error."),
        paper(2, "Weight quantization for large models", "We study language model compression."),
    )
    assert ids(rank([Profile(7, topics=("quantization",))], papers, NOW)[7])[0] == 2


def test_newer_paper_wins_among_equally_relevant_ones_by_half_life():
    papers = corpus(paper(1, "Sparse attention for speech", "We apply it to audio.", hours=72),
                    paper(2, "Sparse attention for vision", "We apply it to images.", hours=1))
    got = rank([Profile(7, topics=("sparse attention",))], papers, NOW, half_life_hours=24)[7]
    assert ids(got)[0] == 2
    slow = rank([Profile(7, topics=("sparse attention",))], papers, NOW, half_life_hours=10_000)[7]
    assert slow[0].score - slow[-1].score < got[0].score - got[-1].score


def test_popularity_orders_relevant_papers_but_a_viral_off_topic_paper_never_appears():
    papers = corpus(
        paper(1, "Speculative decoding for LLM inference", "Faster LLM inference with draft models."),
        paper(2, "Speculative decoding at scale", "LLM inference with speculative decoding.", upvotes=48),
        paper(3, "A cat video dataset", "Millions of cat videos.", upvotes=5000, github_stars=90_000, n_sources=4),
    )
    got = rank([Profile(7, topics=("speculative decoding",))], papers, NOW)[7]
    assert ids(got)[:2] == [2, 1]
    assert 3 not in ids(got)
    assert "trending: 48 upvotes" in got[0].reason


def test_viral_weak_match_does_not_drown_a_strong_match():
    papers = corpus(
        paper(1, "Retrieval augmented generation with citations", "Retrieval augmented generation grounded answers."),
        paper(2, "A new chatbot", "We mention retrieval once in passing.", upvotes=9000, github_stars=50_000),
    )
    got = rank([Profile(7, topics=("retrieval augmented generation",))], papers, NOW)[7]
    assert ids(got)[0] == 1


def test_every_pick_says_why_with_topic_and_terms():
    papers = corpus(paper(1, "Low-bit LLM quantization", "We quantize LLM weights to 3 bits."))
    (pick,) = rank([Profile(7, topics=("LLM quantization", "black hole mergers"))], papers, NOW)[7]
    assert pick.topic == "LLM quantization"
    assert "LLM quantization" in pick.reason
    assert {"llm", "quantization"} <= {t.lower() for t in pick.terms}


def test_category_include_list_keeps_other_archives_out_and_accepts_an_archive_prefix():
    papers = corpus(
        paper(1, "Diffusion models for images", "Image diffusion.", categories=("cs.CV",)),
        paper(2, "Diffusion models in plasma physics", "Diffusion of ions.", categories=("physics.plasm-ph",)),
        paper(3, "Diffusion models for text", "Text diffusion.", categories=("cs.CL", "stat.ML")),
    )
    assert ids(rank([Profile(7, topics=("diffusion models",), categories=("cs.CV",))], papers, NOW)[7]) == [1]
    assert ids(rank([Profile(7, topics=("diffusion models",), categories=("stat.ml",))], papers, NOW)[7]) == [3]
    assert set(ids(rank([Profile(7, topics=("diffusion models",), categories=("cs",))], papers, NOW)[7])) == {1, 3}


def test_category_only_profile_gets_its_categories_newest_first():
    papers = corpus(
        paper(1, "Old robot arm", "Grasping.", categories=("cs.RO",), hours=60),
        paper(2, "New robot legs", "Walking.", categories=("cs.RO",), hours=2),
        paper(3, "Quasars", "Light.", categories=("astro-ph.GA",)),
    )
    got = rank([Profile(7, categories=("cs.RO",))], papers, NOW)[7]
    assert ids(got) == [2, 1]
    assert "cs.RO" in got[0].reason


def test_followed_author_is_always_considered_and_named_in_the_reason():
    papers = corpus(
        paper(1, "Something off topic", "Nothing about your topics.", authors=("Yoshua Bengio", "A. N. Other"),
              categories=("q-bio.NC",)),
        paper(2, "Graph neural networks", "Graph neural networks.", categories=("cs.LG",)),
    )
    profile = Profile(7, topics=("graph neural networks",), categories=("cs.LG",), authors=("Y. Bengio",),
                      min_score=0.9)
    got = rank([profile], papers, NOW)[7]
    assert 1 in ids(got)
    assert "Yoshua Bengio, an author you follow" in next(p.reason for p in got if p.paper_id == 1)


def test_exclusions_hide_words_phrases_and_authors():
    papers = corpus(
        paper(1, "Quantum graph neural networks", "Graph neural networks on qubits."),
        paper(2, "Graph neural networks: a survey", "Graph neural networks reviewed."),
        paper(3, "Graph neural networks for traffic", "Graph neural networks.", authors=("Jane Roe",)),
        paper(4, "Graph neural networks for chemistry", "Graph neural networks."),
    )
    profile = Profile(7, topics=("graph neural networks",), exclude=("quantum", "a survey", "Jane Roe"))
    assert ids(rank([profile], papers, NOW)[7]) == [4]


def test_a_paper_already_sent_never_comes_back_nor_its_copy_from_another_source():
    papers = corpus(
        paper(1, "Mixture of experts routing", "Routing tokens to experts in mixture of experts models."),
        paper(2, "Mixture-of-Experts Routing", "Routing tokens to experts in mixture of experts models (HF)."),
        paper(3, "Mixture of experts at scale", "Scaling mixture of experts."),
    )
    got = rank([Profile(7, topics=("mixture of experts",))], papers, NOW, already_sent={7: {1}})[7]
    assert ids(got) == [3]


def test_near_duplicates_never_both_in_one_digest():
    abstract = "We prune attention heads in vision transformers to speed up inference by half with no accuracy loss."
    papers = corpus(
        paper(1, "Pruning attention heads in vision transformers", abstract),
        paper(2, "Pruning Attention Heads in Vision Transformers!", abstract + " v2"),
        paper(3, "Pruning attention heads of vision transformers", abstract.replace("half", "a third") + " Code."),
        paper(4, "Vision transformers prune attention differently", "Another study of vision transformers."),
    )
    got = ids(rank([Profile(7, topics=("vision transformers",))], papers, NOW)[7])
    assert len({1, 2, 3} & set(got)) == 1
    assert 4 in got


def test_each_topic_of_a_subscriber_is_represented():
    strong = [paper(i, f"Large language models study {i}", "Large language models large language models.")
              for i in range(1, 16)]
    papers = corpus(*strong, paper(50, "Protein design with inverse folding", "Inverse folding for proteins."))
    profile = Profile(7, topics=("large language models", "inverse folding"), max_papers=5)
    got = rank([profile], papers, NOW)[7]
    assert len(got) == 5
    assert 50 in ids(got)
    assert {p.topic for p in got} == {"large language models", "inverse folding"}


def test_nothing_above_the_floor_gives_an_empty_list_not_filler():
    papers = corpus(paper(1, "Hash tables", "Open addressing."))
    assert rank([Profile(7, topics=("black hole thermodynamics",))], papers, NOW) == {7: []}


def test_min_score_raises_the_floor(words_only):
    papers = corpus(paper(1, "Kernels", "We touch on graph ideas and other methods."),
                    paper(2, "Graph methods", "Graph methods."))
    loose = ids(rank([Profile(7, topics=("graph methods",))], papers, NOW)[7])
    strict = ids(rank([Profile(7, topics=("graph methods",), min_score=0.6)], papers, NOW)[7])
    assert set(strict) < set(loose) and strict == [2]


def test_max_papers_caps_the_list():
    papers = corpus(*[paper(i, f"Reinforcement learning {i}", "Reinforcement learning.") for i in range(1, 30)])
    assert len(rank([Profile(7, topics=("reinforcement learning",), max_papers=4)], papers, NOW)[7]) == 4


def test_batch_ranking_equals_ranking_each_subscriber_alone(monkeypatch):
    papers = corpus(
        *[paper(i, t, a, categories=c, authors=au, upvotes=u, hours=h) for i, (t, a, c, au, u, h) in enumerate([
            ("Graph neural networks for molecules", "Message passing on molecular graphs.", ("cs.LG",), ("Ann Lee",), 3, 5),
            ("Quantum error correction codes", "Surface codes and decoders.", ("quant-ph",), (), 40, 20),
            ("Message passing neural networks", "Message passing revisited.", ("cs.LG", "stat.ML"), (), 0, 30),
            ("LLM quantization to 4 bits", "Quantization of LLM weights.", ("cs.CL",), ("Bo Chen",), 12, 2),
            ("Decoders for quantum codes", "Neural decoders for quantum error correction.", ("quant-ph",), (), 0, 50),
        ], 1)])
    profiles = [
        Profile(1, topics=("graph neural networks", "message passing"), exclude=("traffic",)),
        Profile(2, topics=("quantum error correction",), categories=("quant-ph",)),
        Profile(3, topics=("LLM quantization",), authors=("Ann Lee",), max_papers=2),
        Profile(4, categories=("cs.LG",)),
        Profile(5, topics=("message passing",), min_score=0.5),
    ]
    sent = {1: {3}, 2: {5}}
    monkeypatch.setattr(ranking, "BLOCK_ROWS", 2)  # several blocks, so block boundaries are crossed
    together = rank(profiles, papers, NOW, already_sent=sent)
    alone = {p.subscriber_id: rank([p], papers, NOW, already_sent=sent)[p.subscriber_id] for p in profiles}
    assert together == alone
    assert all(together.values())
    assert 3 not in ids(together[1]) and 5 not in ids(together[2])


def test_inputs_without_dates_or_papers_are_handled():
    undated = [Candidate(1, "Graph neural networks", "Graph neural networks.")]
    assert ids(rank([Profile(7, topics=("graph neural networks",))], undated, NOW)[7]) == [1]
    assert rank([Profile(7, topics=("x",))], [], NOW) == {7: []}
    assert rank([], undated, NOW) == {}


@pytest.mark.parametrize("topic", ["", "   ", "the of and"])
def test_empty_or_stopword_topics_match_nothing(topic):
    papers = corpus(paper(1, "The of and", "And the of."))
    assert rank([Profile(7, topics=(topic,))], papers, NOW) == {7: []}


def test_result_is_a_read_only_mapping_whose_picks_are_built_on_access():
    papers = corpus(paper(1, "Graph neural networks", "Graph neural networks."),
                    paper(2, "Graph neural networks for molecules", "Graph neural networks on molecules."))
    picks = rank([Profile(7, topics=("graph neural networks",)), Profile(8, topics=("sourdough bread baking",))], papers, NOW)
    assert isinstance(picks, Mapping) and not isinstance(picks, MutableMapping)
    assert len(picks) == 2 and list(picks) == [7, 8] and 7 in picks and 9 not in picks
    assert ids(picks[7]) == ids(picks.get(7, [])) and {1, 2} <= set(ids(picks[7]))
    assert picks.get(8, ["unused"]) == [] and picks.get(9, []) == []
    assert {sid: ids(got) for sid, got in picks.items()} == {7: ids(picks[7]), 8: []}
    picks[7].clear()  # every access builds a fresh list: a caller's edits never leak into the next one
    assert len(picks[7]) == len(ids(picks.get(7, []))) >= 2 and picks[7][0].reason
    with pytest.raises(KeyError):
        picks[9]


def test_a_subscriber_listed_twice_gets_the_picks_of_the_last_profile():
    papers = corpus(paper(1, "Graph neural networks", "Graph neural networks."),
                    paper(2, "Quantum error correction", "Surface codes."))
    picks = rank([Profile(7, topics=("graph neural networks",)), Profile(7, topics=("quantum error correction",))],
                 papers, NOW)
    assert len(picks) == 1 and ids(picks[7]) == [2]


def test_the_same_candidates_again_reuse_the_vectorised_edition_and_rank_identically():
    ranking_edition.clear_edition_cache()
    papers = corpus(paper(1, "Graph neural networks", "Message passing.", upvotes=20, categories=("cs.LG",)),
                    paper(2, "Graph neural networks for molecules", "Graph neural networks.", authors=("Ann Lee",)))
    profiles = [Profile(7, topics=("graph neural networks",)), Profile(8, authors=("Ann Lee",)),
                Profile(9, categories=("cs.LG",))]
    cold = dict(rank(profiles, papers, NOW).items())
    copies = [dataclasses.replace(p) for p in papers]  # equal content, other objects: what the next batch loads
    first = ranking_edition.prepare_edition(papers, NOW, 36.0)
    assert ranking_edition.prepare_edition(copies, NOW, 36.0).text is first.text
    assert rank(profiles, copies, NOW) == cold


def test_an_edited_or_reordered_edition_is_vectorised_again_and_the_cache_stays_small():
    ranking_edition.clear_edition_cache()
    papers = corpus(paper(1, "Beam search tricks", "Beam search."), paper(2, "Speculative decoding", "Draft models."))
    profile = Profile(7, topics=("speculative decoding",))
    assert ids(rank([profile], papers, NOW)[7]) == [2]
    edited = [dataclasses.replace(papers[0], abstract="Speculative decoding with beam search."), *papers[1:]]
    assert set(ids(rank([profile], edited, NOW)[7])) == {1, 2}
    reordered = papers[::-1]
    assert ranking_edition.prepare_edition(reordered, NOW, 36.0).paper_ids.tolist() == [p.paper_id for p in reordered]
    for n in range(ranking_edition.EDITION_CACHE_SIZE):
        ranking_edition.prepare_edition([dataclasses.replace(papers[0], title=f"Edition {n}")], NOW, 36.0)
    assert len(ranking_edition._EDITIONS) == ranking_edition.EDITION_CACHE_SIZE


def test_now_and_half_life_apply_to_a_cached_edition_as_to_a_cold_one():
    papers = corpus(paper(1, "Sparse attention for speech", "Audio.", hours=72),
                    paper(2, "Sparse attention for vision", "Images.", hours=1))
    profile = [Profile(7, topics=("sparse attention",))]
    calls = [(NOW, 24), (NOW + dt.timedelta(days=3), 24), (NOW, 10_000)]
    cold = []
    for now, half_life in calls:
        ranking_edition.clear_edition_cache()
        cold.append(rank(profile, papers, now, half_life_hours=half_life)[7])
    warm = [rank(profile, papers, now, half_life_hours=half_life)[7] for now, half_life in calls]
    assert warm == cold
    assert len({tuple(p.score for p in got) for got in warm}) == 3
