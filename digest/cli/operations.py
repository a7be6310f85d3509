"""Commands that run the installation: `init`, `status`, `serve`."""

from __future__ import annotations


import click

from digest.config import ConfigError
from digest.cli.common import SOURCE_COLUMNS, UserError, now_utc, open_sessions, safe_url, settings_of, table


@click.command()
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
    click.echo(f"schema at revision {revision}: {safe_url(settings.database_url)}")


@click.command()
@click.pass_context
def status(ctx) -> None:
    """Last ingest per source, recent digests by state, failures with their reasons.

    \b
    Example:
      digest status
    """
    from digest.status import get_status

    settings = settings_of(ctx)
    with open_sessions(settings)() as session:
        report = get_status(session, now_utc())
    click.echo("Sources")
    if report.sources:
        click.echo(table(report.sources, SOURCE_COLUMNS))
    else:
        click.echo("  none ingested yet (try `digest ingest seeds`)")
    click.echo(f"\nPapers: {report.papers} ({report.papers_recent} first seen in the last 24 h)")
    click.echo(f"Subscribers: {report.subscribers_text}")
    for line in report.warnings:
        click.echo(line)
    click.echo("\nDigests")
    if report.digests:
        click.echo(table(report.digests, ["edition", "pending", "sending", "sent", "skipped", "failed", "suppressed"]))
    else:
        click.echo("  none yet")
    if report.oldest_pending:
        click.echo(f"oldest pending: {report.oldest_pending}")
    for line in report.delivery:
        click.echo(line)
    for line in report.returned:
        click.echo(line)
    if report.skips:
        click.echo("\nSkipped")
        for line in report.skips:
            click.echo(f"  {line}")
    if report.failures:
        click.echo("\nFailures")
        for line in report.failures:
            click.echo(f"  {line}")


@click.command()
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


@click.command()
@click.option("--keep-days", type=click.IntRange(1, 36500), default=None,
              help="Keep digests this many days (default: DIGEST_KEEP_DAYS).")
@click.pass_context
def prune(ctx, keep_days) -> None:
    """Delete digests and their items older than DIGEST_KEEP_DAYS; the papers they sent are never sent again.

    The scheduler runs this daily. With DIGEST_KEEP_DAYS unset (0) and no
    --keep-days, nothing is pruned.

    \b
    Example:
      digest prune --keep-days 365
    """
    from digest.jobs import prune_digests

    settings = settings_of(ctx)
    if keep_days is None and not settings.keep_days:
        raise UserError("nothing to prune: set DIGEST_KEEP_DAYS or give --keep-days")
    digests, items = prune_digests(settings, now_utc(), keep_days)
    click.echo(f"pruned {digests} digests and {items} items older than {keep_days or settings.keep_days} days")
