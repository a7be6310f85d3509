"""Commands for what a reader likes: `like`, `dislike`, `unlike`, and `subscribe --like / --library`.

They record the same feedback as the "More like this" / "Less like this" links in every digest
(digest.feedback). Everything the user gives is checked before anything is written: an id that
is no arXiv id or a library file that cannot be read is one line on stderr, exit status 2.
"""

from __future__ import annotations

import click

from digest.cli.common import UserError, now_utc, open_sessions, settings_of
from digest.wording import plural

def parse_ids(values) -> list[str]:
    """arXiv ids without version, in order, each once; UserError for anything that is not one."""
    if not values:  # feedback imports ranking (numpy, scipy): a plain subscribe need not load them
        return []
    from digest import feedback as fb

    try:
        return list(dict.fromkeys(fb.parse_arxiv_id(v) for v in values))
    except fb.FeedbackError as exc:
        raise UserError(str(exc)) from None


def read_libraries(paths) -> list:
    """Every library file read and checked before anything is written; UserError (one line) for a bad one."""
    from digest.library import LibraryError, read_library

    try:
        return [read_library(path) for path in paths]
    except LibraryError as exc:
        raise UserError(str(exc)) from None


def record_likes(session, subscriber, ids: list[str], libraries: list, sign: int = 1) -> list[str]:
    """Record liked (or disliked) ids and imported libraries for a subscriber; the lines that say what was done."""
    if not ids and not libraries:
        return []
    from digest import feedback as fb

    now = now_utc()
    lines = []
    if ids:
        found = fb.record(session, subscriber.id, [fb.Work.of_arxiv(i) for i in ids], sign, "cli", now)
        verb = "liked" if sign == fb.LIKE else "disliked"
        for arxiv_id in ids:
            title = _title(session, found[f"arxiv:{arxiv_id}"])
            lines.append(f"{verb} {arxiv_id}: {title}" if title is not None
                         else f"{verb} {arxiv_id} (not in the database yet: matched when it is ingested)")
    for library in libraries:
        fb.import_entries(session, subscriber.id, library.entries, now)
        by_id = library.by_arxiv_id
        line = (f"imported {plural(len(library.entries), 'paper')} from {library.name} "
                f"({by_id} by arXiv id, {len(library.entries) - by_id} by title)")
        if library.untitled:
            line += f"; skipped {plural(library.untitled, 'entry', 'entries')} without title"
        lines.append(line)
    return lines


def _title(session, paper_id: int | None) -> str | None:
    from digest.models import Paper

    if paper_id is None:
        return None
    title = " ".join((session.get(Paper, paper_id).title or "").split())
    return title if len(title) <= 80 else title[:79] + "…"


def _subscriber(session, email: str):
    from digest import subscriptions as subs

    subscriber = subs.get_subscriber(session, email)
    if subscriber is None:
        raise UserError(f"no subscriber {email!r}")
    return subscriber


@click.command()
@click.argument("email")
@click.argument("ids", nargs=-1, required=True, metavar="ARXIV_ID...")
@click.pass_context
def like(ctx, email, ids) -> None:
    """Record that EMAIL wants more papers like these (as the "More like this" link does).

    An id not ingested yet is kept and counts once the paper arrives. A liked paper is never sent again.
    IDs in any usual spelling: 2411.17730, arXiv:2411.17730v2, https://arxiv.org/abs/2411.17730.

    \b
    Example:
      digest like ada@example.org 2411.17730 https://arxiv.org/abs/2604.21956
    """
    _rate(ctx, email, ids, 1)


@click.command()
@click.argument("email")
@click.argument("ids", nargs=-1, required=True, metavar="ARXIV_ID...")
@click.pass_context
def dislike(ctx, email, ids) -> None:
    """Record that EMAIL wants fewer papers like these (as the "Less like this" link does).

    A disliked paper is never sent again. IDs in any usual spelling: 2411.17730, arXiv:2411.17730v2,
    https://arxiv.org/abs/2411.17730.

    \b
    Example:
      digest dislike ada@example.org arXiv:2604.21953v1
    """
    _rate(ctx, email, ids, -1)


def _rate(ctx, email: str, ids, sign: int) -> None:
    arxiv_ids = parse_ids(ids)
    with open_sessions(settings_of(ctx)).begin() as session:
        subscriber = _subscriber(session, email)
        for line in record_likes(session, subscriber, arxiv_ids, [], sign):
            click.echo(line)


@click.command()
@click.argument("email")
@click.argument("ids", nargs=-1, required=True, metavar="ARXIV_ID...")
@click.pass_context
def unlike(ctx, email, ids) -> None:
    """Take back EMAIL's "more like this" or "less like this" on these papers (the ids as for `like`).

    \b
    Example:
      digest unlike ada@example.org 2411.17730
    """
    from digest import feedback as fb

    arxiv_ids = parse_ids(ids)
    with open_sessions(settings_of(ctx)).begin() as session:
        subscriber = _subscriber(session, email)
        removed = fb.remove_keys(session, subscriber.id, [f"arxiv:{i}" for i in arxiv_ids])
        for arxiv_id in arxiv_ids:
            click.echo(f"removed the choice on {arxiv_id}" if f"arxiv:{arxiv_id}" in removed
                       else f"no choice on {arxiv_id} to remove")
