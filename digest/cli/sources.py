"""Commands for sources: `ingest` and `sources add|list|remove`."""

from __future__ import annotations

import sys

import click

from digest.cli.common import SOURCE_COLUMNS, UserError, now_utc, open_sessions, settings_of, table


@click.command()
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
        with open_sessions(settings)() as session:
            specs = ([ingest_mod.resolve_spec(session, s, kind) for s in sources] if sources
                     else configured_specs(settings, session))
        for spec in specs:
            if spec.one_off:
                ingest_mod.check_readable(spec)
    except ingest_mod.SourceError as exc:  # checked at the door: nothing ingested, no sources row written
        raise UserError(str(exc)) from None
    if not specs:
        raise UserError("no sources: name one, or set DIGEST_SOURCES")
    summaries = ingest_with_progress(settings, specs)
    if len(summaries) > 1:
        totals = {k: sum(getattr(s, k) for s in summaries) for k in ("new", "updated", "unchanged", "problems")}
        click.echo(f"total: {totals['new']} new, {totals['updated']} updated, {totals['unchanged']} unchanged, "
                   f"{ingest_mod.plural(totals['problems'], 'problem')}")
    fail_if_any_source_failed(summaries)


def fail_if_any_source_failed(summaries) -> None:
    """Exit status 1 naming the sources that could not be read (the others were ingested)."""
    from digest.wording import plural

    failed = [s.source for s in summaries if s.status == "error"]
    if failed:
        raise click.ClickException(f"{plural(len(failed), 'source')} failed: {', '.join(failed)}")


def ingest_with_progress(settings, specs):
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


@click.group()
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
        with open_sessions(settings).begin() as session:
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

    with open_sessions(settings_of(ctx))() as session:
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

    with open_sessions(settings_of(ctx)).begin() as session:
        if not remove_source(session, name):
            raise UserError(f"no source {name!r}")
    click.echo(f"removed {name}")
