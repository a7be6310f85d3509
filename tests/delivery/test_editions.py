"""What an edition holds: no leftovers on days without new papers, weekly roll-ups, the arXiv calendar."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import select

from digest.delivery import editions
from digest import jobs
from digest.db import session_factory
from digest.ingest import bulk_upsert_papers, seeds_spec
from digest.delivery.senders import MemorySender
from digest.models import Digest, DigestItem, Subscriber
from digest.sources import PaperEntry
from digest.subscriptions import subscribe, validate_preferences

UTC = dt.timezone.utc
THU = dt.datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def add(settings, email, topics, cadence="daily", hour=0, max_papers=5):
    with session_factory(settings.database_url).begin() as session:
        prefs = validate_preferences(topics=topics, send_hour=hour, cadence=cadence, max_papers=max_papers)
        subscribe(session, email, prefs, THU - dt.timedelta(days=30))


def reasons(settings) -> dict[str, str | None]:
    with session_factory(settings.database_url)() as session:
        return {f"{d.edition_date}/{d.state}": d.reason for d in session.scalars(select(Digest).order_by(Digest.id))}


def test_a_day_without_new_papers_is_skipped_not_filled_with_leftovers(settings):
    jobs.run_ingest(settings, [seeds_spec()], THU)
    add(settings, "ada@example.org", ["LLM quantization"])
    sender = MemorySender()
    first = jobs.send_due(settings, THU + dt.timedelta(hours=1), respect_hour=True, sender=sender)
    assert first.counts["sent"] == 1
    # Friday: nothing was ingested since Thursday's digest, though Thursday's
    # papers are still inside the candidate window.
    friday = jobs.send_due(settings, THU + dt.timedelta(days=1), respect_hour=True, sender=sender)
    assert friday.counts["skipped"] == 1 and len(sender.sent) == 1
    assert reasons(settings)["2026-11-27/skipped"].startswith(editions.NO_NEW_PAPERS)


def test_new_papers_on_other_topics_give_nothing_relevant_not_no_new_papers(settings):
    jobs.run_ingest(settings, [seeds_spec()], THU)
    add(settings, "ada@example.org", ["LLM quantization"], max_papers=50)  # Thursday takes every relevant one
    jobs.send_due(settings, THU + dt.timedelta(hours=1), respect_hour=True, sender=MemorySender())
    with session_factory(settings.database_url).begin() as session:
        bulk_upsert_papers(session, [PaperEntry(key="arxiv:2611.00001", title="Tidal heating of icy moons",
                                                abstract="We model tidal dissipation in icy satellites " * 5)],
                           "rss", THU + dt.timedelta(hours=8))
    report = jobs.send_due(settings, THU + dt.timedelta(days=1), respect_hour=True, sender=MemorySender())
    assert report.counts["skipped"] == 1
    assert reasons(settings)["2026-11-27/skipped"] == editions.NOTHING_RELEVANT


def test_weekly_roll_up_ranks_the_whole_week(settings):
    monday = dt.datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    jobs.run_ingest(settings, [seeds_spec()], monday - dt.timedelta(days=5))  # Wednesday: outside a 3-day window
    add(settings, "daily@example.org", ["LLM quantization"])
    add(settings, "weekly@example.org", ["LLM quantization"], cadence="weekly")
    sender = MemorySender()
    report = jobs.send_due(settings, monday, respect_hour=True, sender=sender)
    assert [r for _, r, _ in sender.sent] == ["weekly@example.org"]
    assert report.counts["skipped"] == 1  # the daily reader: those papers are too old for a daily digest


def test_arxiv_quiet_days_follow_the_announcement_calendar():
    # arXiv announces Sunday–Thursday at 20:00 US Eastern.
    assert not editions.is_arxiv_quiet_day(dt.datetime(2026, 11, 27, 12, 0, tzinfo=UTC))  # Fri morning: Thu's
    assert editions.is_arxiv_quiet_day(dt.datetime(2026, 11, 28, 12, 0, tzinfo=UTC))      # Sat morning
    assert editions.is_arxiv_quiet_day(dt.datetime(2026, 11, 29, 12, 0, tzinfo=UTC))      # Sun morning
    assert not editions.is_arxiv_quiet_day(dt.datetime(2026, 11, 30, 12, 0, tzinfo=UTC))  # Mon morning: Sun's
    assert "Friday and Saturday" in editions.empty_reason(dt.datetime(2026, 11, 28, 12, 0, tzinfo=UTC))


def test_a_reader_with_an_empty_profile_gets_the_trending_papers_and_never_twice(settings):
    jobs.run_ingest(settings, [seeds_spec()], THU)
    popular = [PaperEntry(key=f"arxiv:2611.0000{n}", title=f"Popular paper number {n}", version=1,
                          abstract=f"Paper {n} studies something the community upvoted. " * 4, upvotes=up)
               for n, up in ((1, 283), (2, 31), (3, 7))]
    with session_factory(settings.database_url).begin() as session:
        bulk_upsert_papers(session, popular, "hf", THU)
    add(settings, "anyone@example.org", [], max_papers=4)
    first = jobs.send_due(settings, THU + dt.timedelta(hours=1), respect_hour=True, sender=MemorySender())
    assert first.counts["sent"] == 1
    items = sent_items(settings)
    assert [reason for _, reason in items] == ["Trending: 283 upvotes", "Trending: 31 upvotes", "Trending: 7 upvotes",
                                               "New today"]
    with session_factory(settings.database_url).begin() as session:  # Friday: one more, and HF's figures grew
        bulk_upsert_papers(session, [*[dataclasses.replace(e, upvotes=e.upvotes * 2) for e in popular],
                                     PaperEntry(key="arxiv:2611.00009", title="Friday's paper", version=1,
                                                abstract="A paper first seen on Friday. " * 5, upvotes=2)],
                           "hf", THU + dt.timedelta(hours=20))
    jobs.send_due(settings, THU + dt.timedelta(days=1), respect_hour=True, sender=MemorySender())
    again = sent_items(settings)[4:]
    assert again[0][1] == "Trending: 2 upvotes" and len(again) == 4
    assert not {paper for paper, _ in again} & {paper for paper, _ in items}


def sent_items(settings) -> list[tuple[int, str]]:
    with session_factory(settings.database_url)() as session:
        return [(i.paper_id, i.reason) for i in session.scalars(
            select(DigestItem).join(Digest, Digest.id == DigestItem.digest_id).order_by(Digest.edition_date,
                                                                                       DigestItem.rank))]


def test_demo_sends_the_empty_profile_sample_the_papers_of_the_day(settings):
    sender = MemorySender()
    jobs.run_demo(settings, THU, sender=sender)
    (raw,) = [data for _, to, data in sender.sent if to == "trending@example.org"]
    with session_factory(settings.database_url)() as session:
        reasons = session.scalars(select(DigestItem.reason).join(Subscriber, Subscriber.id == DigestItem.subscriber_id)
                                  .where(Subscriber.email == "trending@example.org")).all()
    assert reasons == ["New today"] * 8  # the bundled listing has no popularity figures: newest first
    assert b"New today" in raw


def test_liked_and_disliked_papers_go_into_the_profile_and_are_never_sent(settings, monkeypatch):
    from digest import feedback, ranking

    jobs.run_ingest(settings, [seeds_spec()], THU)
    add(settings, "ada@example.org", ["LLM quantization"], max_papers=3)
    add(settings, "bob@example.org", ["LLM quantization"], max_papers=3)
    with session_factory(settings.database_url)() as session:
        ada = session.scalar(select(Subscriber).where(Subscriber.email == "ada@example.org"))
        first = [p.paper_id for p in editions.select_picks(settings, session, [ada], THU, []).get(ada.id)]
    assert len(first) == 3
    with session_factory(settings.database_url).begin() as session:
        papers = editions.get_candidates(session, THU, 3)[1]
        feedback.record_paper(session, ada.id, papers[first[0]], feedback.LIKE, "link", THU)
        feedback.record_paper(session, ada.id, papers[first[1]], feedback.DISLIKE, "link", THU)
        feedback.record(session, ada.id, [feedback.Work.of_title("A paper only in Ada's library")], feedback.LIKE,
                        "library", THU)
    profiles = {}
    real_rank = ranking.rank

    def spy(given, *args, **kw):
        profiles.update({p.subscriber_id: p for p in given})
        return real_rank(given, *args, **kw)

    monkeypatch.setattr(ranking, "rank", spy)
    sender = MemorySender()
    report = jobs.send_due(settings, THU + dt.timedelta(hours=1), respect_hour=True, sender=sender)
    assert report.counts["sent"] == 2
    liked, disliked = profiles[ada.id].liked, profiles[ada.id].disliked
    assert {e.paper_id for e in liked} == {first[0], None} and [e.paper_id for e in disliked] == [first[1]]
    assert "A paper only in Ada's library" in {e.title for e in liked}
    assert all(e.title and e.abstract for e in (*liked, *disliked) if e.paper_id)
    (bob,) = [p for sid, p in profiles.items() if sid != ada.id]
    assert profiles[ada.id].topics == ("LLM quantization",) and bob.liked == bob.disliked == ()
    with session_factory(settings.database_url)() as session:
        sent_to = lambda email: set(session.scalars(  # noqa: E731
            select(DigestItem.paper_id).join(Subscriber, Subscriber.id == DigestItem.subscriber_id)
            .where(Subscriber.email == email)))
        assert not sent_to("ada@example.org") & {first[0], first[1]}
        assert {first[0], first[1]} <= sent_to("bob@example.org")  # someone else's choice changes nothing for Bob


def test_a_reader_with_liked_papers_and_no_topics_is_never_sent_what_they_liked(settings):
    from digest import feedback

    jobs.run_ingest(settings, [seeds_spec()], THU)
    add(settings, "liker@example.org", [], max_papers=4)
    with session_factory(settings.database_url).begin() as session:
        liker = session.scalar(select(Subscriber).where(Subscriber.email == "liker@example.org"))
        top = [p.paper_id for p in editions.select_picks(settings, session, [liker], THU, []).get(liker.id)]
        papers = editions.get_candidates(session, THU, 3)[1]
        for paper_id in top[:2]:
            feedback.record_paper(session, liker.id, papers[paper_id], feedback.LIKE, "cli", THU)
    report = jobs.send_due(settings, THU + dt.timedelta(hours=1), respect_hour=True, sender=MemorySender())
    assert report.counts["sent"] == 1
    sent = {paper for paper, _ in sent_items(settings)}
    assert len(sent) == 4 and not sent & set(top[:2])
