"""A reader with a few days of history, made by the real pipeline: ingest, rank, render, deliver.

Friday 31 July 2026 brings arXiv API papers (comments, categories) and the day's
Hugging Face papers (upvotes, stars); Ada gets a digest, Bob another. Saturday
and Sunday have nothing new (arXiv does not announce), Monday brings one paper
on nobody's topics (nothing above the relevance floor).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from digest import jobs
from digest.db import ensure_schema, session_factory
from digest.delivery.senders import MemorySender
from digest.ingest import SourceSpec, bulk_upsert_papers, ingest_source
from digest.sources import PaperEntry
from digest.subscriptions import subscribe, validate_preferences
from helpers import FIXTURES

UTC = dt.timezone.utc
FRIDAY = dt.datetime(2026, 7, 31, 12, tzinfo=UTC)
DAYS = [FRIDAY.date() + dt.timedelta(days=n) for n in range(4)]  # Fri, Sat, Sun, Mon
SOURCES = [SourceSpec("arxiv-api", str(FIXTURES / "arxiv-api" / "api-new_2026-08-02_cat-cs.AI-LG-CL_25.xml"),
                      "arxiv-api"),
           SourceSpec("hf-daily", str(FIXTURES / "hf-daily" / "hf_daily_papers_2026-07-31_raw.json"), "hf-daily")]
CROSS_LIST = PaperEntry(
    key="arxiv:2607.29001", title="Policy gradients for language model agents converge on convex action sets",
    abstract="We study reinforcement learning for language model agents whose actions form a convex set. "
             "Policy gradient methods converge at a linear rate under a weak gradient domination condition. "
             "Experiments on tool use benchmarks confirm the rate.",
    authors=["Grace Hopper", "Ada Byron", "Alan Turing", "Kurt Gödel", "Yann LeCun", "Emmy Noether"],
    categories=["math.OC", "cs.LG", "cs.AI"], url="https://arxiv.org/abs/2607.29001",
    pdf_url="https://arxiv.org/pdf/2607.29001", version=1, announced_at=dt.datetime(2026, 7, 31, 4, tzinfo=UTC),
    announce_type="cross", extra={"announce_type": "cross", "primary_category": "math.OC",
                                  "journal_ref": "NeurIPS 2026 (spotlight)"})
OFF_TOPIC = PaperEntry(key="arxiv:2608.00001", title="Tidal heating of icy moons",
                       abstract="We model tidal dissipation in icy satellites of the outer planets. " * 4)


@dataclass
class History:
    settings: object
    ada: int
    bob: int
    sender: MemorySender = field(default_factory=MemorySender)

    def mail(self, email: str):
        from email import message_from_bytes, policy

        data = next(d for _, to, d in self.sender.sent if to == email)
        return message_from_bytes(data, policy=policy.default)


def make_history(settings) -> History:
    ensure_schema(settings.database_url)
    factory = session_factory(settings.database_url)
    with factory.begin() as session:
        for spec in SOURCES:
            ingest_source(session, spec, FRIDAY - dt.timedelta(hours=6))
        bulk_upsert_papers(session, [CROSS_LIST], "arxiv-rss", FRIDAY - dt.timedelta(hours=6))
        joined = FRIDAY - dt.timedelta(days=30)
        ada = subscribe(session, "ada@example.org", validate_preferences(
            topics=["language models", "reinforcement learning"], authors=["Y. LeCun"], send_hour=7,
            timezone="Europe/Berlin", max_papers=8), joined)[0].id
        bob = subscribe(session, "bob@example.org", validate_preferences(
            topics=["robot control", "control barrier functions"], send_hour=7, timezone="Europe/Berlin", max_papers=3), joined)[0].id
    history = History(settings, ada, bob)
    for n, day in enumerate(DAYS):
        if day.weekday() == 0:
            with factory.begin() as session:
                bulk_upsert_papers(session, [OFF_TOPIC], "rss", FRIDAY + dt.timedelta(days=n - 1))
        jobs.send_due(settings, FRIDAY + dt.timedelta(days=n), respect_hour=True, sender=history.sender)
    return history
