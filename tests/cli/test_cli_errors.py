"""Failures of the environment reach the user as one line and exit status 1 through the real `digest` script."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import SEED_LISTING, make_env

DIGEST = str(Path(sys.executable).with_name("digest"))


def digest(tmp_path, *args, **env):
    """Run the console script in tmp_path; return (exit status, stderr lines, stdout)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    full.update({**make_env(tmp_path), **{k: str(v) for k, v in env.items()}})
    done = subprocess.run([DIGEST, *args], cwd=tmp_path, env=full, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stderr.strip().splitlines(), done.stdout


def assert_one_line(lines, *words):
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0] and all(w in lines[0] for w in words), lines


@pytest.mark.parametrize("url, words", [
    ("postgresql://postgres@127.0.0.1:5432/nosuchdb", ['database "nosuchdb" does not exist']),
    ("postgresql://postgres@127.0.0.1:1/x", ["connection refused"]),
    ("postgresql://u:secret@no-such-host.invalid/x", ["unknown host", "u:***@no-such-host.invalid"]),
    ("sqlite:////tmp", ["is a folder, not a database file"]),
])
def test_unusable_database_is_one_line_naming_the_setting(tmp_path, url, words):
    status, lines, _ = digest(tmp_path, "status", DIGEST_DATABASE_URL=url)
    assert status == 1
    assert_one_line(lines, "DIGEST_DATABASE_URL=", *words)
    assert "secret" not in lines[0]


def test_a_file_that_is_not_a_database_is_one_line(tmp_path):
    not_db = tmp_path / "hostname"
    not_db.write_text("some-host\n")
    status, lines, _ = digest(tmp_path, "status", DIGEST_DATABASE_URL=f"sqlite:///{not_db}")
    assert status == 1
    assert_one_line(lines, "DIGEST_DATABASE_URL=", "not a SQLite database")
    assert not_db.read_text() == "some-host\n"


def test_a_database_in_a_folder_that_cannot_exist_is_one_line(tmp_path):
    (tmp_path / "afile").write_text("")
    status, lines, _ = digest(tmp_path, "init", DIGEST_DATABASE_URL=f"sqlite:///{tmp_path / 'afile' / 'sub' / 'x.db'}")
    assert status == 1
    assert_one_line(lines, "DIGEST_DATABASE_URL=", "cannot create the folder")


@pytest.mark.parametrize("data_dir, words", [
    ("/etc/passwd", ["is a file, not a folder"]),
    ("/proc/no-such-folder", ["cannot create the folder"]),
])
def test_unusable_data_dir_is_one_line_naming_the_setting(tmp_path, data_dir, words):
    status, lines, _ = digest(tmp_path, "status", DIGEST_DATA_DIR=data_dir)
    assert status == 1
    assert_one_line(lines, f"DIGEST_DATA_DIR={data_dir}", *words)


def test_an_outbox_that_is_a_file_is_one_line(tmp_path):
    (tmp_path / "outbox-file").write_text("")
    status, lines, _ = digest(tmp_path, "demo", DIGEST_OUTBOX_DIR=tmp_path / "outbox-file",
                              DIGEST_DATABASE_URL=f"sqlite:///{tmp_path / 'd.sqlite3'}")
    assert status == 1
    assert_one_line(lines, str(tmp_path / "outbox-file"))


@pytest.fixture
def with_reader(tmp_path):
    """A database with the seeds and one subscriber; returns the env for `digest`."""
    env = {"DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'd.sqlite3'}"}
    assert digest(tmp_path, "ingest", str(SEED_LISTING), **env)[0] == 0
    assert digest(tmp_path, "subscribe", "x/y@example.org", "--topic", "LLM", **env)[0] == 0
    return env


@pytest.mark.parametrize("out, words", [
    ("/nonexistent/dir/x.html", ["cannot write /nonexistent/dir/x.html", "No such file"]),
    ("/dev/full", ["cannot write /dev/full", "not a regular file"]),
])
def test_preview_to_an_unwritable_path_is_one_line_and_writes_nothing(tmp_path, with_reader, out, words):
    status, lines, _ = digest(tmp_path, "preview", "x/y@example.org", "--out", out, **with_reader)
    assert status == 1
    assert_one_line(lines, *words)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)  # the device is still a device


