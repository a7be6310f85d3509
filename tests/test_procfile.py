"""The Procfile's web process listens where the emailed links point."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import sys
import urllib.request
import uuid
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from helpers import free_port, make_env
from digest.config import DEFAULT_BASE_URL, load_settings
from digest.db import ensure_schema, session_factory
from digest.ingest import seeds_spec
from digest.jobs import run_ingest
from digest.subscriptions import subscribe, validate_preferences
from procs import Proc, wait_until

ROOT = Path(__file__).resolve().parents[1]


def web_line() -> str:
    return next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))


def test_procfile_web_port_defaults_to_the_port_of_the_default_base_url():
    match = re.search(r"--bind \S+:\$\{DIGEST_PORT:-(\d+)\}", web_line())
    assert match, web_line()  # not honcho's PORT, which the links know nothing of
    assert int(match.group(1)) == urlsplit(DEFAULT_BASE_URL).port


@pytest.mark.slow
def test_links_in_a_delivered_email_reach_the_web_process_under_honcho(tmp_path, pg_database_url):
    from helpers import _truncate

    ensure_schema(pg_database_url)
    web_port, honcho_port = free_port(), free_port()
    env = make_env(tmp_path, pg_database_url, DIGEST_QUEUE=f"digest-test-{uuid.uuid4().hex[:8]}",
                   DIGEST_TICK_SECONDS=2, DIGEST_SWEEP_SECONDS=2, DIGEST_PORT=web_port,
                   DIGEST_BASE_URL=f"http://127.0.0.1:{web_port}", DIGEST_WORKER_CONCURRENCY=1,
                   PORT=honcho_port,  # what honcho hands its processes; the web line must not use it
                   DIGEST_INBOUND_LISTEN=f"127.0.0.1:{free_port()}")
    now = dt.datetime.now(dt.timezone.utc)
    settings = load_settings(env, read_dotenv=False)
    run_ingest(settings, [seeds_spec()], now)
    with session_factory(pg_database_url).begin() as session:
        subscribe(session, "ada@example.org", validate_preferences(topics=["LLM quantization"], send_hour=0), now)
    honcho = shutil.which("honcho", path=str(Path(sys.executable).parent)) or "honcho"
    proc = Proc([honcho, "-f", str(ROOT / "Procfile"), "-d", str(tmp_path), "start"],
                {**env, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"},
                tmp_path / "honcho.log")
    try:
        eml = wait_until(lambda: next((tmp_path / "outbox").glob("*/*.eml"), None), 90,
                         what="a digest in the outbox")
        mail = message_from_bytes(eml.read_bytes(), policy=policy.default)
        links = re.findall(r"http://[^\s<>\"]+/(?:preferences|unsubscribe)/[^\s<>\"]+",
                           mail.get_body(("plain",)).get_content() + str(mail["List-Unsubscribe"]))
        assert links, mail.get_body(("plain",)).get_content()
        for link in links:
            page = wait_until(lambda: _get(link), 30, what=f"{link} answered")
            assert "ada@example.org" in page, link
    finally:
        proc.stop(timeout=30)
        _truncate(pg_database_url)


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()
    except OSError:
        return None
