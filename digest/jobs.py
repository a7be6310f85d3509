"""The daily job and the demo, composed from the stages. The CLI and Celery call these."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import select

from digest import delivery, ingest
from digest.config import Settings
from digest.db import ensure_schema, session_factory
from digest.mail import Sender, make_sender
from digest.models import Source
from digest.resources import resource_dir
from digest.subscriptions import get_subscriber, subscribe, validate_preferences


@dataclass
class RunReport:
    ingested: list[ingest.IngestSummary] = field(default_factory=list)
    delivery: delivery.DeliveryReport = field(default_factory=delivery.DeliveryReport)


def configured_specs(settings: Settings, session) -> list[ingest.SourceSpec]:
    """DIGEST_SOURCES entries, then sources added with `digest sources add`."""
    specs = [ingest.resolve_spec(session, text) for text in settings.sources]
    names = {s.name for s in specs}
    for source in session.scalars(select(Source).order_by(Source.name)):
        if source.added and source.name not in names:
            specs.append(ingest.SourceSpec(source.name, source.url, source.kind))
    return specs


def run_ingest(settings: Settings, specs: list[ingest.SourceSpec], now: dt.datetime,
               on_done: Callable[[ingest.IngestSummary], None] | None = None) -> list[ingest.IngestSummary]:
    """Ingest each source in its own transaction: one bad source never stops the rest."""
    ensure_schema(settings.database_url)
    factory = session_factory(settings.database_url)
    summaries = []
    for spec in specs:
        with factory.begin() as session:
            summary = ingest.ingest_source(session, spec, now)
        summaries.append(summary)
        if on_done:
            on_done(summary)
    return summaries


def send_due(settings: Settings, now: dt.datetime, *, respect_hour: bool, emails: list[str] | None = None,
             edition_date: dt.date | None = None, force: bool = False, sender: Sender | None = None,
             batch_size: int = 200) -> delivery.DeliveryReport:
    """Plan and deliver every due digest (or those of `emails`)."""
    ensure_schema(settings.database_url)
    factory = session_factory(settings.database_url)
    with factory() as session:
        due = delivery.get_due(session, now, respect_hour=respect_hour, emails=emails, edition_date=edition_date)
        if force:
            delivery.reset_for_resend(session, due, now)
        ids = delivery.bulk_plan(session, due, now)
    report = delivery.DeliveryReport()
    sender = sender or make_sender(settings)
    for start in range(0, len(ids), batch_size):
        delivery.deliver(settings, factory, ids[start : start + batch_size], now, sender, report)
    sender.close()
    return report


def run_daily(settings: Settings, now: dt.datetime, sender: Sender | None = None) -> RunReport:
    """The daily job: ingest every configured source, then deliver every digest that is due."""
    ensure_schema(settings.database_url)
    with session_factory(settings.database_url)() as session:
        specs = configured_specs(settings, session)
    report = RunReport()
    report.ingested = run_ingest(settings, specs, now)
    report.delivery = send_due(settings, now, respect_hour=True, sender=sender)
    return report


def load_sample_subscribers(settings: Settings, now: dt.datetime) -> int:
    """Add the sample subscribers from seeds/ that are missing (confirmed); return how many."""
    ensure_schema(settings.database_url)
    rows = json.loads((resource_dir("seeds") / "subscribers.json").read_text(encoding="utf-8"))
    created = 0
    with session_factory(settings.database_url).begin() as session:
        for row in rows:
            if get_subscriber(session, row["email"]) is not None:
                continue  # never undo what an operator changed (e.g. an unsubscribe)
            prefs = validate_preferences(
                topics=row.get("topics", []), categories=row.get("categories", []), exclude=row.get("exclude", []),
                authors=row.get("authors", []), timezone=row.get("timezone", "UTC"),
                send_hour=row.get("send_hour", 7), max_papers=row.get("max_papers", 10),
            )
            subscribe(session, row["email"], prefs, now, name=row.get("name", ""), confirmed=True)
            created += 1
    return created


def run_demo(settings: Settings, now: dt.datetime, sender: Sender | None = None) -> RunReport:
    """Embedded-defaults end to end: seeds in, sample subscribers, every digest of today out."""
    report = RunReport()
    report.ingested = run_ingest(settings, [ingest.seeds_spec()], now)
    load_sample_subscribers(settings, now)
    report.delivery = send_due(settings, now, respect_hour=False, sender=sender)
    return report
