"""`digest inbound --listen HOST:PORT`: an LMTP (or SMTP) listener on aiosmtpd in front of the one handler.

Messages that arrive together (every recipient of one LMTP transaction, and
the deliveries of parallel connections within WINDOW seconds of each other, or
while the previous group is being committed) are handled as one batch, one
database transaction (`handler.handle_many`), in a worker thread; the reply to
DATA is sent only after that commit. LMTP answers once per recipient, as
RFC 2033 asks; SMTP takes one recipient per transaction (452 for the next
one, which the client sends again later), so its one reply is always true. A
database that is down answers 451 (try later): the client keeps the message.
A message over the size cap is refused with 552 while it arrives, without
being buffered.

With `processes` > 1 the listening socket is bound once and that many
processes (this one and forked copies) accept on it, each with its own
batches and database connections: the handling of a message is CPU-bound
Python, so one process uses one core. Messages that two processes take at
the same time are told apart by the database (`handler.handle_many`).

What a 250 means: that message's row and what it did were committed, in the
transaction of its batch, before the reply was written. How durable a commit
is, is the database's: PostgreSQL's default (synchronous_commit on) flushes
it to disk; SQLite runs in WAL mode with synchronous=NORMAL (`digest.db`), so
a commit survives the process dying but the last ones may be lost with the
machine (power cut, kernel crash).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from functools import partial

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP

from digest.inbound.handler import Arrived, handle_many

log = logging.getLogger("digest.inbound")
WINDOW = 0.005  # seconds a first message waits for others to share its transaction
MOST = 200  # messages in one transaction


class Batcher:
    """Groups the messages of concurrent deliveries into batches, one at a time through `handle_many`."""

    def __init__(self, settings, factory, via: str, window: float = WINDOW, most: int = MOST):
        self.work = partial(handle_many, settings, factory, via=via)
        self.window, self.most = window, most
        self.waiting: list[tuple[Arrived, asyncio.Future]] = []
        self.wake = asyncio.Event()

    async def submit(self, items: list[Arrived]) -> list:
        """Each item's Handled, or the exception that kept it from the database; after the commit."""
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in items]
        self.waiting.extend(zip(items, futures))
        self.wake.set()
        return list(await asyncio.gather(*futures))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wake.wait()
            if len(self.waiting) < self.most:
                await asyncio.sleep(self.window)
            batch, self.waiting = self.waiting[:self.most], self.waiting[self.most:]
            if not self.waiting:
                self.wake.clear()
            try:
                results = await loop.run_in_executor(None, self.work, [item for item, _ in batch])
            except Exception as exc:  # noqa: BLE001 - handle_many returns its errors; this is the unexpected
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results):
                if not future.done():
                    future.set_result(result)


class Handler:
    """aiosmtpd hooks: RCPT (one per SMTP transaction), DATA (handle each recipient after the commit)."""

    def __init__(self, lmtp: bool, batcher: Batcher):
        self.lmtp, self.batcher = lmtp, batcher
        self.via = "lmtp" if lmtp else "smtp"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if envelope.rcpt_tos and not self.lmtp:
            return "452 4.5.3 one recipient per transaction, please send again"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or b""
        replies = []
        for done in await self.batcher.submit([Arrived(raw, rcpt) for rcpt in envelope.rcpt_tos]):
            if isinstance(done, Exception):  # the database is away: the client must keep the message
                log.error("inbound %s: not handled, asked to try later: %s", self.via,
                          str(done).splitlines()[0][:200] if str(done) else type(done).__name__)
                replies.append("451 4.3.0 cannot store the message now, try again later")
            else:
                replies.append(f"250 2.0.0 {done.kind}")
        return "\r\n".join(replies) if self.lmtp else replies[0]


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 in brackets) → (host, port); ValueError with a one-line reason."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--listen: expected HOST:PORT such as 127.0.0.1:2525, got {value!r}")
    return host.strip("[]"), int(port)


def serve(settings, factory, host: str, port: int, lmtp: bool = True, ready=None, processes: int = 1) -> None:
    """Listen until SIGTERM or SIGINT; `ready` is called with the bound port once listening.

    With `processes` > 1, this process and processes - 1 forked copies accept on one socket; a signal to this
    process stops them all.
    """
    if processes <= 1:
        asyncio.run(_serve(settings, factory, host, port, lmtp, ready))
        return
    sock = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET,
                                backlog=512)
    children = []
    for _ in range(processes - 1):
        pid = os.fork()
        if pid == 0:  # a copy: its own connections (the parent's pooled ones are not shared), its own loop
            factory.kw["bind"].dispose(close=False)
            code = 0
            try:
                asyncio.run(_serve(settings, factory, host, port, lmtp, None, sock=sock, announce=False))
            except BaseException:  # noqa: BLE001 - logged; the other processes go on accepting
                log.exception("inbound: a listener process stopped")
                code = 1
            finally:
                os._exit(code)
        children.append(pid)
    try:
        asyncio.run(_serve(settings, factory, host, port, lmtp, ready, sock=sock, processes=processes))
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in children:
            os.waitpid(pid, 0)
        sock.close()


async def _serve(settings, factory, host: str, port: int, lmtp: bool, ready, sock=None, processes: int = 1,
                 announce: bool = True) -> None:
    batcher = Batcher(settings, factory, "lmtp" if lmtp else "smtp")
    batching = asyncio.create_task(batcher.run())
    handler = Handler(lmtp, batcher)
    protocol = LMTP if lmtp else SMTP
    loop = asyncio.get_running_loop()
    where = {"sock": sock} if sock is not None else {"host": host, "port": port}
    server = await loop.create_server(
        lambda: protocol(handler, data_size_limit=settings.inbound_max_bytes, hostname="digest-inbound",
                         ident="digest inbound", decode_data=False), **where)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bound = server.sockets[0].getsockname()[1]
    if announce:  # one line for all the processes
        log.info("inbound: listening for %s on %s:%s%s", "LMTP" if lmtp else "SMTP", host, bound,
                 f" ({processes} processes)" if processes > 1 else "")
    if ready is not None:
        ready(bound)
    async with server:
        await stop.wait()
    batching.cancel()
    if announce:
        log.info("inbound: stopped")
