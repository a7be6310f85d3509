"""The daily job and the demo, composed from the stages. The CLI and Celery call these."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from sqlalchemy import select

from digest import delivery, embeddings, features, ingest
from digest.config import Settings
from digest.db import ensure_schema, session_factory
from digest.delivery.editions import WEEKLY_WINDOW_DAYS
from digest.delivery.senders import Sender, make_sender
from digest.models import Source
from digest.resources import resource_dir
from digest.subscriptions import (SubscriptionError, get_subscriber, normalise_email, subscribe,
                                  validate_preferences)

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    ingested: list[ingest.IngestSummary] = field(default_factory=list)
    delivery: delivery.DeliveryReport = field(default_factory=delivery.DeliveryReport)


def configured_specs(settings: Settings, session) -> list[ingest.SourceSpec]:
    """DIGEST_SOURCES entries, then sources added with `digest sources add`."""
    # Configured, so never one-off: a failure is recorded as the source's health.
    specs = [replace(ingest.resolve_spec(session, text), one_off=False) for text in settings.sources]
    names = {s.name for s in specs}
    for source in session.scalars(select(Source).order_by(Source.name)):
        if source.added and source.name not in names:
            specs.append(ingest.SourceSpec(source.name, source.url, source.kind))
    return specs


def run_ingest(settings: Settings, specs: list[ingest.SourceSpec], now: dt.datetime,
               on_done: Callable[[ingest.IngestSummary], None] | None = None) -> list[ingest.IngestSummary]:
    """Ingest each source in its own transaction: one bad source never stops the rest.

    Once a source's papers are committed, the recent papers without a sentence embedding get one
    (outside that transaction: the model is slow enough to keep other writers waiting)."""
    ensure_schema(settings.database_url)
    factory = session_factory(settings.database_url)
    summaries = []
    for spec in specs:
        with factory.begin() as session:
            summary = ingest.ingest_source(session, spec, now)
        summaries.append(summary)
        if on_done:
            on_done(summary)
        if summary.new or summary.updated:
            embeddings.fill_missing(factory, since=now - dt.timedelta(days=features.INGEST_DAYS))
    return summaries


def plan_manual(settings: Settings, now: dt.datetime, *, respect_hour: bool = False,
                emails: list[str] | None = None, edition_date: dt.date | None = None,
                force: bool = False, report: delivery.DeliveryReport | None = None) -> list[list[int]]:
    """Plan the digests a by-hand send covers; committed batches of ids to deliver.

    `report`, when given, learns how many subscribers were due and which of
    their editions earlier runs already handled (so a run that sends nothing
    can say why).
    """
    ensure_schema(settings.database_url)
    with session_factory(settings.database_url)() as session:
        def due_now(include_finished: bool):
            return delivery.get_due(session, now, respect_hour=respect_hour, emails=emails,
                                    edition_date=edition_date, include_finished=include_finished)

        scheduled = respect_hour and not force and edition_date is None
        # Read before a scheduled plan, which moves the send time of finished editions on.
        everyone = due_now(True) if report is not None and scheduled else None
        if scheduled:
            ids = delivery.bulk_plan_scheduled(session, now, emails=emails)
        else:
            if force:
                delivery.reset_for_resend(session, due_now(True), now, settings.from_address.domain)
            ids = delivery.bulk_plan(session, due_now(False), now)
        if report is not None:
            everyone = due_now(True) if everyone is None else everyone
            report.due, report.earlier = len(everyone), delivery.get_earlier(session, everyone, now)
    return chunked(ids, settings.batch_size)


def send_due(settings: Settings, now: dt.datetime, *, respect_hour: bool, emails: list[str] | None = None,
             edition_date: dt.date | None = None, force: bool = False,
             sender: Sender | None = None) -> delivery.DeliveryReport:
    """Plan and deliver, in this process, every due digest (or those of `emails`).

    The sender is checked first (SenderUnavailable): a sender that cannot work
    must not leave planned or claimed rows behind.
    """
    sender = sender or make_sender(settings)
    sender.check()
    report = delivery.DeliveryReport()
    batches = plan_manual(settings, now, respect_hour=respect_hour, emails=emails, edition_date=edition_date,
                          force=force, report=report)
    factory = session_factory(settings.database_url)
    for ids in batches:
        delivery.deliver(settings, factory, ids, now, sender, report)
    sender.close()
    return report


def get_sources_due(settings: Settings, session, now: dt.datetime) -> list[ingest.SourceSpec]:
    """Configured sources not attempted within DIGEST_INGEST_INTERVAL_MINUTES."""
    cutoff = now - dt.timedelta(minutes=settings.ingest_interval_minutes)
    last = dict(session.execute(select(Source.name, Source.last_attempt_at)).all())
    return [spec for spec in configured_specs(settings, session)
            if last.get(spec.name) is None or last[spec.name] <= cutoff]


def chunked(ids: list[int], size: int) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def ingest_due(settings: Settings, now: dt.datetime) -> list[ingest.IngestSummary]:
    """Ingest the configured sources not read within DIGEST_INGEST_INTERVAL_MINUTES."""
    ensure_schema(settings.database_url)
    with session_factory(settings.database_url)() as session:
        specs = get_sources_due(settings, session, now)
    return run_ingest(settings, specs, now) if specs else []


def plan_tick(settings: Settings, now: dt.datetime) -> list[list[int]]:
    """One scheduler tick: plan due digests with the papers already stored.

    Ingestion is not part of it (the scheduler runs `ingest_due` as a task of
    its own), so a source that hangs never holds up planning and sending.
    Returns the pending digest ids in batches; the rows are committed before
    this returns, so the caller may enqueue them at once.
    """
    ensure_schema(settings.database_url)
    with session_factory(settings.database_url)() as session:
        ids = delivery.bulk_plan_scheduled(session, now)
    return chunked(ids, settings.batch_size)


def plan_sweep(settings: Settings, now: dt.datetime) -> list[list[int]]:
    """Rows to hand to a worker again: an expired lease (a worker died) or pending too long (a lost task)."""
    ensure_schema(settings.database_url)
    with session_factory(settings.database_url)() as session:
        ids = delivery.get_stalled(session, now, settings.stale_seconds)
    return chunked(ids, settings.batch_size)


def expire_pending(settings: Settings, now: dt.datetime) -> int:
    """Delete sign-ups left unconfirmed for DIGEST_PENDING_DAYS days."""
    from digest.subscriptions import bulk_expire_pending

    ensure_schema(settings.database_url)
    with session_factory(settings.database_url).begin() as session:
        return bulk_expire_pending(session, now, settings.pending_days)


def prune_features(settings: Settings, now: dt.datetime) -> int:
    """Drop the ranking features of papers older than every edition's window (they are refilled if needed)."""
    ensure_schema(settings.database_url)
    keep_days = max(settings.candidate_days, WEEKLY_WINDOW_DAYS) + 1
    with session_factory(settings.database_url).begin() as session:
        return features.prune(session, now - dt.timedelta(days=keep_days))


