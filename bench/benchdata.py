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


def real_papers() -> list[tuple[str, str, tuple[str, ...], tuple[str, ...]]]:
    """(title, abstract, authors, categories) of every real paper in the arXiv RSS captures (the truncated one left
    out), the arXiv API entries and the seed listing, in that order; exit with one line when there are none."""
    import json
    import xml.etree.ElementTree as ET

    from digest.ranking.evaluate import load_arxiv_rss

    rss = require(sorted((FEEDS / "arxiv-rss-new").glob("*.xml")), "arXiv RSS captures")
    texts = [(c.title, c.abstract, c.authors, c.categories) for c in load_arxiv_rss(
        [p for p in rss if "TRUNCATED" not in p.name])]
    atom = "{http://www.w3.org/2005/Atom}"
    for path in sorted((FEEDS / "arxiv-api").glob("*.xml")):
        for e in ET.parse(path).getroot().iter(f"{atom}entry"):
            texts.append((" ".join((e.findtext(f"{atom}title") or "").split()),
                          " ".join((e.findtext(f"{atom}summary") or "").split()),
                          tuple(a.findtext(f"{atom}name") or "" for a in e.iter(f"{atom}author")),
                          tuple(c.get("term") for c in e.iter(f"{atom}category"))))
    texts += [(p["title"], p["abstract"], (), ("cs.LG",)) for p in json.loads(SEEDS.read_text())]
    return require_rows([t for t in texts if t[0] and t[0] != "Error"], "papers")
