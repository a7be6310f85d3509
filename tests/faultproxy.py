"""A TCP proxy on loopback that misbehaves on purpose: the faults a relay or a network inflicts.

Modes (changeable while running, per new connection):
- "pass": forward both ways;
- "drop-after-data": forward the client's end of DATA (CRLF.CRLF) to the server, swallow the server's reply
  and cut both connections: the relay accepted the message but the client never hears it (an unknown outcome);
  with `drop_rate` below 1, only that share of messages (drawn from a seeded generator) loses its reply;
- "trickle": forward the server's bytes one at a time, `delay` seconds apart;
- "refuse": accept and close at once (a relay that is down behind a load balancer).
`kill()` cuts every open connection and stops listening (the proxy process dies).

`TrickleServer` is a server of its own that answers every request one byte at a time.
"""

from __future__ import annotations

import random
import socket
import threading

END_OF_DATA = b"\r\n.\r\n"


class FaultProxy:
    def __init__(self, target_port: int, mode: str = "pass", delay: float = 0.5, host: str = "127.0.0.1",
                 drop_rate: float = 1.0, seed: int = 1):
        self.target = (host, target_port)
        self.mode, self.delay = mode, delay
        self.drop_rate, self.rng = drop_rate, random.Random(seed)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.drops = 0  # replies swallowed by drop-after-data
        self.lock = threading.Lock()
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.closed.is_set():  # killed while accept() waited
                client.close()
                return
            if self.mode == "refuse":
                client.close()
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, server]
            state = {"data_ended": False}
            threading.Thread(target=self._pump_up, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._pump_down, args=(server, client, state), daemon=True).start()

    def _pump_up(self, src, dst, state) -> None:
        """Client to server; notes when the client has finished sending a message body."""
        tail = b""
        try:
            while data := src.recv(65536):
                if self.mode == "drop-after-data" and END_OF_DATA in tail + data:
                    with self.lock:
                        state["data_ended"] = self.rng.random() < self.drop_rate
                tail = (tail + data)[-4:]
                dst.sendall(data)
        except OSError:
            pass
        self._cut(src, dst)

    def _pump_down(self, src, dst, state) -> None:
        """Server to client; in drop-after-data, the reply to the end of DATA never arrives."""
        try:
            while data := src.recv(65536):
                if self.mode == "drop-after-data" and state["data_ended"]:
                    with self.lock:
                        self.drops += 1
                    break
                if self.mode == "trickle":
                    for i in range(len(data)):
                        if self.closed.wait(self.delay):
                            return
                        dst.sendall(data[i:i + 1])
                else:
                    dst.sendall(data)
        except OSError:
            pass
        self._cut(src, dst)

    @staticmethod
    def _cut(*socks) -> None:
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def kill(self) -> None:
        """Cut every connection and stop listening."""
        self.closed.set()
        # close() alone leaves a thread blocked in accept() listening (the kernel keeps the socket
        # while the call holds it); shutdown wakes it, so a killed proxy refuses new connections.
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            self._cut(*self.sockets)
            self.sockets.clear()

    close = kill


class TrickleServer:
    """A raw TCP server on loopback that answers every connection by dribbling `payload` one byte at a time."""

    def __init__(self, payload: bytes, every: float):
        self.payload, self.every = payload, every
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/feed"
        self.stop = threading.Event()
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._dribble, args=(conn,), daemon=True).start()

    def _dribble(self, conn):
        with conn:
            conn.recv(65536)
            for byte in self.payload:
                if self.stop.wait(self.every):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def close(self):
        self.stop.set()
        self.sock.close()


class DatabaseLosingHandler:
    """An aiosmtpd handler hook: after the relay accepts message number `after`, PostgreSQL refuses every
    connection to `database` (and cuts the open ones) for `outage` seconds, before the client hears the 250."""

    def __init__(self, handler, admin_url: str, database: str, after: int = 2, outage: float = 1.0):
        self.handler, self.admin_url, self.database = handler, admin_url, database
        self.after, self.outage = after, outage
        self.inner = type(handler).handle_DATA

    def install(self):
        """Wrap the handler's handle_DATA; returns the handler."""
        hook = self

        async def handle_DATA(server, session, envelope):
            reply = await hook.inner(hook.handler, server, session, envelope)
            if len(hook.handler.messages) == hook.after:
                hook.allow(False)
                threading.Timer(hook.outage, hook.allow, args=(True,)).start()
            return reply

        self.handler.handle_DATA = handle_DATA
        return self.handler

    def allow(self, allowed: bool) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{self.database}" ALLOW_CONNECTIONS {str(allowed).lower()}')
            if not allowed:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = %s AND pid <> pg_backend_pid()", (self.database,))
