"""Shared fixtures: real SQLite and PostgreSQL, real Redis, a real SMTP server.

The suite fails (never skips) when PostgreSQL or Redis is unreachable.
Each test session gets its own PostgreSQL database and its own Celery queue
name, so several runs on one machine do not see each other's rows or tasks.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get("DIGEST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("DIGEST_TEST_REDIS", "redis://127.0.0.1:6379/0")
# Every captured file the suite reads lives in tests/fixtures (with its
# provenance): a clone of the repository has nothing beside it.
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "feeds"
SEED_LISTING = Path(__file__).resolve().parent / "fixtures" / "seeds" / "trending-papers-listing.txt"
RUN_ID = uuid.uuid4().hex[:10]
# The sample subscribers `digest demo` adds (seeds/subscribers.json): tests count digests against it.
SAMPLE = len(json.loads((Path(__file__).resolve().parents[1] / "seeds" / "subscribers.json").read_text()))


def _check_services() -> list[str]:
    problems = []
    try:
        import psycopg

        psycopg.connect(PG_ADMIN_URL, connect_timeout=5).close()
    except Exception as exc:  # noqa: BLE001
        problems.append(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc}")
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5).ping()
    except Exception as exc:  # noqa: BLE001
        problems.append(f"Redis unreachable at {REDIS_URL}: {exc}")
    return problems


def pytest_sessionstart(session):
    problems = _check_services()
    if problems:
        pytest.exit("required services missing:\n  " + "\n  ".join(problems), returncode=3)


@pytest.fixture(scope="session")
def pg_database_url():
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    import psycopg

    name = f"digest_test_{RUN_ID}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    yield url
    from digest.db import get_engine

    get_engine(url).dispose()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate(url: str) -> None:
    from sqlalchemy import text

    from digest.db import get_engine
    from digest.models import Base

    names = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with get_engine(url).begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """The same test against a SQLite file and against the machine's PostgreSQL."""
    from digest.db import ensure_schema

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'digest.sqlite3'}"
        ensure_schema(url)
        yield url
        return
    url = request.getfixturevalue("pg_database_url")
    ensure_schema(url)
    yield url
    _truncate(url)


@pytest.fixture
def sqlite_url(tmp_path):
    from digest.db import ensure_schema

    url = f"sqlite:///{tmp_path / 'digest.sqlite3'}"
    ensure_schema(url)
    return url


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


@pytest.fixture
def settings(tmp_path, db_url):
    from digest.config import load_settings

    return load_settings(make_env(tmp_path, db_url), read_dotenv=False)


@pytest.fixture
def sqlite_settings(tmp_path, sqlite_url):
    from digest.config import load_settings

    return load_settings(make_env(tmp_path, sqlite_url), read_dotenv=False)


# --- a real SMTP server whose replies the test controls ---------------------------------


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server():
    """A real SMTP server on loopback; yields (handler, port)."""
    from aiosmtpd.controller import Controller

    handler = SmtpHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()
