"""Profiles without topics: an empty one gets the day's trending papers, a categories-only one its categories'."""

from __future__ import annotations

import datetime as dt

from digest import ranking
from digest.ranking import Candidate, Profile, rank

NOW = dt.datetime(2024, 11, 28, 12, tzinfo=dt.timezone.utc)
ABSTRACTS = [
    "We predict protein structures from sequence with a diffusion model trained on crystal data.",
    "We measure rotation curves of nearby spiral galaxies and infer dark matter halo profiles.",
    "Sorting networks are compared by depth and size on small inputs with a SAT solver.",
    "We study how income tax changes affect the hours worked by households in panel data.",
    "Direct numerical simulation of turbulent pipe flow at a high Reynolds number.",
    "Microbial communities in soil respond to drought by changing their composition.",
    "A compiler pass that vectorises loops over sparse matrices on modern CPUs.",
    "We survey reinforcement learning methods for robot grasping in cluttered scenes.",
]


def paper(pid, title, *, hours=1.0, **kw) -> Candidate:
    return Candidate(pid, title, ABSTRACTS[pid % len(ABSTRACTS)], seen_at=NOW - dt.timedelta(hours=hours), **kw)


def ids(picks) -> list[int]:
    return [p.paper_id for p in picks]


def edition() -> list[Candidate]:
    return [
        paper(1, "Quiet paper from yesterday", hours=30),
        paper(2, "Quiet paper from this morning", hours=2),
        paper(3, "Carried everywhere", n_sources=3, hours=40),
        paper(4, "A popular repository", github_stars=1204, hours=50),
        paper(5, "A little liked", upvotes=5, github_stars=90_000, hours=60),
        paper(6, "The paper of the day", upvotes=283, hours=20),
        Candidate(7, "Undated and quiet", ABSTRACTS[7]),
    ]


def test_empty_profile_gets_papers_by_upvotes_then_stars_then_sources_then_recency():
    got = rank([Profile(7)], edition(), NOW)[7]
    assert ids(got) == [6, 5, 4, 3, 2, 1, 7]
    assert [p.reason.lower() for p in got] == [
        "trending: 283 upvotes", "trending: 5 upvotes", "trending: 1,204 github stars", "carried by 3 sources",
        "new today", "new yesterday", "new"]
    assert [p.score for p in got] == sorted((p.score for p in got), reverse=True) and got[-1].score > 0
    assert all(p.topic is None and p.terms == [] for p in got)


def test_empty_profile_keeps_exclusions_max_papers_and_never_repeats_a_paper():
    papers = edition()
    assert ids(rank([Profile(7, max_papers=3)], papers, NOW)[7]) == [6, 5, 4]
    # the head of the order excluded (a word, an author) or already sent: the next ones fill the digest
    excluding = Profile(7, exclude=("day", "repository", "Ann Lee"), max_papers=3)
    with_author = [*papers[:4], Candidate(5, "A little liked", ABSTRACTS[5], authors=("Ann Lee",), upvotes=5),
                   *papers[5:]]
    assert ids(rank([excluding], with_author, NOW)[7]) == [3, 2, 1]
    assert ids(rank([Profile(7, max_papers=3)], papers, NOW, already_sent={7: {6, 5, 4, 2}})[7]) == [3, 1, 7]


def test_empty_profile_gets_one_copy_of_a_paper_and_none_of_one_already_sent():
    papers = [*edition(), paper(8, "The Paper of the Day!", upvotes=12, hours=3)]  # the same work from HF
    got = ids(rank([Profile(7)], papers, NOW)[7])
    assert len({6, 8} & set(got)) == 1 and len(got) == 7
    assert not {6, 8} & set(ids(rank([Profile(7)], papers, NOW, already_sent={7: {8}})[7]))


def test_a_profile_with_topics_or_follows_that_match_nothing_gets_nothing_not_the_trending_papers():
    papers = edition()
    assert rank([Profile(7, topics=("black hole thermodynamics",)), Profile(8, authors=("Nobody Known",)),
                 Profile(9, topics=("the of and",))], papers, NOW) == {7: [], 8: [], 9: []}


def test_categories_only_profile_gets_its_categories_most_popular_first():
    papers = [
        paper(1, "New robot legs", categories=("cs.RO",), hours=2),
        paper(2, "Robot hands that everyone liked", categories=("cs.RO",), upvotes=12, hours=50),
        paper(3, "Robot arms in two feeds", categories=("cs.RO", "cs.LG"), n_sources=2, hours=30),
        paper(4, "Quasars", categories=("astro-ph.GA",), upvotes=500),
    ]
    got = rank([Profile(7, categories=("cs.RO",))], papers, NOW)[7]
    assert ids(got) == [2, 3, 1]
    assert [p.reason for p in got] == ["New in cs.RO; trending: 12 upvotes", "New in cs.RO; carried by 2 sources",
                                       "New in cs.RO"]


def test_batch_with_empty_profiles_equals_ranking_each_alone(monkeypatch):
    papers = [*edition(), paper(8, "Graph neural networks", categories=("cs.LG",), authors=("Ann Lee",), upvotes=2),
              paper(9, "Message passing networks", categories=("cs.LG",), hours=5)]
    profiles = [Profile(1), Profile(2, topics=("graph neural networks",)), Profile(3, max_papers=2),
                Profile(4, exclude=("popular",)), Profile(5, categories=("cs.LG",)), Profile(6, authors=("Ann Lee",)),
                Profile(7, max_papers=0)]
    sent = {1: {6}, 3: {5, 4}}
    monkeypatch.setattr(ranking, "BLOCK_ROWS", 3)  # empty profiles in several blocks, beside other kinds
    together = rank(profiles, papers, NOW, already_sent=sent)
    alone = {p.subscriber_id: rank([p], papers, NOW, already_sent=sent)[p.subscriber_id] for p in profiles}
    assert together == alone
    assert ids(together[1])[:3] == [5, 8, 4] and ids(together[3]) == [6, 8] and 4 not in ids(together[4])
    assert together[7] == []
