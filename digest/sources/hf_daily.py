"""Hugging Face daily papers JSON (`/api/daily_papers?date=YYYY-MM-DD`).

A list of objects; the paper sits under `paper` with its arXiv id, `upvotes`
(not top-level), optional `githubRepo` / `githubStars`; `numComments` is
top-level. `paper.publishedAt` is the arXiv date, `submittedOnDailyAt` HF's.
Its arXiv id makes it the same row as arXiv's own entry; upvotes, comments and
stars are the popularity signal.
"""

from __future__ import annotations

from digest.sources import PaperEntry, ParseResult
from digest.sources.keys import arxiv_links, canonical_key, find_arxiv_id
from digest.sources.limits import load_json
from digest.sources.text import clean_text, parse_date, safe_url

HF_PAPERS = "https://huggingface.co/papers/"


def parse(data: bytes, origin: str = "") -> ParseResult:
    """Parse a daily_papers response."""
    try:
        rows = load_json(data.decode("utf-8-sig"))
    except ValueError as exc:  # undecodable, not JSON, or nested too deep
        return ParseResult(status="error", message=f"not a feed: not JSON: {exc}")
    if not isinstance(rows, list):
        detail = f": {clean_text(str(rows['error']))[:200]}" if isinstance(rows, dict) and "error" in rows else ""
        return ParseResult(status="error", message=f"not a Hugging Face daily papers list (expected a JSON list){detail}")
    result = ParseResult().collect(rows, _entry)
    return result.finish(valid=True, empty_message="no papers on Hugging Face for this day")


def _count(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _entry(row) -> PaperEntry:
    paper = row.get("paper") if isinstance(row, dict) else None
    if not isinstance(paper, dict) or not paper.get("id"):
        raise ValueError("not a paper object (no paper.id), skipped")
    paper_id = str(paper["id"])
    title = clean_text(paper.get("title") or row.get("title"))
    if not title:
        raise ValueError(f"{paper_id} has no title, skipped")
    found = find_arxiv_id(paper_id)
    hf_url = HF_PAPERS + paper_id
    url, pdf_url = arxiv_links(found[0]) if found else (hf_url, None)
    authors = [clean_text(a.get("name")) for a in paper.get("authors") or [] if isinstance(a, dict)]
    return PaperEntry(
        key=canonical_key(arxiv_id=found[0] if found else None, link=hf_url),
        title=title,
        abstract=clean_text(paper.get("summary") or row.get("summary")),
        authors=[a for a in authors if a],
        url=url,
        pdf_url=pdf_url,
        version=found[1] if found else None,
        announced_at=parse_date(paper.get("publishedAt")),
        upvotes=_count(paper.get("upvotes")),
        comments=_count(row.get("numComments")),
        github_stars=_count(paper.get("githubStars")),
        extra={
            "hf_url": hf_url,
            "github_repo": safe_url(paper.get("githubRepo")),
            "hf_submitted_at": paper.get("submittedOnDailyAt"),
        },
    )
