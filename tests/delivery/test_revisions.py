"""An edition sends what is new, not what was revised: real arXiv captures, real databases.

The all-archives capture of Thursday 2024-11-28 holds 1,504 announcements, 569 of them `replace`: new
versions of papers first announced weeks or years before. They are kept out of the picks; a subscriber
who got one earlier, or who asked for updates, sees it in a separate "Updated" block, once per version.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from email import message_from_bytes, policy

from sqlalchemy import select, update

from digest import jobs
from digest.db import session_factory
from digest.delivery import editions
from digest.delivery.senders import MemorySender
from digest.ingest import SourceSpec, bulk_upsert_papers
from digest.models import Digest, DigestItem, Paper, Subscriber
from digest.sources import PaperEntry, parse
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


def add(settings, email, topics=TOPICS, max_papers=50, updates=False, when=THU):
    with session_factory(settings.database_url).begin() as session:
        prefs = validate_preferences(topics=topics, max_papers=max_papers, send_hour=0, updates=updates)
        return subscribe(session, email, prefs, when - dt.timedelta(days=30))[0].id


def select_for(settings, email, now):
    with session_factory(settings.database_url)() as session:
        subscriber = session.scalar(select(Subscriber).where(Subscriber.email == email))
        selection = editions.select_picks(settings, session, [subscriber], now, [])
        return selection, selection.get(subscriber.id), selection.get_updated(subscriber.id)


def announce_type(selection, pick) -> str | None:
    return (selection.papers[pick.paper_id].extra or {}).get("announce_type")


def items(settings, email) -> list[tuple[dt.date, str, bool, int | None]]:
    """(edition, paper key, shown as updated, version) of every item sent to `email`, in order."""
    with session_factory(settings.database_url)() as session:
        return list(session.execute(
            select(Digest.edition_date, Paper.key, DigestItem.updated, DigestItem.version)
            .join(Digest, Digest.id == DigestItem.digest_id).join(Paper, Paper.id == DigestItem.paper_id)
            .join(Subscriber, Subscriber.id == DigestItem.subscriber_id).where(Subscriber.email == email)
            .order_by(Digest.edition_date, DigestItem.rank)).all())


def bodies(sender: MemorySender, email: str) -> tuple[str, str]:
    """The text and HTML parts of the last message sent to `email`."""
    raw = [data for _, to, data in sender.sent if to == email][-1]
    mail = message_from_bytes(raw, policy=policy.default)
    return mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()


def test_the_capture_offers_its_new_and_cross_listed_papers_and_none_of_its_revisions(settings):
    ingest_capture(settings)
    add(settings, "ada@example.org")
    with session_factory(settings.database_url)() as session:
        candidates, _ = editions.get_candidates(session, THU + dt.timedelta(hours=5), settings.candidate_days)
    assert Counter(c.announce_type for c in candidates) == {"new": 926, "replace": 569, "cross": 9}
    selection, picks, _ = select_for(settings, "ada@example.org", THU + dt.timedelta(hours=5))
    assert len(picks) == 50
    # Before: 24 of these 50 were new versions of papers first announced weeks or years ago.
    assert Counter(announce_type(selection, p) for p in picks) == {"new": 50}


def test_papers_stored_before_the_first_announcement_was_kept_are_judged_by_the_same_rules(settings):
    ingest_capture(settings)
    with session_factory(settings.database_url).begin() as session:
        session.execute(update(Paper).values(first_announced_at=None, revised_at=None))
    editions._CANDIDATES.clear()  # the rows changed behind the fingerprint's back
    add(settings, "ada@example.org")
    selection, picks, _ = select_for(settings, "ada@example.org", THU + dt.timedelta(hours=5))
    assert len(picks) == 50 and Counter(announce_type(selection, p) for p in picks) == {"new": 50}


def test_the_old_rdf_format_leaves_out_its_updated_entries(settings):
    wednesday = dt.datetime(2012, 9, 12, 2, 0, tzinfo=UTC)
    ingest_capture(settings, wednesday, [RDF], "arxiv-rdf")
    add(settings, "kolmogorov@example.org", ["random walks", "Brownian motion", "stochastic processes", "graphs"],
        when=wednesday)
    selection, picks, _ = select_for(settings, "kolmogorov@example.org", wednesday + dt.timedelta(hours=5))
    assert picks and Counter(announce_type(selection, p) for p in picks) == {"new": len(picks)}


def test_a_reader_who_asked_for_updates_gets_relevant_revisions_in_their_own_block_once(settings):
    ingest_capture(settings)
    add(settings, "ada@example.org")
    add(settings, "bob@example.org", updates=True)
    sender = MemorySender()
    jobs.send_due(settings, THU + dt.timedelta(hours=5), respect_hour=True, sender=sender)
    text, html = bodies(sender, "bob@example.org")
    assert "== Updated: new versions of papers announced before this edition ==" in text
    assert 'class="topic updated"' in html and "· 5 updated" in text
    bob = items(settings, "bob@example.org")
    updated = [(key, version) for _, key, is_updated, version in bob if is_updated]
    assert len(updated) == 5 and all(version >= 2 for _, version in updated)
    assert [is_updated for *_, is_updated, _ in bob] == [False] * 50 + [True] * 5  # the block comes last
    ada_text, ada_html = bodies(sender, "ada@example.org")
    assert "Updated" not in ada_text and 'class="topic updated"' not in ada_html
    assert not any(is_updated for *_, is_updated, _ in items(settings, "ada@example.org"))
    # Friday: one more new paper; the same revisions are inside the window, and are not shown again.
    add_new_paper(settings, "arxiv:2411.19999", THU + dt.timedelta(days=1))
    jobs.send_due(settings, THU + dt.timedelta(days=1, hours=5), respect_hour=True, sender=sender)
    friday = [(key, is_updated) for date, key, is_updated, _ in items(settings, "bob@example.org")
              if date == dt.date(2024, 11, 29)]
    assert ("arxiv:2411.19999", False) in friday
    assert {key for key, is_updated in friday if is_updated}.isdisjoint(key for key, _ in updated)
    keys = [key for _, key, _, _ in items(settings, "bob@example.org")]
    assert len(keys) == len(set(keys))  # a paper is never sent twice, whichever block it was in


def add_new_paper(settings, key: str, when: dt.datetime) -> None:
    """Friday's announcement: one paper on large language models, so that there is an edition to send."""
    entry = PaperEntry(key=key, title="Tokenizer-free large language models for low-resource scripts", version=1,
                       abstract="We train large language models on raw bytes of twelve low-resource scripts. " * 4,
                       announce_type="new", extra={"announce_type": "new"}, announced_at=when)
    with session_factory(settings.database_url).begin() as session:
        bulk_upsert_papers(session, [entry], "rss", when)


