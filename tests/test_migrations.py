"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from digest.db import get_engine, upgrade
from digest.models import Base


def test_migrations_match_the_models(db_url):
    upgrade(db_url)
    with get_engine(db_url).connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


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
