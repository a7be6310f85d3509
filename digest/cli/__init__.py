"""The `digest` command: a thin click layer. Each command opens the database,
calls one library function, and prints; user mistakes become one-line errors
with exit status 2."""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

import click

from digest import __version__
from digest.config import ConfigError, EnvironmentProblem, Settings, load_settings


SOURCE_COLUMNS = ["source", "kind", "last success", "status", "failures", "last counts / error"]


class UserError(click.ClickException):
    """A mistake of the user's: one line on stderr, exit status 2."""

    exit_code = 2


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def settings_of(ctx: click.Context) -> Settings:
    return ctx.find_root().obj


def table(rows: list[list], headers: list[str]) -> str:
    """Left-aligned plain-text table."""
    cells = [[str(c) for c in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class DigestGroup(click.Group):
    """The root group: the one place where environment failures become one line and exit status 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - only environment failures are translated; the rest re-raised
            message = _environment_message(ctx, exc)
            if message is None:
                raise
            raise click.ClickException(message) from None


def _environment_message(ctx: click.Context, exc: Exception) -> str | None:
    """One line for a database or path the machine cannot serve, naming the setting; None for anything else."""
    from sqlalchemy import exc as sa_exc

    from digest.db import unavailable

    settings = ctx.obj if isinstance(ctx.obj, Settings) else None
    if isinstance(exc, EnvironmentProblem):
        return str(exc)
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)) and settings is not None:
        return str(unavailable(settings.database_url, exc))  # e.g. the server went away mid-command
    if isinstance(exc, OSError) and exc.filename:
        return f"{_setting_of(settings, exc.filename)}{exc.filename}: {exc.strerror or exc}; check the path and its permissions"
    return None


def _setting_of(settings: Settings | None, filename) -> str:
    """'DIGEST_OUTBOX_DIR=... ' when the path lies in a configured folder, so the user knows what to change."""
    if settings is None:
        return ""
    path = Path(str(filename)).absolute()
    for name, folder in (("DIGEST_OUTBOX_DIR", settings.outbox_dir), ("DIGEST_DATA_DIR", settings.data_dir)):
        folder = folder.absolute()
        if path == folder or folder in path.parents:
            return f"{name}={folder}: "
    return ""


@click.group(cls=DigestGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="digest")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """digest: emails each subscriber the new research papers that matter to them.

    \b
    Example:
      digest demo          # seeds in, sample subscribers, emails in the outbox
    """
    try:
        ctx.obj = load_settings()
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    ctx.obj.prepare_data_dir()


def _session(settings: Settings):
    from digest.db import ensure_schema, session_factory

    ensure_schema(settings.database_url)
    return session_factory(settings.database_url)


@cli.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create or upgrade the database schema (Alembic migrations).

    Other commands do this implicitly on first use.

    \b
    Example:
      DIGEST_DATABASE_URL=postgresql://localhost/digest digest init
    """
    from digest.db import upgrade

    settings = settings_of(ctx)
    revision = upgrade(settings.database_url)
    click.echo(f"schema at revision {revision}: {_safe_url(settings.database_url)}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@cli.command()
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
    report = _delivering(lambda: run_demo(settings, now_utc()))
    for summary in report.ingested:
        click.echo(f"ingested {summary.line()}")
    _print_delivery(report.delivery)
    if settings.uses_outbox:
        click.echo(f"outbox: {(settings.outbox_dir / 'index.html').resolve()}")
    click.echo(f"done in {time.perf_counter() - started:.1f}s")
    if not report.delivery.all_handled:
        ctx.exit(1)


def _delivering(work):
    """Run a delivering job; a sender that cannot work (outbox not a folder, ...) is one line, exit 1.

    The sender is checked before any row is claimed, so none is left behind.
    """
    from digest.delivery.senders import SenderUnavailable

    try:
        return work()
    except SenderUnavailable as exc:
        raise click.ClickException(str(exc)) from None


def _print_delivery(report) -> None:
    for line in report.lines:
        click.echo(f"  {line}")
    click.echo(report.summary())


@cli.command()
@click.argument("email")
@click.option("--topic", "-t", "topics", multiple=True, help="A topic phrase; repeat for several.")
@click.option("--category", "-c", "categories", multiple=True, help="Only papers in this arXiv category (e.g. cs.LG).")
@click.option("--exclude", "-x", multiple=True, help="Never send papers containing this word.")
@click.option("--author", "authors", multiple=True, help="Always consider papers by this author.")
@click.option("--timezone", "tz", default=None, help="IANA time zone, e.g. Europe/Berlin (default UTC).")
@click.option("--hour", type=click.IntRange(0, 23), default=None, help="Local hour to send at (default 7).")
@click.option("--max-papers", type=click.IntRange(1, 50), default=None, help="At most this many papers (default 10).")
@click.option("--weekly/--daily", "weekly", default=None, help="One roll-up a week instead of daily (or back).")
@click.option("--name", default=None, help="Display name.")
@click.option("--resubscribe", is_flag=True,
              help="For an address that opted out (or never confirmed): email it a new confirmation link.")
@click.pass_context
def subscribe(ctx, email, topics, categories, exclude, authors, tz, hour, max_papers, weekly, name,
              resubscribe) -> None:
    """Add a confirmed subscriber, or change only the given options of an existing one.

    An address that unsubscribed, bounced, complained or was suppressed is
    never re-activated: --resubscribe emails it a new confirmation link, and
    it stays as it is until the person confirms.

    \b
    Example:
      digest subscribe ada@example.org --topic "LLM quantization" --timezone Europe/London --hour 7
      digest subscribe ada@example.org --hour 8        # changes only her hour
    """
    from digest import subscriptions as subs

    settings = settings_of(ctx)
    given = {key: value for key, value in {
        "topics": list(topics) or None, "categories": list(categories) or None, "exclude": list(exclude) or None,
        "authors": list(authors) or None, "timezone": tz, "send_hour": hour, "max_papers": max_papers,
        "cadence": None if weekly is None else "weekly" if weekly else "daily"}.items() if value is not None}
    defaults = {"timezone": settings.default_timezone, "send_hour": settings.default_hour, "max_papers": 10}
    try:
        address = subs.normalise_email(email)
        with _session(settings).begin() as session:
            subscriber = subs.get_subscriber(session, address)
            if resubscribe and (subscriber is None or subscriber.status != "active"):
                _send_resubscription(settings, session, address, given, defaults)
            elif subscriber is None:
                prefs = subs.validate_preferences(**{**defaults, **given})
                subscriber, _ = subs.subscribe(session, address, prefs, now_utc(), name=name or "")
                click.echo(f"subscribed {subscriber.email} (topics: {', '.join(subscriber.topics) or 'none'}; "
                           f"{subscriber.timezone} {subscriber.send_hour:02d}:00)")
            elif subscriber.status != "active":
                raise UserError(f"{subs.describe_status(subscriber)}; use --resubscribe to send them a new "
                                "confirmation")
            else:
                changes = subs.update_subscriber(session, subscriber, given, name=name)
                click.echo(f"updated {subscriber.email}: {'; '.join(changes)}" if changes
                           else f"no change to {subscriber.email}")
    except subs.SubscriptionError as exc:
        raise UserError(str(exc)) from None


def _send_resubscription(settings: Settings, session, address: str, given: dict, defaults: dict) -> None:
    """Mail a new double opt-in link; sent before the commit, so a failed send writes nothing."""
    from digest import subscriptions as subs
    from digest.email.confirmation import build_confirmation, deliver_confirmation
    from digest.delivery.senders import DeliveryError

    now = now_utc()
    subscriber = subs.request_resubscription(session, address, given, defaults, now)
    data = build_confirmation(settings, subscriber, settings.signing_key(), True, now)
    try:
        deliver_confirmation(settings, subscriber.email, data)
    except (DeliveryError, OSError, ValueError) as exc:
        where = "DIGEST_SMTP_URL" if settings.smtp is not None else f"DIGEST_OUTBOX_DIR ({settings.outbox_dir})"
        raise click.ClickException(f"confirmation to {subscriber.email} not sent: {exc}; check {where}") from None
    click.echo(f"sent a new confirmation to {subscriber.email}; it stays {subscriber.status} until they confirm "
               "through the link")


@cli.command()
@click.argument("email")
@click.pass_context
def unsubscribe(ctx, email) -> None:
    """Stop sending to EMAIL (effective before the next send).

    \b
    Example:
      digest unsubscribe ada@example.org
    """
    from digest import subscriptions as subs

    with _session(settings_of(ctx)).begin() as session:
        subscriber = subs.get_subscriber(session, email)
        if subscriber is None:
            raise UserError(f"no subscriber {email!r}")
        changed = subs.unsubscribe(session, subscriber, now_utc())
        click.echo(f"unsubscribed {subscriber.email}" if changed else f"{subscriber.email} was already unsubscribed")


@cli.command()
@click.option("--status", type=click.Choice(["pending", "active", "unsubscribed", "bounced", "complained", "suppressed"]),
              help="Only this status.")
@click.pass_context
def subscribers(ctx, status) -> None:
    """List subscribers as a table.

    \b
    Example:
      digest subscribers --status active
    """
    from sqlalchemy import select

    from digest.models import Subscriber

    with _session(settings_of(ctx))() as session:
        query = select(Subscriber).order_by(Subscriber.email_key)
        if status:
            query = query.where(Subscriber.status == status)
        rows = [[s.email, s.status, "; ".join(s.topics), ", ".join(s.categories) or "-", s.timezone,
                 f"{s.send_hour:02d}:00", s.cadence, s.max_papers] for s in session.scalars(query)]
    if not rows:
        click.echo("no subscribers yet: add one with `digest subscribe EMAIL --topic T`")
        return
    click.echo(table(rows, ["email", "status", "topics", "categories", "timezone", "hour", "cadence", "max"]))


@cli.command()
@click.argument("sources", nargs=-1)
@click.option("--kind", help="Source kind when it cannot be guessed (rss, arxiv-rss, listing, ...).")
@click.pass_context
def ingest(ctx, sources, kind) -> None:
    """Ingest papers from SOURCES: feed URLs, file paths, configured source names, or 'seeds'.

    With no SOURCES, ingests every configured source (DIGEST_SOURCES and `digest sources add`).
    Exit status: 0 when every source was read, 1 when any failed (named on the last line),
    2 for a usage error (nothing is ingested then).

    \b
    Example:
      digest ingest https://rss.arxiv.org/rss/cs.LG ./saved-feed.xml seeds
    """
    from digest import ingest as ingest_mod
    from digest.jobs import configured_specs
    from digest.sources import KINDS

    settings = settings_of(ctx)
    if kind and kind not in KINDS:
        raise UserError(f"unknown kind {kind!r} (known: {', '.join(sorted(KINDS))})")
    try:
        with _session(settings)() as session:
            specs = ([ingest_mod.resolve_spec(session, s, kind) for s in sources] if sources
                     else configured_specs(settings, session))
        for spec in specs:
            if spec.one_off:
                ingest_mod.check_readable(spec)
    except ingest_mod.SourceError as exc:  # checked at the door: nothing ingested, no sources row written
        raise UserError(str(exc)) from None
    if not specs:
        raise UserError("no sources: name one, or set DIGEST_SOURCES")
    summaries = _ingest_with_progress(settings, specs)
    if len(summaries) > 1:
        totals = {k: sum(getattr(s, k) for s in summaries) for k in ("new", "updated", "unchanged", "problems")}
        click.echo(f"total: {totals['new']} new, {totals['updated']} updated, {totals['unchanged']} unchanged, "
                   f"{ingest_mod.plural(totals['problems'], 'problem')}")
    _fail_if_any_source_failed(summaries)


def _fail_if_any_source_failed(summaries) -> None:
    """Exit status 1 naming the sources that could not be read (the others were ingested)."""
    from digest.ingest import plural

    failed = [s.source for s in summaries if s.status == "error"]
    if failed:
        raise click.ClickException(f"{plural(len(failed), 'source')} failed: {', '.join(failed)}")


def _ingest_with_progress(settings, specs):
    from digest.jobs import run_ingest

    summaries = []
    show = sys.stdout.isatty() and len(specs) > 0
    with click.progressbar(length=len(specs), label="ingesting", file=sys.stderr if show else None,
                           hidden=not show) as bar:
        def done(summary):
            bar.update(1)
            summaries.append(summary)

        run_ingest(settings, specs, now_utc(), on_done=done)
    for summary in summaries:
        line = summary.line()
        click.echo(line, err=summary.status == "error")
        for problem in summary.problem_list[:5]:
            click.echo(f"    problem: {problem}")
        if len(summary.problem_list) > 5:
            click.echo(f"    ... and {len(summary.problem_list) - 5} more")
    return summaries


@cli.command()
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
    with _session(settings)() as session:
        specs = configured_specs(settings, session)
    summaries = _ingest_with_progress(settings, specs)
    report = _delivering(lambda: send_due(settings, now_utc(), respect_hour=True))
    _print_delivery(report)
    _fail_if_any_source_failed(summaries)
    if not report.all_handled:
        ctx.exit(1)


def _parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UserError(f"--date: expected YYYY-MM-DD, got {value!r}") from None


@cli.command()
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
    edition = _parse_date(date_text)
    for email in emails:
        try:
            subs.normalise_email(email)
        except subs.SubscriptionError as exc:
            raise UserError(str(exc)) from None
    factory = _session(settings)
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
    report = _delivering(lambda: send_due(settings, now_utc(), respect_hour=False, emails=list(emails) or None,
                                          edition_date=edition, force=force))
    _print_delivery(report)
    if not report.all_handled:
        ctx.exit(1)


def _enqueue(settings, emails, edition, force) -> None:
    from digest.delivery.report import DeliveryReport, plural
    from digest.jobs import plan_manual

    # The CLI is the one place in digest/ that reaches for the scheduler,
    # and only here: the library itself never depends on Celery.
    from scheduler.tasks import check_broker, enqueue_batches

    broker = f"DIGEST_BROKER_URL={_safe_url(settings.broker_url)}"
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
        for subscriber, date, picks, papers, skip, state in get_picks(settings, session, now, emails, edition):
            head = f"{subscriber.email} ({date}):"
            if state:
                click.echo(f"{head} already {state}; nothing would be sent (use --force)")
                continue
            if not picks:
                click.echo(f"{head} would be skipped ({skip})")
                continue
            click.echo(f"{head} would get {len(picks)} papers")
            for n, pick in enumerate(picks, 1):
                click.echo(f"  {n:2}. [{pick.score:.2f}] {papers[pick.paper_id].title[:90]}  — {pick.reason}")


@cli.command()
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
    with _session(settings)() as session:
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


@cli.command()
@click.pass_context
def status(ctx) -> None:
    """Last ingest per source, recent digests by state, failures with their reasons.

    \b
    Example:
      digest status
    """
    from digest.status import get_status

    settings = settings_of(ctx)
    with _session(settings)() as session:
        report = get_status(session, now_utc())
    click.echo("Sources")
    if report.sources:
        click.echo(table(report.sources, SOURCE_COLUMNS))
    else:
        click.echo("  none ingested yet (try `digest ingest seeds`)")
    click.echo(f"\nPapers: {report.papers} ({report.papers_recent} first seen in the last 24 h)")
    click.echo(f"Subscribers: {report.subscribers_text}")
    click.echo("\nDigests")
    if report.digests:
        click.echo(table(report.digests, ["edition", "pending", "sending", "sent", "skipped", "failed", "suppressed"]))
    else:
        click.echo("  none yet")
    if report.oldest_pending:
        click.echo(f"oldest pending: {report.oldest_pending}")
    if report.skips:
        click.echo("\nSkipped")
        for line in report.skips:
            click.echo(f"  {line}")
    if report.failures:
        click.echo("\nFailures")
        for line in report.failures:
            click.echo(f"  {line}")


@cli.group()
def sources() -> None:
    """Manage the sources the daily job ingests.

    \b
    Example:
      digest sources add cs-lg https://rss.arxiv.org/rss/cs.LG
    """


@sources.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--kind", help="Source kind: arxiv-rss, arxiv-api, hf-daily, rss, listing, auto "
                             "(guessed from the URL or the content when omitted).")
@click.option("--no-check", is_flag=True, help="Do not fetch the URL now to check it.")
@click.pass_context
def sources_add(ctx, name, url, kind, no_check) -> None:
    """Add a source NAME at URL (a feed URL or a file path); the URL is fetched once to check it.

    \b
    Example:
      digest sources add cs-lg https://rss.arxiv.org/rss/cs.LG
      digest sources add hf https://huggingface.co/api/daily_papers
    """
    from functools import partial

    from digest.fetch import fetch
    from digest.ingest import SourceError, add_source
    from digest.sources import KINDS, UnknownKind

    if kind is not None and kind not in KINDS:
        raise UserError(f"unknown kind {kind!r} (known: {', '.join(sorted(KINDS))})")
    settings = settings_of(ctx)
    fetcher = None if no_check else partial(fetch, retries=0, connect_timeout=5.0, read_timeout=15.0)
    try:
        with _session(settings).begin() as session:
            source = add_source(session, name, url, kind, now_utc(), fetcher=fetcher)
    except (UnknownKind, SourceError) as exc:
        raise UserError(str(exc)) from None
    click.echo(f"added {source.name} ({source.kind}): {source.url}")


@sources.command("list")
@click.pass_context
def sources_list(ctx) -> None:
    """List sources with their health.

    \b
    Example:
      digest sources list
    """
    from digest.status import get_status

    with _session(settings_of(ctx))() as session:
        report = get_status(session, now_utc())
    if not report.sources:
        click.echo("no sources yet: add one with `digest sources add NAME URL`")
        return
    click.echo(table(report.sources, SOURCE_COLUMNS))


@sources.command("remove")
@click.argument("name")
@click.pass_context
def sources_remove(ctx, name) -> None:
    """Remove source NAME (its papers stay).

    \b
    Example:
      digest sources remove cs-lg
    """
    from digest.ingest import remove_source

    with _session(settings_of(ctx)).begin() as session:
        if not remove_source(session, name):
            raise UserError(f"no source {name!r}")
    click.echo(f"removed {name}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option("--debug", is_flag=True, help="Reload on code changes and show tracebacks (never in production).")
@click.pass_context
def serve(ctx, host, port, debug) -> None:
    """Serve the subscription pages (subscribe, confirm, preferences, unsubscribe) for development.

    In production run gunicorn instead: gunicorn 'digest.web:create_app()'.

    \b
    Example:
      DIGEST_BASE_URL=http://127.0.0.1:8000 digest serve --port 8000
    """
    from digest.web import create_app

    settings = settings_of(ctx)
    if not settings.secret_key:
        click.echo("warning: DIGEST_SECRET_KEY is not set; signing with the key in the data folder", err=True)
    try:
        app = create_app(settings, dev=True)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    app.run(host=host, port=port, debug=debug, use_reloader=debug)


def main() -> None:
    """Console-script entry point."""
    try:
        cli(prog_name="digest")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
