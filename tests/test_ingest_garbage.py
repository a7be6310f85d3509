"""Garbage is not papers: bytes that are none of the source kinds are refused in one line, local files are capped
like HTTP bodies, nesting is bounded, and one bad source never stops the rest (real `digest` processes)."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import FIXTURES, make_env
from digest.sources import parse

DIGEST = str(Path(sys.executable).with_name("digest"))
GOOD = FIXTURES / "arxiv-rss-new" / "cs.LG_2026-04-27_3items.xml"  # 3 papers


def digest(tmp_path, *args, timeout=120, **env):
    """Run the real console script; (exit status, stdout, stderr)."""
    full = {**os.environ, **make_env(tmp_path, f"sqlite:///{tmp_path / 'digest.sqlite3'}"), **env}
    done = subprocess.run([DIGEST, *args], env=full, cwd=tmp_path, capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout, done.stderr


def assert_refused_and_good_kept(tmp_path, bad: str, reason: str):
    status, out, err = digest(tmp_path, "ingest", bad, str(GOOD))
    assert status == 1, err  # a source failed: exit 1 names it, and the good one was read
    assert "Traceback" not in out + err
    refusal = [line for line in err.splitlines() if reason in line]
    assert len(refusal) == 1, err
    assert "total: 3 new" in out


def random_bytes(size=200 * 1024, seed=12) -> bytes:
    return random.Random(seed).randbytes(size)


def test_random_bytes_are_not_a_feed_of_any_kind(tmp_path):
    path = tmp_path / "noise.bin"
    path.write_bytes(random_bytes())
    assert_refused_and_good_kept(tmp_path, str(path), "not a feed: binary data")
    for kind in ("listing", "rss", "arxiv-rss", "arxiv-api", "hf-daily", "auto"):
        result = parse(kind, random_bytes())
        assert (result.status, result.entries) == ("error", []), kind


def test_text_that_is_not_title_and_abstract_pairs_is_not_a_listing():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_bytes()  # prose wrapped at 80 columns
    result = parse("listing", readme)
    assert (result.status, result.entries) == ("error", []) and result.message.startswith("not a feed:")
    one_long_line = b"Title\n" + b"word " * 10_000
    assert parse("listing", one_long_line).message == "not a feed: a line longer than 20,000 characters"


def test_a_program_is_not_a_feed(tmp_path):
    path = tmp_path / "ls"
    shutil.copy("/bin/ls", path)
    assert_refused_and_good_kept(tmp_path, str(path), "not a feed: an executable")


@pytest.mark.parametrize("what", ["/dev/zero", "fifo", "directory"])
def test_devices_fifos_and_directories_are_refused_in_one_line(tmp_path, what):
    if what == "fifo":
        os.mkfifo(tmp_path / "pipe")  # nobody ever writes to it: reading it would wait forever
        what = str(tmp_path / "pipe")
    elif what == "directory":
        (tmp_path / "feeds").mkdir()
        what = str(tmp_path / "feeds")
    # Named on the command line: a usage error, refused before anything is read (exit 2, one line).
    status, out, err = digest(tmp_path, "ingest", what, str(GOOD))
    assert status == 2 and "Traceback" not in out + err and err.strip().splitlines() == [f"Error: {what}: not a file"]
    # Configured (DIGEST_SOURCES): that source fails in one line, the others are read.
    status, out, err = digest(tmp_path, "ingest", DIGEST_SOURCES=f"{what},{GOOD}")
    reason = "is a directory" if what.endswith("feeds") else "not a regular file"
    assert status == 1 and "Traceback" not in out + err, err
    assert len([line for line in err.splitlines() if reason in line]) == 1, err
    assert "3 new" in out


def test_a_50_mb_file_is_refused_within_bounded_memory(tmp_path):
    big = tmp_path / "big.xml"
    with big.open("wb") as handle:  # a plausible feed head, then 50 MB of items
        handle.write(b'<rss version="2.0"><channel><title>t</title>')
        item = b"<item><title>T</title><link>https://example.org/p</link><description>d</description></item>\n"
        handle.write(item * (50 * 1024 * 1024 // len(item)))
    # Peak from /proc (VmHWM, this process image's own high-water mark): getrusage's ru_maxrss would carry
    # over the pytest parent's peak across fork and exec.
    probe = (
        "import re, sys\n"
        "from digest.cli import main\ncode = None\n"
        f"sys.argv = ['digest', 'ingest', {str(big)!r}, {str(GOOD)!r}]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
        "peak = re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1)\n"
        "print('peak-kb', peak, 'exit', code)\n"
    )
    env = {**os.environ, **make_env(tmp_path, f"sqlite:///{tmp_path / 'digest.sqlite3'}")}
    done = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert "exceeds the 20,971,520-byte limit" in done.stderr, done.stderr
    words = done.stdout.split()
    peak_kb, code = int(words[words.index("peak-kb") + 1]), words[words.index("exit") + 1]
    assert code == "1" and "total: 3 new" in done.stdout  # the big file's source failed; the good one was read
    assert peak_kb < 300 * 1024


def test_json_nested_100000_deep_is_refused_and_run_goes_on_to_deliver(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    env = {"DIGEST_SOURCES": f"{deep},seeds"}
    assert digest(tmp_path, "subscribe", "ada@example.org", "--hour", "0", **env)[0] == 0
    status, out, err = digest(tmp_path, "run", **env)
    assert status == 1 and "Traceback" not in out + err, err  # a source failed, and the day went on
    assert "not a feed: JSON nested more than 64 levels deep" in err
    assert "seeds: 158 new" in out
    assert "1 sent" in out and list((tmp_path / "outbox").rglob("*.eml"))  # the day's digest went out


def test_a_title_nested_50000_elements_deep_costs_only_its_entry():
    good = "<item><title>Good {n}</title><link>https://example.org/p{n}</link></item>"
    deep = "<item><title>" + "<b>" * 50_000 + "x" + "</b>" * 50_000 + "</title><link>https://example.org/d</link></item>"
    data = f'<rss version="2.0"><channel><title>t</title>{good.format(n=1)}{deep}{good.format(n=2)}</channel></rss>'
    result = parse("rss", data.encode())
    assert [e.title for e in result.entries] == ["Good 1", "Good 2"]
    assert result.problems == ["item 2: markup nested more than 64 elements deep, skipped"]


def test_gzip_and_html_are_named_in_the_refusal():
    assert parse("rss", b"\x1f\x8b\x08\x00" + random_bytes(100)).message == "not a feed: gzip-compressed data"
    html = b"<!DOCTYPE html>\n<html><head><title>Login</title></head><body>Sign in</body></html>"
    assert parse("auto", html).message == "not a feed: an HTML page"