def prune_digests(settings: Settings, now: dt.datetime, keep_days: int | None = None) -> tuple[int, int]:
    """Prune digests (and items) older than DIGEST_KEEP_DAYS, keeping what they sent; (digests, items) deleted.

    Nothing is pruned while DIGEST_KEEP_DAYS is 0 (the default) and no `keep_days` is given.
    """
    from digest.delivery.retention import bulk_prune

    keep_days = settings.keep_days if keep_days is None else keep_days
    if not keep_days:
        return 0, 0
    ensure_schema(settings.database_url)
    with session_factory(settings.database_url).begin() as session:
        return bulk_prune(session, (now - dt.timedelta(days=keep_days)).date())


def deliver_ids(settings: Settings, ids: list[int], now: dt.datetime, sender: Sender | None = None,
                should_stop: Callable[[], bool] | None = None) -> delivery.DeliveryReport:
    """Deliver one batch of planned digests over one sender connection."""
    ensure_schema(settings.database_url)
    return delivery.deliver(settings, session_factory(settings.database_url), ids, now,
                            sender or make_sender(settings), should_stop=should_stop)


def run_daily(settings: Settings, now: dt.datetime, sender: Sender | None = None) -> RunReport:
    """The daily job: ingest every configured source, then deliver every digest that is due."""
    ensure_schema(settings.database_url)
    with session_factory(settings.database_url)() as session:
        specs = configured_specs(settings, session)
    report = RunReport()
    report.ingested = run_ingest(settings, specs, now)
    report.delivery = send_due(settings, now, respect_hour=True, sender=sender)
    return report


def load_sample_subscribers(settings: Settings, now: dt.datetime, path: Path | None = None) -> int:
    """Add the sample subscribers from seeds/ (or `path`) that are missing (confirmed); return how many.

    A row whose address the entry points would refuse is skipped with a warning:
    one bad row never stops the rest, and never reaches a header.
    """
    ensure_schema(settings.database_url)
    path = path or resource_dir("seeds") / "subscribers.json"
    rows = json.loads(path.read_text(encoding="utf-8"))
    created = 0
    with session_factory(settings.database_url).begin() as session:
        for row in rows:
            try:
                address = normalise_email(str(row.get("email", "")))
            except SubscriptionError as exc:
                log.warning("%s: sample subscriber skipped: %s", path.name, exc)
                continue
            if get_subscriber(session, address) is not None:
                continue  # never undo what an operator changed (e.g. an unsubscribe)
            prefs = validate_preferences(
                topics=row.get("topics", []), categories=row.get("categories", []), exclude=row.get("exclude", []),
                authors=row.get("authors", []), timezone=row.get("timezone", "UTC"),
                send_hour=row.get("send_hour", 7), max_papers=row.get("max_papers", 10),
            )
            subscribe(session, address, prefs, now, name=row.get("name", ""), confirmed=True)
            created += 1
    return created


def run_demo(settings: Settings, now: dt.datetime, sender: Sender | None = None) -> RunReport:
    """Embedded-defaults end to end: seeds in, sample subscribers, every digest of today out."""
    report = RunReport()
    report.ingested = run_ingest(settings, [ingest.seeds_spec()], now)
    load_sample_subscribers(settings, now)
    report.delivery = send_due(settings, now, respect_hour=False, sender=sender)
    return report
