"""`digest inbound`: mail that comes back, on stdin, from a listener or from a mailbox; and the operator's view."""

from __future__ import annotations

import logging
import sys

import click

from digest.cli.common import UserError, open_sessions, settings_of, table

EX_TEMPFAIL = 75  # sysexits.h: the MTA keeps the message and tries again


@click.command()
@click.option("--rcpt", metavar="ADDRESS", help="The envelope recipient, as the MTA passes it (else Delivered-To/To).")
@click.option("--listen", metavar="HOST:PORT", help="Run an LMTP listener (with --smtp: SMTP) until stopped.")
@click.option("--smtp", "use_smtp", is_flag=True, help="With --listen: speak SMTP instead of LMTP.")
@click.option("--processes", type=click.IntRange(1, 64), default=1, show_default=True,
              help="With --listen: processes accepting on the one socket (one core each).")
@click.option("--imap", metavar="URL", help="Read a mailbox: imap[s]://user:pass@host/INBOX.")
@click.option("--once", is_flag=True, help="With --imap: one pass, then exit.")
@click.option("--interval", type=click.IntRange(1, 86400), default=60, show_default=True,
              help="With --imap: seconds between passes.")
@click.option("--list", "show_list", is_flag=True, help="Show the latest messages that came back.")
@click.option("--kind", help="With --list: only this kind (reply, bounce, complaint, refused, ...).")
@click.option("--limit", type=click.IntRange(1, 10000), default=20, show_default=True, help="With --list: rows.")
@click.option("--show", "show_id", type=int, metavar="ID", help="Print one kept message as it arrived.")
@click.pass_context
def inbound(ctx, rcpt, listen, use_smtp, processes, imap, once, interval, show_list, kind, limit, show_id) -> None:
    """Handle mail that comes back: bounces, complaints, unsubscribes, sign-ups by mail, replies.

    With no mode, reads one message on stdin (a pipe transport); exit status 75
    asks the MTA to try again later (the database is away).

    \b
    Examples:
      digest inbound --rcpt bounces+12.a1b2c3d4e5f6@mail.example.org < message.eml
      digest inbound --listen 127.0.0.1:2525 --processes 2
      digest inbound --imap 'imaps://digest:secret@imap.example.org/INBOX' --interval 120
      digest inbound --list --kind reply
    """
    modes = [m for m, on in (("--listen", listen), ("--imap", imap), ("--list", show_list), ("--show", show_id))
             if on is not None and on is not False]
    if len(modes) > 1:
        raise UserError(f"{' and '.join(modes)} cannot be used together")
    if ((use_smtp or processes > 1) and not listen) or ((once or kind) and not (imap or show_list)):
        raise UserError("--smtp and --processes go with --listen, --once with --imap, --kind with --list")
    settings = settings_of(ctx)
    _log_to_stderr()
    if show_list or show_id is not None:
        return _view(settings, show_list, kind, limit, show_id)
    if listen:
        return _listen(settings, listen, not use_smtp, processes)
    if imap:
        return _imap(settings, imap, once, interval)
    _pipe(settings, rcpt)


def _pipe(settings, rcpt: str | None) -> None:
    from digest.inbound.handler import handle

    stream = sys.stdin.buffer
    raw = stream.read(settings.inbound_max_bytes + 1)
    size = len(raw)
    if size > settings.inbound_max_bytes:
        while chunk := stream.read(1 << 20):  # read it all, so the MTA sees it taken; keep only the head
            size += len(chunk)
    try:
        done = handle(settings, open_sessions(settings), raw, rcpt or "", "pipe", size=size)
    except Exception as exc:  # noqa: BLE001 - the database is away: the MTA keeps the message and retries
        click.echo(f"digest inbound: not handled, try again later: {(str(exc).splitlines() or [''])[0][:200]}",
                   err=True)
        sys.exit(EX_TEMPFAIL)
    del done  # its one line went to the log (stderr)


def _log_to_stderr() -> None:
    """One line per message on stderr: digest's own log, not the libraries' chatter."""
    logger = logging.getLogger("digest.inbound")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _listen(settings, listen: str, lmtp: bool, processes: int) -> None:
    from digest.inbound.listener import parse_listen, serve

    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    try:
        serve(settings, open_sessions(settings), host, port, lmtp=lmtp, processes=processes)
    except OSError as exc:
        raise click.ClickException(f"--listen {listen}: {exc.strerror or exc}") from None


def _imap(settings, url: str, once: bool, interval: int) -> None:
    import signal

    from digest.inbound.imap import parse_imap_url, poll, poll_once

    try:
        source = parse_imap_url(url)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    factory = open_sessions(settings)
    if once:
        try:
            counts = poll_once(settings, factory, source)
        except Exception as exc:  # noqa: BLE001 - server or database away: one line, exit 1
            raise click.ClickException(f"--imap {source!r}: {(str(exc).splitlines() or [''])[0][:200]}") from None
        click.echo(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no messages")
        return
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    poll(settings, factory, source, interval, stop=lambda: bool(stopping))


def _view(settings, show_list: bool, kind: str | None, limit: int, show_id: int | None) -> None:
    from sqlalchemy import select

    from digest.models import InboundMessage

    with open_sessions(settings)() as session:
        if show_id is not None:
            row = session.get(InboundMessage, show_id)
            if row is None:
                raise UserError(f"--show: no message {show_id}")
            if row.raw is None:
                click.echo(f"message {show_id} ({row.kind}) was handled, not kept: {row.outcome}")
                return
            sys.stdout.buffer.write(row.raw)
            return
        query = select(InboundMessage).order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
        if kind:
            query = query.where(InboundMessage.kind == kind)
        rows = session.scalars(query.limit(limit)).all()
        if not rows:
            click.echo("no messages")
            return
        click.echo(table([[r.id, f"{r.received_at:%Y-%m-%d %H:%M}", r.kind, r.sender or "-", r.subject[:50],
                           r.outcome[:90]] for r in rows], ["id", "received (UTC)", "kind", "from", "subject",
                                                            "what was done"]))
