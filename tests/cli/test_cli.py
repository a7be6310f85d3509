"""Every CLI command, its happy path and its error paths (exit status 2, one line, nothing written)."""

from __future__ import annotations

import datetime as dt
import email
import os
import re
import subprocess
import sys
from email import policy
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from helpers import FIXTURES, SAMPLE, SEED_LISTING, free_port, make_env
from digest.cli import cli
from digest.db import session_factory
from digest.models import Digest, Paper, Source, Subscriber


@pytest.fixture
def run(tmp_path, monkeypatch, db_url):
    """Invoke the CLI in an empty working directory with a test environment."""
    monkeypatch.chdir(tmp_path)
    env = make_env(tmp_path, db_url)

    def invoke(*args, **extra_env):
        result = CliRunner().invoke(cli, list(args), env={**env, **extra_env}, catch_exceptions=False)
        return result

    invoke.env = env
    invoke.url = db_url
    return invoke


def count(url, model):
    with session_factory(url)() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_every_command_help_shows_an_example(run):
    commands = ["init", "demo", "subscribe", "unsubscribe", "subscribers", "ingest", "run", "send", "preview",
                "status", "sources add", "sources list", "sources remove"]
    for name in commands:
        result = run(*name.split(), "--help")
        assert result.exit_code == 0, name
        assert "Example:" in result.output and "digest " in result.output, name


def test_init_reports_the_schema_revision(run):
    result = run("init")
    assert result.exit_code == 0
    assert "schema at revision 0001" in result.output or "schema at revision" in result.output


