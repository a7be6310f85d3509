"""Commands that send: `send`, `preview`, `run`, `demo`."""

from __future__ import annotations

import time
from pathlib import Path

import click

from digest.cli.common import (UserError, delivering, now_utc, open_sessions, parse_date,
                               print_delivery, safe_url, settings_of)
from digest.cli.sources import fail_if_any_source_failed, ingest_with_progress


@click.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Run the daily job on embedded defaults: bundled seeds, sample subscribers, outbox.

    Ingests seeds/, adds the sample subscribers at example.org, ranks, renders
    and delivers today's digests (to the outbox folder unless DIGEST_SMTP_URL
    is set). Running it again the same day sends nothing new.

    \b
    Example:
      digest demo && xdg-open digest-data/outbox/index.html
    """
    from digest.jobs import run_demo

    settings = settings_of(ctx)
    started = time.perf_counter()
    report = delivering(lambda: run_demo(settings, now_utc()))
    for summary in report.ingested:
        click.echo(f"ingested {summary.line()}")
    print_delivery(report.delivery)
    if settings.uses_outbox:
        click.echo(f"outbox: {(settings.outbox_dir / 'index.html').resolve()}")
    click.echo(f"done in {time.perf_counter() - started:.1f}s")
    if not report.delivery.all_handled:
        ctx.exit(1)


@click.command()
@click.pass_context
def run(ctx) -> None:
    """The daily job: ingest every configured source, then deliver every digest that is due.

    A digest is due once a day, at or after the subscriber's local send hour.
    Exit status 1 when a source could not be read (the digests are still sent), or
    when a digest failed or is left for a later retry.

    \b
    Example:
      digest run            # e.g. from cron every 15 minutes, or let `celery beat` do it
    """
    from digest.jobs import configured_specs, send_due

    settings = settings_of(ctx)
    with open_sessions(settings)() as session:
        specs = configured_specs(settings, session)
    summaries = ingest_with_progress(settings, specs)
    report = delivering(lambda: send_due(settings, now_utc(), respect_hour=True))
    print_delivery(report)
    fail_if_any_source_failed(summaries)
    if not report.all_handled:
        ctx.exit(1)


@click.command()
@click.option("--date", "date_text", help="Edition date (YYYY-MM-DD); default: each subscriber's local today.")
@click.option("--to", "emails", multiple=True, help="Only this subscriber; repeat for several.")
@click.option("--dry-run", is_flag=True, help="Show who would get which papers; send and record nothing.")
@click.option("--force", is_flag=True, help="Send again even if this edition was already sent.")
@click.option("--enqueue", is_flag=True, help="Queue the batches on the Celery workers instead of sending here.")
@click.pass_context
def send(ctx, date_text, emails, dry_run, force, enqueue) -> None:
    """Trigger the digest by hand, for everyone or for one subscriber, whatever the hour.

    Exits 0 when every due digest was handled (sent, skipped or suppressed),
    1 when any failed or is left for a later retry (the summary says which).

    \b
    Example:
      digest send --to ada@example.org --dry-run
      digest send --enqueue          # let the running workers do it
    """
    from digest import subscriptions as subs
    from digest.jobs import send_due
    settings = settings_of(ctx)
    edition = parse_date(date_text)
    for email in emails:
        try:
            subs.normalise_email(email)
        except subs.SubscriptionError as exc:
            raise UserError(str(exc)) from None
    factory = open_sessions(settings)
    if emails:
        with factory() as session:
            missing = [e for e in emails if subs.get_subscriber(session, e) is None]
        if missing:
            raise UserError(f"no subscriber {missing[0]!r}")
    if dry_run:
        _dry_run(settings, factory, list(emails), edition)
        return
    if enqueue:
        _enqueue(settings, list(emails) or None, edition, force)
        return
    report = delivering(lambda: send_due(settings, now_utc(), respect_hour=False, emails=list(emails) or None,
                                          edition_date=edition, force=force))
    print_delivery(report)
    if not report.all_handled:
        ctx.exit(1)


def _enqueue(settings, emails, edition, force) -> None:
    from digest.delivery.report import DeliveryReport, plural
    from digest.jobs import plan_manual

    # The CLI is the one place in digest/ that reaches for the scheduler,
    # and only here: the library itself never depends on Celery.
    from scheduler.tasks import check_broker, enqueue_batches

    broker = f"DIGEST_BROKER_URL={safe_url(settings.broker_url)}"
    try:
        check_broker(settings.broker_url)  # before planning: an unreachable broker leaves no rows behind
    except Exception as exc:  # noqa: BLE001 - any failure to reach it reads the same to the operator
        raise click.ClickException(f"cannot reach the broker at {broker} ({exc}); nothing was planned: "
                                   f"start it, fix the setting, or send from here with `digest send`") from None
    report = DeliveryReport()
    batches = plan_manual(settings, now_utc(), emails=emails, edition_date=edition, force=force, report=report)
    if not batches:
        click.echo(report.summary())
        return
    try:
        count = enqueue_batches(batches)
    except Exception as exc:  # noqa: BLE001 - lost the broker after the check: the sweeper owns what is planned
        raise click.ClickException(f"lost the broker at {broker} while queueing ({exc}); the digests not queued "
                                   "stay pending: the scheduler's sweeper queues them, or `digest send` sends "
                                   "them from here") from None
    click.echo(f"queued {plural(count, 'digest')} in {plural(len(batches), 'batch', 'batches')} on {broker}")


def _dry_run(settings, factory, emails, edition) -> None:
    from digest.delivery.preview import get_picks

    now = now_utc()
    with factory() as session:
        for subscriber, date, picks, papers, skip, state, updated in get_picks(settings, session, now, emails,
                                                                                edition):
            head = f"{subscriber.email} ({date}):"
            if state:
                _finished(session, head, subscriber.id, date)
                continue
            if not picks:
                click.echo(f"{head} would be skipped ({skip})")
                continue
            click.echo(f"{head} would get {len(picks)} papers" + (f" and {len(updated)} updated" if updated else ""))
            _list_picks([(p.score, papers[p.paper_id].title, p.reason) for p in picks],
                        [(papers[p.paper_id].title, p.reason) for p in updated])


def _finished(session, head: str, subscriber_id: int, date) -> None:
    """What a finished edition was: the papers it sent and why, or why it sent none."""
    from digest.history import get_digest

    done = get_digest(session, subscriber_id, date)
    if done.state != "sent":
        click.echo(f"{head} already {done.state}" + (f" ({done.reason})" if done.reason else "") +
                   "; nothing would be sent (use --force)")
        return
    when = f" at {done.sent_at:%Y-%m-%d %H:%M} UTC" if done.sent_at else ""
    click.echo(f"{head} already sent{when}, {len(done.picks)} papers" +
               (f" and {len(done.updated)} updated" if done.updated else "") +
               "; nothing would be sent (use --force). It held:")
    _list_picks([(i.score, done.papers[i.paper_id].title, i.reason) for i in done.picks],
                [(done.papers[i.paper_id].title, i.reason) for i in done.updated])


def _list_picks(picks: list[tuple[float, str, str]], updated: list[tuple[str, str]]) -> None:
    """Papers best score first, then the Updated block."""
    for n, (score, title, reason) in enumerate(sorted(picks, key=lambda p: -p[0]), 1):
        click.echo(f"  {n:2}. [{score:.2f}] {title[:90]}  — {reason}")
    if updated:
        click.echo("  Updated (new versions of papers announced before this edition):")
    for title, reason in updated:
        click.echo(f"   ↻ {title[:90]}  — {reason}")


@click.command()
@click.argument("email")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="HTML file to write (default: preview-<email>.html).")
@click.pass_context
def preview(ctx, email, out) -> None:
    """Write EMAIL's digest as an HTML file, without sending or recording anything.

    \b
    Example:
      digest preview ada@example.org --out /tmp/ada.html
    """
    import re

    from digest import subscriptions as subs
    from digest.delivery.preview import render_preview

    settings = settings_of(ctx)
    try:
        subs.normalise_email(email)
    except subs.SubscriptionError as exc:
        raise UserError(str(exc)) from None
    with open_sessions(settings)() as session:
        subscriber = subs.get_subscriber(session, email)
        if subscriber is None:
            raise UserError(f"no subscriber {email!r}")
        rendered, count, skip = render_preview(settings, session, subscriber, now_utc())
    # An address may hold '/' or other characters a file name must not: the default name keeps a safe subset.
    path = Path(out or f"preview-{re.sub(r'[^A-Za-z0-9@._+-]', '_', subscriber.email_key)}.html")
    _write_whole(path, rendered.html)
    click.echo(f"{count} papers; subject: {rendered.subject}" if count else f"no papers: it would be skipped ({skip})")
    click.echo(f"wrote {path.resolve()}")


def _write_whole(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder, then rename: never a half-written file at `path`."""
    import os
    import tempfile

    if path.exists() and not path.is_file():  # a device or folder is never replaced by a rename (/dev/full)
        raise click.ClickException(f"cannot write {path}: not a regular file; choose a file path with --out")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc} (is {path.parent} a writable folder?)") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None
