"""`digest sources add/list/remove` and `digest ingest` through the real CLI."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from helpers import FIXTURES, free_port, make_env
from digest.cli import cli
from digest.db import session_factory
from digest.models import Source

RSS = FIXTURES / "arxiv-rss-new"


@pytest.fixture
def run(tmp_path, sqlite_url, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .env
    env = make_env(tmp_path, sqlite_url)

    def invoke(*args):
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    invoke.url = sqlite_url
    return invoke


def test_add_list_remove_a_file_source_with_its_kind_detected(run):
    added = run("sources", "add", "stat", str(RSS / "stat_2024-03-26_rss.xml"))
    assert added.exit_code == 0 and "added stat (arxiv-rss)" in added.output
    ingested = run("ingest")
    assert "stat: 123 new, 0 updated, 0 unchanged, 0 problems" in ingested.output
    listed = run("sources", "list")
    assert "stat" in listed.output and "arxiv-rss" in listed.output and "123 new" in listed.output
    assert run("sources", "remove", "stat").output.strip() == "removed stat"
    assert not [line for line in run("sources", "list").output.splitlines() if line.startswith("stat ")]


def test_unknown_kind_is_a_one_line_usage_error(run):
    result = run("sources", "add", "x", str(RSS / "stat_2024-03-26_rss.xml"), "--kind", "gopher")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == ["Error: unknown kind 'gopher' (known: arxiv-api, arxiv-rdf, "
                                                  "arxiv-rss, auto, hf-daily, listing, rss)"]
    assert run("ingest", "seeds", "--kind", "gopher").exit_code == 2


def test_unreachable_url_is_a_one_line_error(run):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/rss/cs.LG"
    result = run("sources", "add", "gone", url)
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "connection refused" in result.output
    assert "gone" not in run("sources", "list").output
    ingested = run("ingest", url)
    assert ingested.exit_code == 1 and ingested.output.strip().splitlines()[-1] == f"Error: 1 source failed: {url}"


def test_add_checks_the_url_and_takes_the_kind_from_the_content(run, httpserver):
    hf = (FIXTURES / "hf-daily" / "hf_daily_papers_2026-07-31_raw.json").read_bytes()
    httpserver.expect_request("/papers").respond_with_data(hf, content_type="application/json")
    result = run("sources", "add", "hf", httpserver.url_for("/papers"))
    assert result.exit_code == 0 and "added hf (hf-daily)" in result.output


def test_add_refuses_a_feed_that_reports_a_bad_query(run, httpserver):
    body = (RSS / "error_bad-archive-astroph_2024-11-28.xml").read_bytes()
    httpserver.expect_request("/rss/astroph").respond_with_data(body)
    result = run("sources", "add", "astro", httpserver.url_for("/rss/astroph"))
    assert result.exit_code == 2 and "Bad archive 'astroph'" in result.output


def test_ingest_prints_a_summary_per_source_and_status_shows_health(run):
    result = run("ingest", str(RSS / "cs.CL_2026-08-01_weekend-empty.xml"), str(RSS / "cs.AI_2026-04-27_3items.xml"))
    assert result.exit_code == 0
    assert "cs.CL_2026-08-01_weekend-empty.xml: 0 new, 0 updated, 0 unchanged, 0 problems [empty: no announcement" \
        in result.output
    assert "cs.AI_2026-04-27_3items.xml: 3 new" in result.output
    assert "total: 3 new" in result.output
    status = run("status")
    assert "cs.CL_2026-08-01_weekend-empty.xml" in status.output and "no announcement" in status.output


def _source_rows(url):
    with session_factory(url)() as session:
        return sorted((s.name, s.url, s.kind, s.last_status) for s in session.query(Source))


GONE = f"http://127.0.0.1:{free_port()}/rss/cs.LG"
STAT = str(RSS / "stat_2024-03-26_rss.xml")


@pytest.mark.parametrize("args, status", [
    (["ingest", "http://"], 2),
    (["ingest", "http://[::1"], 2),
    (["ingest", "ftp://example.org/feed.xml"], 2),
    (["ingest", "javascript:alert(1)"], 2),
    (["ingest", "/nonexistent/feed.xml"], 2),
    (["ingest", "/tmp"], 2),
    (["ingest", "seeds,,x"], 2),
    (["ingest", f"bad\x01name={STAT}"], 2),
    (["ingest", f"tab\tname={GONE}"], 2),
    (["ingest", f"={GONE}"], 2),
    (["ingest", f"{'n' * 201}={STAT}"], 2),
    (["ingest", STAT, "--kind", "gopher"], 2),
    (["ingest", GONE], 1),
    (["ingest", GONE, "--kind", "rss"], 1),
    (["ingest", str(FIXTURES / "hf-daily" / "hf_daily_papers_2026-07-31_raw.json"), "--kind", "arxiv-api"], 1),
    (["sources", "add", "esc\x1bname", STAT, "--no-check"], 2),
    (["sources", "add", "", STAT], 2),
    (["sources", "add", "n" * 201, STAT], 2),
    (["sources", "add", "x", "ftp://example.org/feed.xml"], 2),
    (["sources", "add", "x", "javascript:alert(1)"], 2),
    (["sources", "add", "x", "http://", "--no-check"], 2),
    (["sources", "add", "x", GONE, "--kind", "rss"], 2),
    (["sources", "add", "x", "/tmp"], 2),
    (["sources", "add", "x", str(RSS / "error_bad-archive-astroph_2024-11-28.xml")], 2),
    (["sources", "add", "x", STAT, "--kind", "gopher"], 2),
])
def test_a_refused_ingest_or_add_leaves_the_sources_table_unchanged(run, args, status):
    assert run("ingest", "seeds").exit_code == 0
    before = _source_rows(run.url)
    result = run(*args)
    assert result.exit_code == status, result.output
    assert "Traceback" not in result.output and result.output.strip().splitlines()[-1].startswith("Error: ")
    assert _source_rows(run.url) == before


def test_a_source_that_redirects_shows_where_it_moved_to(run, httpserver):
    body = (RSS / "cs.AI_2026-04-27_3items.xml").read_bytes()
    httpserver.expect_request("/rss/cs.AI").respond_with_data("", status=301, headers={"Location": "/v2/rss/cs.AI"})
    httpserver.expect_request("/v2/rss/cs.AI").respond_with_data(body)
    assert run("sources", "add", "ai", httpserver.url_for("/rss/cs.AI")).exit_code == 0
    assert run("ingest", "ai").exit_code == 0
    moved = f"moved to {httpserver.url_for('/v2/rss/cs.AI')}"
    assert moved in run("sources", "list").output
    assert moved in run("status").output
    # The feed later answers where it is configured: the note goes away, it is never stale.
    httpserver.clear()
    httpserver.expect_request("/rss/cs.AI").respond_with_data(body.replace(b"2604.21935", b"2604.99999"))
    assert run("ingest", "ai").exit_code == 0
    assert "moved to" not in run("sources", "list").output


def test_a_moved_source_that_fails_after_the_move_still_says_where_it_went(run, httpserver):
    httpserver.expect_request("/feed").respond_with_data("", status=302, headers={"Location": "/login"})
    httpserver.expect_request("/login").respond_with_data(b"<!DOCTYPE html><html><body>Sign in</body></html>")
    assert run("sources", "add", "gone", httpserver.url_for("/feed"), "--no-check").exit_code == 0
    assert run("ingest", "gone").exit_code == 1
    listed = run("sources", "list").output
    assert "not a feed: an HTML page" in listed and f"moved to {httpserver.url_for('/login')}" in listed
