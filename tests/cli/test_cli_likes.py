"""`digest like / dislike / unlike` and `subscribe --like / --library`: the same feedback the digest links record."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from helpers import FIXTURES, make_env
from digest import feedback as fb
from digest.cli import cli
from digest.db import session_factory
from digest.models import Feedback, Subscriber

LIBRARY = Path(__file__).resolve().parents[1] / "fixtures" / "library"
CS_LG = FIXTURES / "arxiv-rss-new" / "cs.LG_2026-04-27_3items.xml"
DIGEST = str(Path(sys.executable).with_name("digest"))


@pytest.fixture
def run(tmp_path, monkeypatch, db_url):
    monkeypatch.chdir(tmp_path)
    env = make_env(tmp_path, db_url)

    def invoke(*args):
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    invoke.url = db_url
    return invoke


def rows(url) -> list[tuple]:
    """(email, key, paper stored?, sign, origin, title) per feedback row."""
    with session_factory(url)() as session:
        return [(email, r.key, r.paper_id is not None, r.sign, r.origin, r.title)
                for r, email in session.execute(select(Feedback, Subscriber.email)
                                                .join(Subscriber, Subscriber.id == Feedback.subscriber_id)
                                                .order_by(Feedback.id))]


def subscriber(url, email="ada@example.org"):
    with session_factory(url)() as session:
        return session.scalar(select(Subscriber).where(Subscriber.email_key == email))


def test_like_dislike_and_unlike_record_what_the_links_record(run):
    assert run("ingest", str(CS_LG)).exit_code == 0
    assert run("subscribe", "ada@example.org", "--topic", "anomaly detection").exit_code == 0
    liked = run("like", "Ada@Example.org", "2604.21956", "arXiv:2604.21953v1", "https://arxiv.org/abs/2411.17730")
    assert liked.exit_code == 0, liked.output
    assert liked.output.splitlines() == [
        "liked 2604.21956: Conditional anomaly detection using soft harmonic functions: An application to …",
        "liked 2604.21953: Performance Anomaly Detection in Athletics: A Benchmarking System with Visual A…",
        "liked 2411.17730 (not in the database yet: matched when it is ingested)"]
    assert [(k, stored, sign, origin) for _, k, stored, sign, origin, _ in rows(run.url)] == [
        ("arxiv:2604.21956", True, fb.LIKE, "cli"), ("arxiv:2604.21953", True, fb.LIKE, "cli"),
        ("arxiv:2411.17730", False, fb.LIKE, "cli")]
    changed = run("dislike", "ada@example.org", "http://arxiv.org/pdf/2604.21953v2")
    assert changed.output.startswith("disliked 2604.21953: Performance Anomaly Detection")
    assert [r[3] for r in rows(run.url)] == [fb.LIKE, fb.DISLIKE, fb.LIKE]  # a new choice replaces the old one
    taken = run("unlike", "ada@example.org", "2604.21956", "2604.22038")
    assert taken.exit_code == 0
    assert taken.output.splitlines() == ["removed the choice on 2604.21956", "no choice on 2604.22038 to remove"]
    assert [r[1] for r in rows(run.url)] == ["arxiv:2604.21953", "arxiv:2411.17730"]
    assert "  1     " in run("subscribers").output  # the "liked" column


@pytest.mark.parametrize("args, message", [
    (["like", "ada@example.org", "2604.21956", "not-an-id"], "'not-an-id' is not an arXiv id (e.g. 2411.17730"),
    (["dislike", "ada@example.org", "17730"], "'17730' is not an arXiv id"),
    (["unlike", "ada@example.org", "https://example.org/abs/x"], "is not an arXiv id"),
    (["like", "nobody@example.org", "2604.21956"], "no subscriber 'nobody@example.org'"),
    (["like", "ada@example.org"], "Missing argument 'ARXIV_ID...'"),
    (["subscribe", "ada@example.org", "--like", "2604.21956", "--like", "twenty"], "'twenty' is not an arXiv id"),
])
def test_a_bad_id_or_address_is_one_line_exit_2_and_nothing_is_written(run, args, message):
    run("subscribe", "ada@example.org", "--topic", "x")
    result = run(*args)
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output and rows(run.url) == []


def test_subscribe_with_a_library_and_no_topics_learns_from_the_liked_papers(run):
    assert run("ingest", str(CS_LG)).exit_code == 0
    result = run("subscribe", "bob@example.org", "--library", str(LIBRARY / "library.bib"), "--like", "2604.21935")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "subscribed bob@example.org (topics: none, learns from the papers they like; UTC 07:00)",
        "liked 2604.21935 (not in the database yet: matched when it is ingested)",
        "imported 12 papers from library.bib (9 by arXiv id, 3 by title); skipped 2 entries without title"]
    stored = rows(run.url)
    assert len(stored) == 12 and {r[3] for r in stored} == {fb.LIKE}
    by_key = {r[1]: r for r in stored}
    assert by_key["arxiv:2604.21956"][2:5] == (True, fb.LIKE, "library")  # in the database: linked to the paper
    assert by_key["arxiv:2411.17708"][2] is False and by_key["arxiv:2411.17708"][5].startswith("Towards Efficient")
    assert by_key["arxiv:2604.21935"][4] == "library"  # in the file too: the import is the newer choice
    assert "title:deep learning" in by_key and by_key["title:deep learning"][5] == "Deep Learning"
    with session_factory(run.url)() as session:
        examples = fb.bulk_examples(session, [subscriber(run.url, "bob@example.org").id])
    (mine,) = examples.values()
    assert len(mine.liked) == 12 and len(mine.paper_ids) == 3 and not mine.disliked


@pytest.mark.parametrize("name", ["library.ris", "library-zotero.csv", "real-zotero-export-excerpt.csv"])
def test_existing_subscriber_imports_ris_and_zotero_csv_and_options_stay_as_they_were(run, name):
    run("subscribe", "ada@example.org", "--topic", "anomaly detection", "--hour", "6")
    before = subscriber(run.url)
    result = run("subscribe", "ada@example.org", "--library", str(LIBRARY / name))
    assert result.exit_code == 0, result.output
    expected = {"library.ris": "imported 5 papers from library.ris (3 by arXiv id, 2 by title); "
                               "skipped 1 entry without title",
                "library-zotero.csv": "imported 4 papers from library-zotero.csv (3 by arXiv id, 1 by title); "
                                      "skipped 1 entry without title",
                "real-zotero-export-excerpt.csv": "imported 7 papers from real-zotero-export-excerpt.csv "
                                                  "(3 by arXiv id, 4 by title)"}
    assert result.output.splitlines() == [expected[name]]
    after = subscriber(run.url)
    assert (after.topics, after.send_hour) == (before.topics, before.send_hour) == (["anomaly detection"], 6)


def test_importing_the_same_library_twice_keeps_one_row_per_paper(run):
    run("subscribe", "ada@example.org", "--library", str(LIBRARY / "library.bib"))
    run("subscribe", "ada@example.org", "--library", str(LIBRARY / "library.bib"))
    assert len(rows(run.url)) == 12


def digest_script(tmp_path, env, *args):
    full = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    full.update(env)
    done = subprocess.run([DIGEST, *args], cwd=tmp_path, env=full, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stderr.strip().splitlines(), done.stdout


@pytest.mark.parametrize("name, data, words", [
    ("empty.bib", b"", "empty.bib: the file is empty"),
    ("zotero.bib", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8, "zotero.bib: not a text file"),
    ("broken.bib", b"@article{ok, title={Fine}}\n@article{bad,\n  title = {Unclosed\n",
     "broken.bib: malformed BibTeX at line 2"),
    ("library.ris", b"TY  - JOUR\nTI  - No end\n", "library.ris: malformed RIS: the record at line 1 has no"),
    ("missing.bib", None, "missing.bib: cannot read it: No such file or directory"),
])
def test_a_broken_library_file_is_one_line_exit_2_and_nothing_written_by_the_real_script(tmp_path, name, data, words):
    env = make_env(tmp_path, f"sqlite:///{tmp_path / 'd.sqlite3'}")
    assert digest_script(tmp_path, env, "subscribe", "ada@example.org", "--topic", "graphs")[0] == 0
    if data is not None:
        (tmp_path / name).write_bytes(data)
    shutil.copy(LIBRARY / "library.bib", tmp_path / "good.bib")
    status, lines, _ = digest_script(tmp_path, env, "subscribe", "ada@example.org", "--hour", "9", "--like",
                                     "2411.17730", "--library", "good.bib", "--library", name)
    assert status == 2 and len(lines) == 1 and lines[0].startswith(f"Error: {words}"), lines
    status, lines, _ = digest_script(tmp_path, env, "subscribe", "new@example.org", "--library", name)
    assert status == 2 and len(lines) == 1
    assert rows(env["DIGEST_DATABASE_URL"]) == [] and subscriber(env["DIGEST_DATABASE_URL"]).send_hour == 7
    assert subscriber(env["DIGEST_DATABASE_URL"], "new@example.org") is None


def test_every_feedback_command_help_shows_an_example(run):
    for name in ("like", "dislike", "unlike"):
        result = run(name, "--help")
        assert result.exit_code == 0 and "Example:" in result.output and f"digest {name} " in result.output
    assert "--library" in run("subscribe", "--help").output
