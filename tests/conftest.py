"""Shared fixtures: real SQLite and PostgreSQL, real Redis, a real SMTP server, headless chromium.

The suite fails (never skips) when PostgreSQL or Redis is unreachable.
Each test session gets its own PostgreSQL database and its own Celery queue
name, so several runs on one machine do not see each other's rows or tasks.
"""

from __future__ import annotations

import os

import pytest

from helpers import FIXTURES, PG_ADMIN_URL, REDIS_URL, RUN_ID, SmtpHandler, _truncate, free_port, make_env

# The captured arXiv day's vectors (papers and their sentences), computed once by the shipped model
# (tools/embed_fixtures.py): tests that ingest or rank it, in this process or in the digest processes they
# start, look them up instead of running the model over 1,504 abstracts. Any other text is embedded for real.
os.environ.setdefault("DIGEST_EMBEDDINGS_KNOWN",
                      str(FIXTURES.parent / "embeddings" / "all-archives_2024-11-28.npz"))


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


@pytest.fixture
def pg_url(pg_database_url):
    """PostgreSQL only (row locks, several processes at once), emptied after the test."""
    from digest.db import ensure_schema

    ensure_schema(pg_database_url)
    yield pg_database_url
    _truncate(pg_database_url)


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


@pytest.fixture
def settings(tmp_path, db_url):
    from digest.config import load_settings

    return load_settings(make_env(tmp_path, db_url), read_dotenv=False)


@pytest.fixture
def sqlite_settings(tmp_path, sqlite_url):
    from digest.config import load_settings

    return load_settings(make_env(tmp_path, sqlite_url), read_dotenv=False)




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


@pytest.fixture(scope="module")
def browser():
    """Debian's headless chromium, driven by Playwright (tests/shots.py takes the screenshots)."""
    from shots import CHROMIUM, LAUNCH_ARGS

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield launched
        launched.close()