def test_demo_writes_one_eml_per_sample_subscriber_and_an_index(run, tmp_path):
    result = run("demo")
    assert result.exit_code == 0, result.output
    assert "seeds: 158 new" in result.output
    emls = sorted((tmp_path / "outbox").glob("*/*.eml"))
    assert len(emls) == SAMPLE
    index = (tmp_path / "outbox" / "index.html").read_text()
    for path in emls:
        assert path.relative_to(tmp_path / "outbox").as_posix() in index
    msg = email.message_from_bytes(emls[0].read_bytes(), policy=policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    assert "outbox:" in result.output

    again = run("demo")
    assert again.exit_code == 0
    assert "nothing new to send" in again.output
    assert len(list((tmp_path / "outbox").glob("*/*.eml"))) == SAMPLE
    assert count(run.url, Digest) == SAMPLE


def test_subscribe_then_list_then_unsubscribe(run):
    result = run("subscribe", "Ada@Example.org", "--topic", "LLM quantization", "--topic", "pruning",
                 "--category", "cs.LG", "--exclude", "survey", "--timezone", "Europe/Berlin", "--hour", "6",
                 "--max-papers", "5")
    assert result.exit_code == 0, result.output
    listed = run("subscribers")
    assert "Ada@example.org" in listed.output and "LLM quantization; pruning" in listed.output
    assert "Europe/Berlin" in listed.output and "06:00" in listed.output and "active" in listed.output
    assert run("unsubscribe", "ada@EXAMPLE.org").exit_code == 0
    assert "unsubscribed" in run("subscribers").output
    # The address is unique ignoring case, and an opted-out one is never re-activated by an operator.
    again = run("subscribe", "ADA@example.org", "--topic", "x")
    assert again.exit_code == 2 and "unsubscribed on" in again.output
    assert count(run.url, Subscriber) == 1


def row_of(url, address="ada@example.org"):
    from digest.subscriptions import get_subscriber

    with session_factory(url)() as session:
        return get_subscriber(session, address)


def columns(subscriber) -> dict:
    return {c.key: getattr(subscriber, c.key) for c in Subscriber.__table__.columns}


def test_subscribe_existing_changes_only_given_options(run):
    run("subscribe", "ada@example.org", "--topic", "LLM quantization", "--category", "cs.LG", "--exclude", "survey",
        "--timezone", "Europe/London", "--hour", "7", "--max-papers", "5", "--weekly")
    before = columns(row_of(run.url))
    result = run("subscribe", "ada@example.org", "--hour", "8")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "updated ada@example.org: hour 07:00 → 08:00"
    after = columns(row_of(run.url))
    # The stored send time moves with the hour (London's Monday 07:00 becomes 08:00), and nothing else changes.
    assert after == {**before, "send_hour": 8, "next_send_at": before["next_send_at"] + dt.timedelta(hours=1)}
    same = run("subscribe", "ada@example.org", "--hour", "8", "--timezone", "Europe/London")
    assert same.exit_code == 0 and same.output.strip() == "no change to ada@example.org"
    assert "topics: LLM quantization → pruning" in run("subscribe", "ada@example.org", "-t", "pruning").output
    assert row_of(run.url).exclude == ["survey"]


def opt_out(url, status, failures=0):
    import datetime as dt

    with session_factory(url).begin() as session:
        subscriber = session.scalar(select(Subscriber).where(Subscriber.email_key == "ada@example.org"))
        subscriber.status, subscriber.permanent_failures = status, failures
        subscriber.status_at = dt.datetime(2026, 11, 30, 9, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("status, words", [("unsubscribed", "unsubscribed on"), ("bounced", "bounced on"),
                                           ("complained", "complained"), ("suppressed", "was suppressed on")])
def test_subscribe_refuses_to_reactivate_an_address_that_opted_out(run, status, words):
    run("subscribe", "ada@example.org", "--topic", "graphs")
    opt_out(run.url, status, failures=2)
    before = columns(row_of(run.url))
    result = run("subscribe", "ada@example.org", "--topic", "x", "--hour", "9")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: ada@example.org {words}{'' if words.endswith(' on') else ' (marked a digest as spam) on'} "
        "2026-11-30; use --resubscribe to send them a new confirmation"]
    assert columns(row_of(run.url)) == before


@pytest.mark.parametrize("via", ["outbox", "smtp"])
def test_resubscribe_mails_a_confirmation_and_leaves_the_address_opted_out(run, tmp_path, smtp_server, via):
    from digest.config import load_settings
    from digest.web import create_app

    handler, port = smtp_server
    extra = {"DIGEST_SMTP_URL": f"smtp://127.0.0.1:{port}"} if via == "smtp" else {}
    run("subscribe", "ada@example.org", "--topic", "graphs", "--hour", "7")
    opt_out(run.url, "unsubscribed", failures=2)
    result = run("subscribe", "ada@example.org", "--resubscribe", "--hour", "9", **extra)
    assert result.exit_code == 0, result.output
    assert "stays unsubscribed until they confirm" in result.output
    row = row_of(run.url)
    assert (row.status, row.send_hour, row.permanent_failures) == ("unsubscribed", 7, 2)
    if via == "smtp":
        (_, rcpts, data), = handler.messages
        assert rcpts == ["ada@example.org"]
    else:
        (eml,) = (tmp_path / "outbox").glob("*/*.eml")
        data = eml.read_bytes()
    mail = email.message_from_bytes(data, policy=policy.default)
    text = mail.get_body(("plain",)).get_content()
    assert "graphs" in text and "09:00" in text
    path = re.search(r"https://digest\.example\.org(/confirm/\S+)", text).group(1)
    client = create_app(load_settings(run.env, read_dotenv=False)).test_client()
    page = client.get(path)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert client.post(path, data={"csrf_token": token}).status_code == 200
    row = row_of(run.url)
    assert (row.status, row.send_hour, row.topics) == ("active", 9, ["graphs"])


def test_resubscribe_that_cannot_be_mailed_fails_with_one_line_and_writes_nothing(run):
    from helpers import free_port

    run("subscribe", "ada@example.org", "--topic", "graphs")
    opt_out(run.url, "unsubscribed")
    before = columns(row_of(run.url))
    result = run("subscribe", "ada@example.org", "--resubscribe",
                 DIGEST_SMTP_URL=f"smtp://127.0.0.1:{free_port()}?timeout=5")
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1 and "DIGEST_SMTP_URL" in result.output
    assert columns(row_of(run.url)) == before


def test_demo_never_reactivates_an_unsubscribed_sample_address(run):
    assert run("demo").exit_code == 0
    assert run("unsubscribe", "ada@example.org").exit_code == 0
    assert run("demo").exit_code == 0
    assert row_of(run.url).status == "unsubscribed"


@pytest.mark.parametrize("args, message", [
    (["subscribe", "not-an-address", "--topic", "x"], "invalid email address"),
    (["subscribe", "a@example.org", "--timezone", "Mars/Olympus"], "unknown time zone"),
    (["subscribe", "a@example.org", "--hour", "25"], "Invalid value for '--hour'"),
    (["unsubscribe", "nobody@example.org"], "no subscriber"),
    (["preview", "nobody@example.org"], "no subscriber"),
    (["send", "--date", "yesterday"], "expected YYYY-MM-DD"),
    (["send", "--to", "bad@@address"], "invalid email address"),
    (["ingest", "--kind", "nonsense", "x.xml"], "unknown kind"),
])
def test_usage_errors_exit_2_with_one_line_and_write_nothing(run, args, message):
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert count(run.url, Subscriber) == 0


def test_invalid_environment_value_is_refused_naming_the_variable(run):
    result = run("status", DIGEST_SMTP_URL="ftp://relay")
    assert result.exit_code == 2
    assert "DIGEST_SMTP_URL" in result.output
    assert run("status", DIGEST_LEASE_SECONDS="soon").exit_code == 2


def test_ingest_refuses_a_missing_file_before_reading_anything(run, tmp_path):
    listing = tmp_path / "listing.txt"
    listing.write_bytes(SEED_LISTING.read_bytes())
    result = run("ingest", str(tmp_path / "missing.xml"), str(listing))
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [f"Error: {tmp_path / 'missing.xml'}: no such file"]
    assert count(run.url, Paper) == 0 and count(run.url, Source) == 0


def test_ingest_goes_on_past_a_failing_source_and_exits_1_naming_it(run, tmp_path):
    listing = tmp_path / "listing.txt"
    listing.write_bytes(SEED_LISTING.read_bytes())
    gone = f"http://127.0.0.1:{free_port()}/rss/cs.LG"
    result = run("ingest", gone, str(listing))
    assert result.exit_code == 1, result.output
    assert "listing.txt: 158 new" in result.output and "connection refused" in result.output
    assert result.output.strip().splitlines()[-1] == f"Error: 1 source failed: {gone}"
    assert count(run.url, Paper) == 158
    # the one-off URL was refused, not added: only the listing that was read has a row
    assert [line.split()[0] for line in run("sources", "list").output.splitlines()[2:]] == ["listing.txt"]


def test_ingest_of_a_configured_source_that_fails_exits_1_and_records_its_health(run, tmp_path):
    result = run("ingest", DIGEST_SOURCES=f"seeds,{tmp_path / 'gone.xml'}")
    assert result.exit_code == 1, result.output
    assert "seeds: 158 new" in result.output and "gone.xml: failed:" in result.output
    status = run("status")
    assert "gone.xml" in status.output and "error" in status.output


def test_ingest_rerun_says_unchanged_without_zero_counts(run):
    assert run("ingest", "seeds").exit_code == 0
    again = run("ingest", "seeds")
    assert again.exit_code == 0
    assert again.output.strip() == "seeds: unchanged since last ingest (158 papers)"
    status = run("status").output
    assert "unchanged since last read (158 papers)" in status and "0 new, 0 updated" not in status


def test_ingest_counts_are_singular_for_one(run, tmp_path):
    feed = tmp_path / "one.txt"
    lines = SEED_LISTING.read_text().splitlines()
    feed.write_text("\n".join(lines) + "\nA lonely title\n")
    result = run("ingest", str(feed), "seeds")
    assert "1 problem" in result.output and "1 problems" not in result.output


def test_send_dry_run_records_nothing_then_send_and_force(run):
    run("ingest", "seeds")
    run("subscribe", "ada@example.org", "--topic", "LLM quantization")
    dry = run("send", "--dry-run")
    assert "ada@example.org" in dry.output and "would get" in dry.output
    assert count(run.url, Digest) == 0
    sent = run("send", "--to", "ada@example.org")
    assert "1 sent" in sent.output
    assert "nothing new to send" in run("send").output
    forced = run("send", "--force", "--to", "ada@example.org")
    assert "1 sent" in forced.output


def test_subscribe_with_updates_and_the_dry_run_shows_the_updated_block_apart(run):
    capture = FIXTURES / "arxiv-rss-new" / "all-archives_2024-11-28_part2of2.xml"  # 569 replacements in it
    assert run("ingest", str(capture)).exit_code == 0
    run("subscribe", "bob@example.org", "--topic", "large language models", "--max-papers", "5", "--updates")
    assert row_of(run.url, "bob@example.org").updates is True
    dry = run("send", "--dry-run", "--to", "bob@example.org").output
    head, updated = dry.split("\n  Updated (new versions of papers announced before this edition):\n")
    assert "would get 5 papers and 5 updated" in head
    assert [line.startswith("   ↻ ") and "New version (v" in line for line in updated.splitlines()] == [True] * 5
    assert run("subscribe", "bob@example.org", "--no-updates").output.strip() == \
        "updated bob@example.org: updates on → off"
    plain = run("send", "--dry-run", "--to", "bob@example.org").output
    assert "would get 5 papers\n" in plain and "Updated" not in plain and count(run.url, Digest) == 0


def test_preview_writes_html_and_records_nothing(run, tmp_path):
    run("ingest", "seeds")
    run("subscribe", "grace@example.org", "--topic", "efficient attention")
    result = run("preview", "grace@example.org", "--out", str(tmp_path / "p.html"))
    assert result.exit_code == 0, result.output
    html = (tmp_path / "p.html").read_text()
    assert "<html" in html and "attention" in html.lower()
    assert count(run.url, Digest) == 0


def test_run_ingests_configured_sources_and_sends_what_is_due(run):
    run("subscribe", "night@example.org", "--topic", "quantum algorithms", "--hour", "0")
    result = run("run")
    assert result.exit_code == 0, result.output
    assert "seeds: 158 new" in result.output
    assert "1 sent" in result.output
    status = run("status")
    assert "seeds" in status.output and "sent" in status.output


def test_sources_add_list_remove(run, tmp_path):
    listing = tmp_path / "mine.txt"
    listing.write_bytes(SEED_LISTING.read_bytes())
    assert run("sources", "add", "mine", str(listing)).exit_code == 0
    assert "mine" in run("sources", "list").output
    assert run("sources", "add", "bad", str(listing), "--kind", "nope").exit_code == 2
    assert run("sources", "remove", "mine").exit_code == 0
    assert run("sources", "remove", "mine").exit_code == 2


def test_console_script_prints_one_line_without_traceback(tmp_path, sqlite_url):
    env = {**os.environ, **make_env(tmp_path, sqlite_url)}
    exe = Path(sys.executable).with_name("digest")
    result = subprocess.run([str(exe), "subscribe", "nope"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "invalid email address" in result.stderr and "Traceback" not in result.stderr


def test_status_warns_when_papers_are_ranked_by_words_only(run):
    assert run("demo").exit_code == 0
    assert "ranking by words only" not in run("status").output
    result = run("status", DIGEST_EMBEDDINGS="off")
    assert result.exit_code == 0
    assert "\nranking by words only: DIGEST_EMBEDDINGS=off\n" in result.output


def test_status_names_a_model_file_missing_from_the_installation(tmp_path, sqlite_url):
    """An installation without its model file (a repackaging that dropped it): status says so in one line."""
    import shutil

    from helpers import ROOT

    site = tmp_path / "site"
    shutil.copytree(ROOT / "digest", site / "digest", ignore=shutil.ignore_patterns("minilm.onnx", "__pycache__"))
    env = {**os.environ, **make_env(tmp_path, sqlite_url), "PYTHONPATH": str(site)}
    result = subprocess.run([sys.executable, "-c", "from digest.cli import main; main()", "status"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    missing = site / "digest" / "ranking" / "model" / "minilm.onnx"
    assert f"ranking by words only: model file missing ({missing})" in result.stdout