def capture_entry(key: str):
    return next(e for path in CAPTURE for e in parse("arxiv-rss", path.read_bytes()).entries if e.key == key)


def test_a_paper_sent_earlier_comes_back_once_as_updated_and_a_cross_list_once(settings):
    # Tuesday: both papers announced as new (the capture has them on Thursday as a v2 and as a cross-list).
    tuesday = THU - dt.timedelta(days=2)
    revised, crossed = capture_entry("arxiv:2411.15785"), capture_entry("arxiv:2411.16552")
    first = [dataclasses.replace(entry, version=1, announce_type="new", extra={"announce_type": "new"},
                                 announced_at=tuesday) for entry in (revised, crossed)]
    with session_factory(settings.database_url).begin() as session:
        bulk_upsert_papers(session, first, "cs-rss", tuesday)
    add(settings, "ada@example.org", ["large language models", "personalization"], when=tuesday)
    sender = MemorySender()
    jobs.send_due(settings, tuesday + dt.timedelta(hours=5), respect_hour=True, sender=sender)
    assert {key for _, key, _, _ in items(settings, "ada@example.org")} == {revised.key, crossed.key}
    ingest_capture(settings)  # Thursday: 2411.15785 v2 (replace), 2411.16552 cross-listed
    add(settings, "bea@example.org", ["large language models", "personalization"])
    jobs.send_due(settings, THU + dt.timedelta(hours=5), respect_hour=True, sender=sender)
    thursday = [row for row in items(settings, "ada@example.org") if row[0] == THU.date()]
    assert [(key, version) for _, key, is_updated, version in thursday if is_updated] == [(revised.key, 2)]
    assert crossed.key not in [key for _, key, _, _ in thursday]  # same version, already sent: not again
    text, _ = bodies(sender, "ada@example.org")
    assert "New version (v2) of a paper you got as v1" in text
    # A reader who never got them: both were first announced inside the window, so both are new to her, once.
    bea = [(key, is_updated) for _, key, is_updated, _ in items(settings, "bea@example.org")]
    assert (revised.key, False) in bea and (crossed.key, False) in bea
    add_new_paper(settings, "arxiv:2411.19998", THU + dt.timedelta(days=1))
    jobs.send_due(settings, THU + dt.timedelta(days=1, hours=5), respect_hour=True, sender=sender)
    for email in ("ada@example.org", "bea@example.org"):
        keys = [key for _, key, _, _ in items(settings, email)]
        assert keys.count(revised.key) <= 2 and keys.count(crossed.key) == 1
        assert "arxiv:2411.19998" in keys
    assert [key for _, key, _, _ in items(settings, "ada@example.org")].count(revised.key) == 2  # v1, then v2


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
