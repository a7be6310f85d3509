"""What an edition holds: no leftovers on days without new papers, weekly roll-ups, the arXiv calendar."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from digest import editions, jobs
from digest.db import session_factory
from digest.ingest import bulk_upsert_papers, seeds_spec
from digest.mail import MemorySender
from digest.models import Digest
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