def test_preview_of_an_odd_address_writes_a_safe_file_name_and_no_temporary(tmp_path, with_reader):
    status, _, out = digest(tmp_path, "preview", "x/y@example.org", **with_reader)
    assert status == 0, out
    assert (tmp_path / "preview-x_y@example.org.html").read_text().startswith("<!")
    assert not list(tmp_path.glob(".*tmp"))


@pytest.mark.parametrize("address, status, words", [
    ("x/z@example.org", 2, ["no subscriber 'x/z@example.org'"]),
    ("not an address", 2, ["invalid email address"]),
])
def test_preview_of_an_unknown_or_invalid_address_is_one_line(tmp_path, with_reader, address, status, words):
    code, lines, _ = digest(tmp_path, "preview", address, **with_reader)
    assert code == status
    assert_one_line(lines, *words)


@pytest.mark.parametrize("value, words", [
    ("seeds,,x", ["empty item"]),
    ("seeds,ftp://example.org/feed.xml", ["only http:// and https://"]),
    ("javascript:alert(1)", ["only http:// and https://"]),
    ("https://", ["URL without a host"]),
    ("bad\x01name=https://example.org/feed", ["invalid source name"]),
])
def test_bad_digest_sources_is_refused_at_start(tmp_path, value, words):
    status, lines, _ = digest(tmp_path, "ingest", DIGEST_SOURCES=value,
                              DIGEST_DATABASE_URL=f"sqlite:///{tmp_path / 'd.sqlite3'}")
    assert status == 2
    assert_one_line(lines, "DIGEST_SOURCES", *words)
    assert not (tmp_path / "d.sqlite3").exists()


@pytest.mark.parametrize("category, words", [
    ("cs.XYZ", ["unknown arXiv category 'cs.XYZ'; did you mean cs.CY or cs.SY?"]),
    ("<script>", ["unknown arXiv category '<script>'", "category_taxonomy"]),
    ("qunt-ph", ["did you mean quant-ph?"]),
])
def test_subscribe_to_an_unknown_category_is_refused_with_a_suggestion(tmp_path, category, words):
    status, lines, _ = digest(tmp_path, "subscribe", "ada@example.org", "--category", category,
                              DIGEST_DATABASE_URL=f"sqlite:///{tmp_path / 'd.sqlite3'}")
    assert status == 2
    assert_one_line(lines, *words)


def test_ingest_exit_status_tells_whether_every_source_was_read(tmp_path):
    env = {"DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'd.sqlite3'}"}
    assert digest(tmp_path, "ingest", "seeds", **env)[0] == 0
    status, lines, out = digest(tmp_path, "ingest", "seeds", "http://127.0.0.1:1/feed", **env)
    assert status == 1
    assert lines[-1] == "Error: 1 source failed: http://127.0.0.1:1/feed"
    assert "seeds: unchanged since last ingest (158 papers)" in out
    assert digest(tmp_path, "ingest", "--kind", "gopher", "seeds", **env)[0] == 2


def test_default_database_is_created_in_a_new_data_folder(tmp_path):
    status, _, out = digest(tmp_path, "init", DIGEST_DATA_DIR=tmp_path / "new" / "data")
    assert status == 0, out
    assert (tmp_path / "new" / "data" / "digest.sqlite3").is_file()
    shutil.rmtree(tmp_path / "new")


def test_smtp_settings_never_show_the_password_and_dkim_settings_never_show_the_key():
    from digest.config import DkimConfig, SmtpConfig

    shown = repr(SmtpConfig("relay.example.org", 587, "starttls", "user", "hunter2")) + repr(
        DkimConfig("sel", "example.org", b"-----BEGIN PRIVATE KEY-----"))
    assert "hunter2" not in shown and "PRIVATE" not in shown and "relay.example.org:587" in shown
