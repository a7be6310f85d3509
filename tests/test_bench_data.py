"""The repository reads nothing outside itself; benchmarks without data stop with one line."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_nothing_in_the_repository_reads_beside_the_checkout():
    pattern = re.compile(r"parents\[\d\]\.parent|\.\./shared|parent / \"shared\"|/ \"shared\" /|parents\[2\]")
    offenders = []
    for folder in ("digest", "scheduler", "bench", "tests", ".ci"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in (".py", ".sh", "") and "fixtures" not in path.parts:
                text = path.read_text(errors="replace")
                offenders += [f"{path.relative_to(ROOT)}:{n}" for n, line in enumerate(text.splitlines(), 1)
                              if pattern.search(line) and "pattern" not in line]
    assert offenders == []


@pytest.mark.parametrize("script", ["rank.py", "ingest.py", "pipeline.py", "render.py", "embed.py"])
def test_benchmark_without_data_stops_with_one_line(tmp_path, script):
    """A checkout without the captured feeds or seeds: one line on stderr, exit 2, no traceback."""
    shutil.copytree(ROOT / "bench", tmp_path / "bench")
    (tmp_path / "seeds").mkdir()  # empty: no papers.json, no fixtures either
    done = subprocess.run([sys.executable, str(tmp_path / "bench" / script), "--help"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr  # --help needs no data
    args = {"rank.py": ["--sizes", "1000", "--repeats", "1"], "pipeline.py": ["--subscribers", "10"]}.get(script, [])
    done = subprocess.run([sys.executable, str(tmp_path / "bench" / script), *args], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1 or done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench: no "), done.stderr
