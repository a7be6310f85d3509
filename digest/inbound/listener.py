"""`digest inbound --listen HOST:PORT`: an LMTP (or SMTP) listener on aiosmtpd in front of the one handler.

Each recipient of a transaction is handled on its own (one database
transaction each) in a worker thread; the reply to DATA is sent only after the
commit. LMTP answers once per recipient, as RFC 2033 asks; SMTP takes one
recipient per transaction (452 for the next one, which the client sends again
later), so its one reply is always true. A database that is down answers 451
(try later): the client keeps the message. A message over the size cap is
refused with 552 while it arrives, without being buffered.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from functools import partial

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP

from digest.inbound.handler import handle

log = logging.getLogger("digest.inbound")


class Handler:
    """aiosmtpd hooks: RCPT (one per SMTP transaction), DATA (handle each recipient after the commit)."""

    def __init__(self, settings, factory, lmtp: bool):
        self.settings, self.factory, self.lmtp = settings, factory, lmtp
        self.via = "lmtp" if lmtp else "smtp"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if envelope.rcpt_tos and not self.lmtp:
            return "452 4.5.3 one recipient per transaction, please send again"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        loop = asyncio.get_running_loop()
        raw = envelope.original_content or b""
        replies = []
        for rcpt in envelope.rcpt_tos:
            try:
                done = await loop.run_in_executor(None, partial(handle, self.settings, self.factory, raw, rcpt,
                                                                self.via))
                replies.append(f"250 2.0.0 {done.kind}")
            except Exception as exc:  # noqa: BLE001 - the database is away: the client must keep the message
                log.error("inbound %s: not handled, asked to try later: %s", self.via,
                          str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
                replies.append("451 4.3.0 cannot store the message now, try again later")
        return "\r\n".join(replies) if self.lmtp else replies[0]


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 in brackets) → (host, port); ValueError with a one-line reason."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--listen: expected HOST:PORT such as 127.0.0.1:2525, got {value!r}")
    return host.strip("[]"), int(port)


def serve(settings, factory, host: str, port: int, lmtp: bool = True, ready=None) -> None:
    """Listen until SIGTERM or SIGINT; `ready` is called with the bound port once listening."""
    asyncio.run(_serve(settings, factory, host, port, lmtp, ready))


async def _serve(settings, factory, host: str, port: int, lmtp: bool, ready) -> None:
    handler = Handler(settings, factory, lmtp)
    protocol = LMTP if lmtp else SMTP
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: protocol(handler, data_size_limit=settings.inbound_max_bytes, hostname="digest-inbound",
                         ident="digest inbound", decode_data=False), host, port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bound = server.sockets[0].getsockname()[1]
    log.info("inbound: listening for %s on %s:%s", "LMTP" if lmtp else "SMTP", host, bound)
    if ready is not None:
        ready(bound)
    async with server:
        await stop.wait()
    log.info("inbound: stopped")
