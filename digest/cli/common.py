"""What every command shares: the root group's error handling, user errors, settings, sessions and tables."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from digest.config import EnvironmentProblem, Settings


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


def open_sessions(settings: Settings):
    from digest.db import ensure_schema, session_factory

    ensure_schema(settings.database_url)
    return session_factory(settings.database_url)


def delivering(work):
    """Run a delivering job; a sender that cannot work (outbox not a folder, ...) is one line, exit 1.

    The sender is checked before any row is claimed, so none is left behind.
    """
    from digest.delivery.senders import SenderUnavailable

    try:
        return work()
    except SenderUnavailable as exc:
        raise click.ClickException(str(exc)) from None


def print_delivery(report) -> None:
    for line in report.lines:
        click.echo(f"  {line}")
    click.echo(report.summary())


def parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UserError(f"--date: expected YYYY-MM-DD, got {value!r}") from None


def safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
