"""Plain helpers the tests import: where fixtures live, a process environment, free ports, an SMTP handler."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

PG_ADMIN_URL = os.environ.get("DIGEST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("DIGEST_TEST_REDIS", "redis://127.0.0.1:6379/0")
# The checkout: tests in any folder find the repository's files from here.
ROOT = Path(__file__).resolve().parents[1]
# Every captured file the suite reads lives in tests/fixtures (with its
# provenance): a clone of the repository has nothing beside it.
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "feeds"
SEED_LISTING = Path(__file__).resolve().parent / "fixtures" / "seeds" / "trending-papers-listing.txt"
RUN_ID = uuid.uuid4().hex[:10]
# The sample subscribers `digest demo` adds (seeds/subscribers.json): tests count digests against it.
SAMPLE = len(json.loads((Path(__file__).resolve().parents[1] / "seeds" / "subscribers.json").read_text()))


def _truncate(url: str) -> None:
    from sqlalchemy import text

    from digest.db import get_engine
    from digest.models import Base

    names = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with get_engine(url).begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def make_env(tmp_path: Path, database_url: str | None = None, **extra) -> dict:
    """Environment for a digest process under test: everything inside tmp_path."""
    env = {
        "DIGEST_DATA_DIR": str(tmp_path / "data"),
        "DIGEST_OUTBOX_DIR": str(tmp_path / "outbox"),
        "DIGEST_SECRET_KEY": "test-secret-key-0123456789",
        "DIGEST_FROM": "Paper Digest <digest@digest.example.org>",
        "DIGEST_BASE_URL": "https://digest.example.org",
        "DIGEST_BROKER_URL": REDIS_URL,
    }
    if database_url:
        env["DIGEST_DATABASE_URL"] = database_url
    env.update({k: str(v) for k, v in extra.items()})
    return env


@dataclass
class SmtpHandler:
    """aiosmtpd handler: keeps every accepted message; `replies` (a list) overrides DATA replies in order."""

    messages: list = field(default_factory=list)
    replies: list = field(default_factory=list)
    rcpt_replies: dict = field(default_factory=dict)
    delay: float = 0.0
    drop_in_data: int = 0
    sessions: int = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.drop_in_data > 0:
            self.drop_in_data -= 1
            server.transport.close()  # the relay hangs up in the middle of DATA
            return "421 closing"
        if self.replies:
            reply = self.replies.pop(0)
            if not reply.startswith("250"):
                return reply
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK queued"


@contextlib.contextmanager
def serving(settings, port: int):
    """The web app of these settings on a loopback port (a real threaded WSGI server) while the block runs."""
    from werkzeug.serving import make_server

    from digest.web import create_app

    app = create_app(settings)
    app.extensions["digest"].limiter.prefix = f"digest-test:{uuid.uuid4().hex}"  # rate counters of this test only
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app
    finally:
        server.shutdown()
        thread.join(5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def old_database(url: str, revision: str, when) -> None:
    """A database at migration `revision`, holding one paper row written by that schema's code (first seen `when`)."""
    from alembic import command

    from digest.db import alembic_config, get_engine

    cfg = alembic_config(url)
    with get_engine(url).begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.exec_driver_sql(
            "INSERT INTO papers (key, title, abstract, authors, categories, extra, source_names, first_seen_at, "
            "updated_at, upvotes, comments, github_stars, content_hash) VALUES ('arxiv:2411.00001', "
            "'Sparse attention for long documents', 'We sparsify attention.', '[]', '[]', '{}', '[\"rss\"]', "
            f"'{when.isoformat()}', '{when.isoformat()}', 0, 0, 0, 'x')")
