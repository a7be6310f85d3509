"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from freezegun import freeze_time
from sqlalchemy import MetaData, Table, insert, select, text

from digest.db import alembic_config, get_engine, upgrade
from digest.models import Base, UTCDateTime
from helpers import PG_ADMIN_URL


def test_migrations_match_the_models(db_url):
    upgrade(db_url)
    with get_engine(db_url).connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    """A database with no schema yet (PostgreSQL: one of its own, dropped after the test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.sqlite3'}"
        return
    import psycopg

    name = f"digest_migrate_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
    yield url
    get_engine(url).dispose()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_upgrade_fills_each_subscriber_s_next_send_from_their_zone_hour_cadence_and_today(empty_url):
    now = dt.datetime(2026, 11, 26, 15, 0, tzinfo=dt.timezone.utc)  # a Thursday; 10:00 in New York
    cfg = alembic_config(empty_url)
    with get_engine(empty_url).begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007")
        subscribers, digests = (Table(name, MetaData(), autoload_with=conn) for name in ("subscribers", "digests"))
        base = {"name": "", "topics": [], "categories": [], "exclude": [], "authors": [], "max_papers": 10,
                "min_score": 0.0, "updates": False, "permanent_failures": 0, "created_at": now, "status": "active"}
        people = [("sent@x.org", "America/New_York", 7, "daily"), ("unsent@x.org", "America/New_York", 7, "daily"),
                  ("later@x.org", "America/New_York", 11, "daily"), ("weekly@x.org", "Europe/Berlin", 8, "weekly"),
                  ("kolkata@x.org", "Asia/Kolkata", 7, "daily")]
        for email, zone, hour, cadence in people:
            conn.execute(insert(subscribers).values(email=email, email_key=email, timezone=zone, send_hour=hour,
                                                    cadence=cadence, **base))
        sent_id = conn.execute(select(subscribers.c.id).where(subscribers.c.email == "sent@x.org")).scalar()
        conn.execute(insert(digests).values(subscriber_id=sent_id, edition_date=dt.date(2026, 11, 26), state="sent",
                                            attempts=1, paper_count=3, created_at=now, updated_at=now))
    with freeze_time(now):
        upgrade(empty_url)
    with get_engine(empty_url).connect() as conn:
        got = dict(conn.execute(text("SELECT email, next_send_at FROM subscribers")).all())
    got = {email: UTCDateTime().process_result_value(value, None) if not isinstance(value, str)
           else dt.datetime.fromisoformat(value).replace(tzinfo=dt.timezone.utc) for email, value in got.items()}
    utc = lambda text_: dt.datetime.fromisoformat(text_ + "+00:00")  # noqa: E731
    assert got == {
        "sent@x.org": utc("2026-11-27T12:00:00"),     # today's edition is sent: tomorrow 07:00 EST
        "unsent@x.org": utc("2026-11-26T12:00:00"),   # today's 07:00 has passed and nothing went: due at once
        "later@x.org": utc("2026-11-26T16:00:00"),    # 11:00 today
        "weekly@x.org": utc("2026-11-30T07:00:00"),   # next Monday 08:00 CET
        "kolkata@x.org": utc("2026-11-26T01:30:00"),  # 07:00 IST is 01:30 UTC (20:30 there now): due at once
    }


def test_the_newest_revision_read_from_the_files_is_alembics_head():
    from alembic.script import ScriptDirectory

    from digest.db import alembic_config, script_head

    assert script_head() == ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_a_database_one_migration_behind_is_upgraded_by_the_next_command(tmp_path):
    """The cheap check (`is_current`) only skips Alembic when the database records the newest revision."""
    import os
    import subprocess
    import sys

    from alembic import command

    from digest.db import alembic_config, is_current, script_head
    from helpers import make_env

    url = f"sqlite:///{tmp_path / 'behind.sqlite3'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "-1")
    assert not is_current(url)
    env = {**os.environ, **make_env(tmp_path, url)}
    done = subprocess.run([sys.executable, "-c", "from digest.cli import main; main()", "inbound", "--list"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "no messages", done.stderr
    assert is_current(url)
    with get_engine(url).connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == script_head()
