"""An edition sends what is new, not what was revised: real arXiv captures, real databases.

The all-archives capture of Thursday 2024-11-28 holds 1,504 announcements, 569 of them `replace`: new
versions of papers first announced weeks or years before. They are kept out of the picks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter

from sqlalchemy import select

from digest import jobs
from digest.db import session_factory
from digest.delivery import editions
from digest.delivery.senders import MemorySender
from digest.ingest import SourceSpec, bulk_upsert_papers
from digest.models import Digest, Subscriber
from digest.sources import parse
from digest.subscriptions import subscribe, validate_preferences
from helpers import FIXTURES

UTC = dt.timezone.utc
CAPTURE = sorted((FIXTURES / "arxiv-rss-new").glob("all-archives_2024-11-28_part*.xml"))
RDF = FIXTURES / "arxiv-rss-old" / "math_2012-09-12_rss1.0.xml"
THU = dt.datetime(2024, 11, 28, 2, 0, tzinfo=UTC)  # read an hour after arXiv's 20:00 ET announcement
TOPICS = ["large language models", "diffusion models"]
REVISIONS = ("replace", "replace-cross")


def ingest_capture(settings, now=THU, files=CAPTURE, kind="arxiv-rss"):
    specs = [SourceSpec(name=path.stem, location=str(path), kind=kind) for path in files]
    assert all(s.status == "ok" for s in jobs.run_ingest(settings, specs, now))


def add(settings, email, topics=TOPICS, max_papers=50, when=THU):
    with session_factory(settings.database_url).begin() as session:
        prefs = validate_preferences(topics=topics, max_papers=max_papers, send_hour=0)
        return subscribe(session, email, prefs, when - dt.timedelta(days=30))[0].id


def select_for(settings, email, now):
    with session_factory(settings.database_url)() as session:
        subscriber = session.scalar(select(Subscriber).where(Subscriber.email == email))
        selection = editions.select_picks(settings, session, [subscriber], now, [])
        return selection, selection.get(subscriber.id)


def announce_type(selection, pick) -> str | None:
    return (selection.papers[pick.paper_id].extra or {}).get("announce_type")


def test_the_capture_offers_its_new_and_cross_listed_papers_and_none_of_its_revisions(settings):
    ingest_capture(settings)
    add(settings, "ada@example.org")
    with session_factory(settings.database_url)() as session:
        candidates, _ = editions.get_candidates(session, THU + dt.timedelta(hours=5), settings.candidate_days)
    assert Counter(c.announce_type for c in candidates) == {"new": 926, "replace": 569, "cross": 9}
    selection, picks = select_for(settings, "ada@example.org", THU + dt.timedelta(hours=5))
    assert len(picks) == 50
    # Before: 24 of these 50 were new versions of papers first announced weeks or years ago.
    assert Counter(announce_type(selection, p) for p in picks) == {"new": 50}


def test_the_old_rdf_format_leaves_out_its_updated_entries(settings):
    wednesday = dt.datetime(2012, 9, 12, 2, 0, tzinfo=UTC)
    ingest_capture(settings, wednesday, [RDF], "arxiv-rdf")
    add(settings, "kolmogorov@example.org", ["random walks", "Brownian motion", "stochastic processes", "graphs"],
        when=wednesday)
    selection, picks = select_for(settings, "kolmogorov@example.org", wednesday + dt.timedelta(hours=5))
    assert picks and Counter(announce_type(selection, p) for p in picks) == {"new": len(picks)}


def capture_entry(key: str):
    return next(e for path in CAPTURE for e in parse("arxiv-rss", path.read_bytes()).entries if e.key == key)


def test_a_day_that_brings_only_revisions_has_no_new_papers_and_sends_no_leftovers(settings):
    ingest_capture(settings)
    add(settings, "ada@example.org", max_papers=5)
    jobs.send_due(settings, THU + dt.timedelta(hours=5), respect_hour=True, sender=MemorySender())
    friday = THU + dt.timedelta(days=1)
    old = dataclasses.replace(capture_entry("arxiv:2404.03653"), version=4, announced_at=friday)
    with session_factory(settings.database_url).begin() as session:
        bulk_upsert_papers(session, [dataclasses.replace(old, key="arxiv:2405.01234")], "rss", friday)
    report = jobs.send_due(settings, friday + dt.timedelta(hours=5), respect_hour=True, sender=MemorySender())
    assert report.counts["skipped"] == 1 and report.counts["sent"] == 0
    with session_factory(settings.database_url)() as session:
        reason = session.scalar(select(Digest.reason).where(Digest.edition_date == friday.date()))
    assert reason.startswith(editions.NO_NEW_PAPERS)
