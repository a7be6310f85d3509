"""Engine and session factory; schema upgrades through Alembic."""

from __future__ import annotations

import ast
import datetime as dt
import re
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, exc as sa_exc, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from digest.config import EnvironmentProblem

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
CONNECT_TIMEOUT = 10  # seconds; a host that drops packets must not hang a command


class DatabaseUnavailable(EnvironmentProblem):
    """DIGEST_DATABASE_URL names a database we cannot open; one line saying which and what to do."""


def masked_url(url: str) -> str:
    """The URL as the user wrote it, password hidden."""
    try:
        text = make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown without its credentials
        text = url.split("@")[-1]
    return text.replace("postgresql+psycopg://", "postgresql://", 1)


# (what the driver says, in lower case) -> (what it means, what to do)
_REASONS = (
    ("does not exist", None, "create it (e.g. createdb) or fix DIGEST_DATABASE_URL"),
    ("connection refused", "connection refused", "start the database server or fix the host/port in DIGEST_DATABASE_URL"),
    ("failed to resolve host", "unknown host", "fix the host name in DIGEST_DATABASE_URL"),
    ("name or service not known", "unknown host", "fix the host name in DIGEST_DATABASE_URL"),
    ("password authentication failed", "password authentication failed", "fix the user or password in DIGEST_DATABASE_URL"),
    ("timeout expired", "no answer from the server", "check the host/port in DIGEST_DATABASE_URL and the network"),
    ("file is not a database", "the file is not a SQLite database", "point DIGEST_DATABASE_URL at a digest database file or a new path"),
    ("unable to open database file", "cannot open the database file", "point DIGEST_DATABASE_URL at a writable file in an existing folder"),
    ("readonly database", "the database file is read-only", "make it writable or point DIGEST_DATABASE_URL elsewhere"),
)


def unavailable(url: str, error: BaseException) -> DatabaseUnavailable:
    """Translate a driver or file-system error about `url` into one line: setting, masked URL, cause, remedy."""
    raw = str(getattr(error, "orig", None) or error)
    text = " ".join(raw.split())  # the driver's message may span lines
    lowered = text.lower()
    reason, remedy = text[:200], "check DIGEST_DATABASE_URL and that the database is running"
    for needle, meaning, todo in _REASONS:
        if needle in lowered:
            reason = meaning or _quoted_phrase(text, needle)
            remedy = todo
            break
    if reason.startswith("role "):
        remedy = "fix the user in DIGEST_DATABASE_URL or create that role (createuser)"
    if isinstance(error, OSError):
        reason = f"cannot create the folder {error.filename} ({error.strerror})" if error.filename else str(error)
        remedy = "create it or point DIGEST_DATABASE_URL at a writable place"
    return DatabaseUnavailable(f"DIGEST_DATABASE_URL={masked_url(url)}: {reason}; {remedy}")


def _quoted_phrase(text: str, needle: str) -> str:
    # 'FATAL:  database "nosuchdb" does not exist' -> 'database "nosuchdb" does not exist'
    start = text.lower().find(needle)
    head = text[:start].rstrip()
    for lead in ("database ", "role "):
        at = head.rfind(lead)
        if at != -1:
            return text[at:start + len(needle)]
    return text[max(0, start - 60):start + len(needle)]


def utcnow() -> dt.datetime:
    """The current time, timezone-aware (frozen by freezegun in tests)."""
    return dt.datetime.now(dt.timezone.utc)


@lru_cache(maxsize=16)
def get_engine(url: str) -> Engine:
    """One engine per URL per process; SQLite gets WAL and a busy timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            _check_sqlite_path(url, Path(path))
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5,
                         connect_args={"connect_timeout": CONNECT_TIMEOUT})


def _check_sqlite_path(url: str, path: Path) -> None:
    """A folder is not a database file; the file's folder is created (the data folder on first use)."""
    if path.is_dir():
        raise DatabaseUnavailable(f"DIGEST_DATABASE_URL={masked_url(url)}: {path} is a folder, not a database "
                                  f"file; point it at a file such as {path / 'digest.sqlite3'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise unavailable(url, exc) from None


def session_factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> str:
    """Create or upgrade the schema to the newest migration; return the revision."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = alembic_config(url)
    head = ScriptDirectory.from_config(cfg).get_current_head()
    engine = get_engine(url)
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current != head:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    return head


_ready: set[str] = set()
_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)


@lru_cache(maxsize=1)
def script_head() -> str | None:
    """The newest migration's revision, read from the files' `revision` / `down_revision` lines.

    None when that reading does not find exactly one head (then Alembic decides). Alembic itself takes about
    half a second to import; a command that only needs to know the schema is current must not pay it.
    """
    revisions, parents = set(), set()
    for path in (MIGRATIONS_DIR / "versions").glob("[0-9]*.py"):
        found = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        try:
            revision, down = ast.literal_eval(found["revision"]), ast.literal_eval(found.get("down_revision", "None"))
        except (KeyError, ValueError, SyntaxError):
            return None
        revisions.add(revision)
        parents.update(down if isinstance(down, (tuple, list)) else [down])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def is_current(url: str) -> bool:
    """Whether the database records exactly the newest migration; False when it cannot tell (no table yet, ...)."""
    head = script_head()
    if head is None:
        return False
    with get_engine(url).connect() as conn:  # a database that cannot be reached raises here, as upgrade would
        try:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        except sa_exc.DBAPIError:  # no such table yet (a new database), or not one of ours: Alembic decides
            return False
    return [tuple(r) for r in rows] == [(head,)]


def ensure_schema(url: str) -> None:
    """Upgrade once per process per URL (commands do it implicitly on first use); cheap when already current.

    A database that cannot be reached or opened raises DatabaseUnavailable.
    """
    if url not in _ready:
        try:
            if not is_current(url):
                upgrade(url)
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DatabaseError, OSError) as exc:
            raise unavailable(url, exc) from None
        _ready.add(url)


def table_names(url: str) -> list[str]:
    return inspect(get_engine(url)).get_table_names()


def insert_for(session, target):
    """An INSERT of the session's dialect (PostgreSQL or SQLite), so callers can add ON CONFLICT clauses."""
    from sqlalchemy.dialects import postgresql, sqlite

    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(target)
