"""`digest send`: its exit status, what it says when nothing is sent, and environment failures in one line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner
from sqlalchemy import func, select

from helpers import REDIS_URL, free_port, make_env
from digest.cli import cli
from digest.db import session_factory
from digest.models import Digest

DIGEST = str(Path(sys.executable).with_name("digest"))


@pytest.fixture
def run(tmp_path, monkeypatch, db_url):
    monkeypatch.chdir(tmp_path)
    env = make_env(tmp_path, db_url)

    def invoke(*args, **extra_env):
        return CliRunner().invoke(cli, list(args), env={**env, **extra_env}, catch_exceptions=False)

    invoke.env, invoke.url = env, db_url
    return invoke


def states(url) -> dict[str, int]:
    with session_factory(url)() as session:
        return dict(session.execute(select(Digest.state, func.count()).group_by(Digest.state)).all())


def attempts(url) -> list[int]:
    with session_factory(url)() as session:
        return list(session.scalars(select(Digest.attempts).order_by(Digest.id)))


def console(tmp_path, url, *args, **extra) -> subprocess.CompletedProcess:
    """The installed console script in a real process: what an operator sees."""
    env = {**os.environ, **make_env(tmp_path, url, **extra)}
    return subprocess.run([DIGEST, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_send_with_no_subscribers_says_none_are_due_and_exits_0(run):
    result = run("send")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "nothing to send: no subscribers are due"


def test_second_send_says_which_editions_were_already_sent(run):
    run("ingest", "seeds")
    run("subscribe", "ada@example.org", "--topic", "LLM quantization", "--max-papers", "1")
    run("subscribe", "grace@example.org", "--topic", "efficient attention")
    first = run("send")
    assert first.exit_code == 0 and "2 sent" in first.output
    assert "ada@example.org: sent 1 paper (" in first.output
    again = run("send")
    assert again.exit_code == 0, again.output
    assert again.output.startswith("nothing new to send: all 2 digests of ")
    assert again.output.rstrip().endswith("were already sent")
    one = run("send", "--to", "ada@example.org")
    assert one.output.startswith("nothing new to send: the digest of ") and "was already sent" in one.output


def test_everyone_skipped_is_reported_as_skipped_not_as_already_sent(run):
    run("subscribe", "ada@example.org", "--topic", "LLM quantization")  # no papers at all
    first = run("send")
    assert first.exit_code == 0, first.output
    assert "1 skipped" in first.output and "already sent" not in first.output
    again = run("send")
    assert again.exit_code == 0 and "was already skipped" in again.output and "sent" not in again.output


def test_refused_smtp_connection_exits_1_and_spends_no_attempt(run):
    run("ingest", "seeds")
    run("subscribe", "ada@example.org", "--topic", "LLM quantization")
    run("subscribe", "grace@example.org", "--topic", "efficient attention")
    closed = f"smtp://127.0.0.1:{free_port()}?timeout=2"
    result = run("send", DIGEST_SMTP_URL=closed)
    assert result.exit_code == 1, result.output
    assert "2 left for retry (relay unavailable: cannot connect to 127.0.0.1" in result.output
    assert states(run.url) == {"pending": 2} and attempts(run.url) == [0, 0]  # an outage never uses up attempts


def test_a_refused_recipient_exits_1_and_a_clean_run_exits_0(run, smtp_server):
    handler, port = smtp_server
    run("ingest", "seeds")
    run("subscribe", "ada@example.org", "--topic", "LLM quantization")
    run("subscribe", "grace@example.org", "--topic", "efficient attention")
    handler.rcpt_replies["ada@example.org"] = "550 5.1.1 User unknown"
    relay = f"smtp://127.0.0.1:{port}?timeout=5"
    failed = run("send", DIGEST_SMTP_URL=relay)
    assert failed.exit_code == 1 and failed.output.rstrip().endswith("1 sent, 1 failed"), failed.output
    handler.rcpt_replies.clear()
    run("subscribe", "hedy@example.org", "--topic", "sparse matrices")
    clean = run("send", DIGEST_SMTP_URL=relay)
    assert clean.exit_code == 0 and "1 sent" in clean.output, clean.output


def test_outbox_path_that_is_a_file_fails_in_one_line_and_claims_nothing(tmp_path, db_url):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the outbox folder should be")
    assert console(tmp_path, db_url, "ingest", "seeds").returncode == 0
    assert console(tmp_path, db_url, "subscribe", "ada@example.org", "--topic", "LLM quantization").returncode == 0
    bad = console(tmp_path, db_url, "send", DIGEST_OUTBOX_DIR=blocker)
    assert bad.returncode == 1, bad.stderr
    assert bad.stderr.strip().count("\n") == 0 and "Traceback" not in bad.stderr
    assert f"DIGEST_OUTBOX_DIR={blocker}" in bad.stderr
    assert "sending" not in states(db_url)
    good = console(tmp_path, db_url, "send")
    assert good.returncode == 0 and "1 sent" in good.stdout, good.stdout + good.stderr
    assert len(list((tmp_path / "outbox").glob("*/*.eml"))) == 1


def test_enqueue_to_an_unreachable_broker_fails_in_one_line_and_plans_nothing(run):
    run("ingest", "seeds")
    run("subscribe", "ada@example.org", "--topic", "LLM quantization")
    result = run("send", "--enqueue", DIGEST_BROKER_URL="redis://:hunter2@127.0.0.1:1/0")
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert "cannot reach the broker at DIGEST_BROKER_URL=redis://:***@127.0.0.1:1/0" in result.output
    assert "hunter2" not in result.output and "nothing was planned" in result.output
    assert states(run.url) == {}  # no orphan pending rows
    assert run("send").exit_code == 0 and states(run.url) == {"sent": 1}


def test_enqueue_counts_read_in_the_singular(tmp_path, sqlite_url):
    queue = f"digest-test-{uuid.uuid4().hex[:8]}"
    assert console(tmp_path, sqlite_url, "ingest", "seeds").returncode == 0
    assert console(tmp_path, sqlite_url, "subscribe", "ada@example.org", "--topic", "x").returncode == 0
    try:
        result = console(tmp_path, sqlite_url, "send", "--enqueue", DIGEST_QUEUE=queue)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("queued 1 digest in 1 batch on DIGEST_BROKER_URL="), result.stdout
        assert redis.Redis.from_url(REDIS_URL).llen(queue) == 1
    finally:
        redis.Redis.from_url(REDIS_URL).delete(queue)


@pytest.mark.parametrize("command", ["demo", "run"])
def test_demo_and_run_exit_1_when_digests_are_left_for_retry(run, command):
    """The daily job tells automation the truth too: a relay that is down is exit 1, and nothing is spent."""
    closed = f"smtp://127.0.0.1:{free_port()}?timeout=2"
    if command == "run":
        run("ingest", "seeds")
        run("subscribe", "ada@example.org", "--topic", "LLM quantization", "--hour", "0")
    result = run(command, DIGEST_SMTP_URL=closed)
    assert result.exit_code == 1, result.output
    assert "left for retry (relay unavailable" in result.output
    assert set(states(run.url)) == {"pending"} and set(attempts(run.url)) == {0}


def test_demo_with_an_outbox_that_is_a_file_claims_nothing(run, tmp_path):
    (tmp_path / "outbox-file").write_text("")
    result = CliRunner().invoke(cli, ["demo"], env={**run.env, "DIGEST_OUTBOX_DIR": str(tmp_path / "outbox-file")})
    assert result.exit_code == 1 and "DIGEST_OUTBOX_DIR" in result.output, result.output
    assert states(run.url).get("sending", 0) == 0


def scored(output: str) -> list[tuple[int, float, str]]:
    """(number, score, title) of each paper line of a dry run."""
    return [(int(n), float(s), t) for n, s, t in re.findall(r"^\s+(\d+)\. \[([0-9.]+)\] (.+?)  — ", output, re.M)]


def test_the_dry_run_lists_the_picks_best_score_first(run):
    run("ingest", "seeds")
    run("subscribe", "ada@example.org", "--topic", "LLM quantization", "--topic", "efficient attention",
        "--topic", "sparse matrices", "--max-papers", "12")
    lines = scored(run("send", "--dry-run").output)
    assert len(lines) == 12 and [n for n, _, _ in lines] == list(range(1, 13))
    assert [s for _, s, _ in lines] == sorted((s for _, s, _ in lines), reverse=True)


def test_the_dry_run_of_a_finished_edition_shows_what_it_sent_or_why_not(run):
    from digest.models import DigestItem, Paper

    run("ingest", "seeds")
    run("subscribe", "ada@example.org", "--topic", "LLM quantization", "--topic", "efficient attention",
        "--max-papers", "4")
    run("subscribe", "bob@example.org", "--topic", "tidal heating of icy moons")
    run("send")
    dry = run("send", "--dry-run").output
    with session_factory(run.url)() as session:
        held = session.execute(select(DigestItem.score, Paper.title, DigestItem.reason).join(Paper).where(
            DigestItem.subscriber_id == 1).order_by(DigestItem.score.desc())).all()
    assert len(held) == 4
    assert re.search(r"^ada@example.org \(\S+\): already sent at \d{4}-\d\d-\d\d \d\d:\d\d UTC, 4 papers; "
                     r"nothing would be sent \(use --force\)\. It held:$", dry, re.M)
    assert [f"  {n:2}. [{s:.2f}] {t[:90]}  — {r}" for n, (s, t, r) in enumerate(held, 1)] == \
        [line for line in dry.splitlines() if re.match(r"^\s+\d+\. \[", line)]
    assert re.search(r"^bob@example.org \(\S+\): already skipped \(nothing relevant today\); nothing would be sent",
                     dry, re.M)
