"""A `digest inbound` process per message (an MTA's pipe transport) starts cheaply: it loads what reading mail
and the database need, never ranking, templates or the migration machinery, and a current schema is not migrated.

Each case runs the real console entry point in a fresh interpreter and reads its `sys.modules` on the way out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from digest.config import load_settings
from digest.db import ensure_schema, session_factory
from digest.inbound.verp import return_path
from digest.models import InboundMessage, Subscriber
from helpers import make_env
from inboundhelp import dsn, mail, sent_digest

HEAVY = ("numpy", "scipy", "onnxruntime", "tokenizers", "threadpoolctl", "jinja2", "premailer", "celery", "flask",
         "alembic", "aiosmtpd")
# Runs `digest ARGS...` as the console script does and prints, at exit, which of HEAVY it imported.
PROBE = ("import atexit, json, sys\n"
         f"atexit.register(lambda: print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules))))\n"
         "sys.argv[0] = 'digest'\n"
         "from digest.cli import main\n"
         "main()\n")


def digest_process(tmp_path, url: str, args: list[str], stdin: bytes = b"") -> tuple[int, list[str], str]:
    """(exit status, heavy modules it imported, stderr) of one `digest ...` process."""
    env = {**os.environ, **make_env(tmp_path, url)}
    done = subprocess.run([sys.executable, "-c", PROBE, *args], input=stdin, env=env, capture_output=True,
                          timeout=120, cwd=tmp_path)
    return done.returncode, json.loads(done.stdout.decode().strip().splitlines()[-1]), done.stderr.decode()


def test_the_pipe_handles_a_bounce_without_loading_ranking_templates_or_migrations(tmp_path, sqlite_url):
    ensure_schema(sqlite_url)
    sid, did = sent_digest(sqlite_url)
    rcpt = return_path(load_settings(make_env(tmp_path, sqlite_url), read_dotenv=False).signing_key(), did,
                       "bounces.example.org")
    status, heavy, err = digest_process(tmp_path, sqlite_url, ["inbound", "--rcpt", rcpt],
                                        dsn("ada@example.org", "5.1.1", "550 5.1.1 no such user"))
    assert status == 0, err
    assert heavy == [], f"the pipe imported {heavy}"
    with session_factory(sqlite_url)() as session:
        assert session.scalar(select(InboundMessage.kind)) == "bounce"
        assert session.get(Subscriber, sid).status == "bounced"


def test_a_sign_up_by_mail_mails_its_confirmation_without_loading_ranking(tmp_path, sqlite_url):
    """The answer goes through delivery's senders; that must not pull in delivery's batch (which ranks)."""
    ensure_schema(sqlite_url)
    status, heavy, err = digest_process(tmp_path, sqlite_url, ["inbound", "--rcpt", "digest@digest.example.org"],
                                        mail("new@example.org", "subscribe", "graph neural networks"))
    assert status == 0, err
    assert not {"numpy", "scipy", "onnxruntime", "alembic"} & set(heavy), heavy
    assert len(list((tmp_path / "outbox").rglob("*.eml"))) == 1


def test_subscribe_without_likes_does_not_load_ranking(tmp_path, sqlite_url):
    status, heavy, err = digest_process(tmp_path, sqlite_url, ["subscribe", "ada@example.org", "--topic", "graphs"])
    assert status == 0, err
    assert not {"numpy", "scipy", "onnxruntime"} & set(heavy), heavy


@pytest.mark.parametrize("args", [["--help"], ["inbound", "--help"], ["inbound", "--list"]])
def test_the_cli_starts_without_heavy_modules(tmp_path, sqlite_url, args):
    ensure_schema(sqlite_url)
    status, heavy, err = digest_process(tmp_path, sqlite_url, args)
    assert status == 0, err
    assert heavy == [], f"digest {' '.join(args)} imported {heavy}"


@pytest.mark.parametrize("args", [["--processes", "2"], ["--smtp"]])
def test_listener_options_without_a_listener_are_one_line_exit_2(tmp_path, sqlite_url, args):
    status, heavy, err = digest_process(tmp_path, sqlite_url, ["inbound", *args])
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err, err
