"""The `digest` command: a thin click layer. Each command opens the database,
calls one library function, and prints; user mistakes become one-line errors
with exit status 2.

Public surface: `cli` (the click group) and `main` (the console script,
`digest = "digest.cli:main"`). One module per command group:
`subscribers` (subscribe, unsubscribe, subscribers), `likes` (like,
dislike, unlike; subscribe --like/--library), `sources` (ingest,
sources add/list/remove), `sending` (send, preview, run, demo) and
`operations` (init, status, serve, prune) and `inbound` (mail that comes back); `common` holds what they share.
"""

from __future__ import annotations

import sys

import click

from digest import __version__
from digest.cli import inbound, likes, operations, sending, sources, subscribers
from digest.cli.common import DigestGroup, UserError
from digest.config import ConfigError, load_settings

__all__ = ["cli", "main"]


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


for _command in (subscribers.subscribe, subscribers.unsubscribe, subscribers.subscribers, likes.like, likes.dislike,
                 likes.unlike, sources.ingest,
                 sources.sources, sending.send, sending.preview, sending.run, sending.demo, operations.init,
                 operations.status, operations.serve, operations.prune, inbound.inbound):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    try:
        cli(prog_name="digest")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
