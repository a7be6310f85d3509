"""A delivery batch costs a fixed number of statements plus one per message sent (zulip-style pin)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import event

from digest import jobs
from digest.db import get_engine, session_factory
from digest.ingest import seeds_spec
from digest.delivery.senders import MemorySender
from digest.subscriptions import subscribe, validate_preferences

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.timezone.utc)
TOPICS = ["LLM quantization", "efficient attention", "sparse matrices", "quantum algorithms"]


def statements_to_deliver(settings, first: int, n: int) -> tuple[int, int]:
    with session_factory(settings.database_url).begin() as session:
        for i in range(first, first + n):
            subscribe(session, f"r{i}@example.org", validate_preferences(topics=[TOPICS[i % 4]], send_hour=0), NOW)
    batches = jobs.plan_manual(settings, NOW, emails=[f"r{i}@example.org" for i in range(first, first + n)])
    seen: list[str] = []
    engine = get_engine(settings.database_url)
    listener = lambda *args: seen.append(args[2])  # noqa: E731  (statement text)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        sender = MemorySender()
        for ids in batches:
            report = jobs.deliver_ids(settings, ids, NOW, sender=sender)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert report.counts["sent"] == n
    return len(seen), len(sender.sent)


def test_statements_grow_by_one_per_message(settings):
    jobs.run_ingest(settings, [seeds_spec()], NOW)
    small, sent_small = statements_to_deliver(settings, 0, 4)
    large, sent_large = statements_to_deliver(settings, 100, 24)
    assert (sent_small, sent_large) == (4, 24)
    # Claim, load, rank inputs and items are per batch; each sent message adds its one UPDATE.
    assert large - small <= 20 * 1, (small, large)
    assert small <= 20, small
