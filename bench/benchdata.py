"""Where the benchmarks find their data: inside the repository, never beside it.

Every benchmark reads the captured feeds in tests/fixtures/feeds and the
bundled seeds/. A benchmark that finds no data stops with one line (exit 2)
instead of measuring an empty list.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FEEDS = ROOT / "tests" / "fixtures" / "feeds"
SEEDS = ROOT / "seeds" / "papers.json"


def require(paths, what: str) -> list[Path]:
    """The given paths, or exit with one line naming what is missing."""
    paths = [Path(p) for p in paths]
    missing = [p for p in paths if not p.is_file()]
    if not paths or missing:
        shown = ", ".join(str(p) for p in missing) or "no files"
        sys.exit(f"bench: no {what} to measure ({shown}); run it from a full checkout of the repository")
    return paths


def require_rows(rows: list, what: str) -> list:
    """rows, or exit with one line when there are none."""
    if not rows:
        sys.exit(f"bench: no {what} found to measure")
    return rows
