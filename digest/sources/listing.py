"""A listing: a scraped page of papers, a title line then an abstract line.

The bundled `seeds/papers.txt` is one. Page chrome before the first paper
(lines such as "Get trending papers in your email inbox!") and a button label
glued to the first title ("SubscribeEngineering A Large ...") are not papers.
A listing has no dates: a paper is new when first seen.
"""

from __future__ import annotations

import json
import re

from digest.sources import PaperEntry, ParseResult
from digest.sources.keys import canonical_key, find_arxiv_id
from digest.sources.text import clean_text

_CHROME = re.compile(r"^(get trending papers|subscribe$|sign in|log in)", re.I)
_GLUED_BUTTON = re.compile(r"^Subscribe(?=[A-Z0-9])")
_MIN_ABSTRACT = 120  # a title is a line; an abstract is a paragraph


def parse(data: bytes, origin: str = "") -> ParseResult:
    """Parse a listing (plain text pairs, or the JSON form `[{title, abstract, ...}]`)."""
    text = data.decode("utf-8", errors="replace").lstrip("\ufeff")
    if text.lstrip().startswith("["):
        return _parse_json(text)
    result = ParseResult()
    lines = [clean_text(line) for line in text.splitlines()]
    lines = [line for line in lines if line]
    pending_title: str | None = None
    for number, line in enumerate(lines, 1):
        if pending_title is None and _CHROME.match(line):
            continue
        line = _GLUED_BUTTON.sub("", line)
        if pending_title is None:
            if len(line) >= _MIN_ABSTRACT * 3:
                result.problems.append(f"line {number}: an abstract without a title, skipped")
                continue
            pending_title = line
            continue
        if len(line) < _MIN_ABSTRACT and len(line) <= len(pending_title) * 2:
            result.problems.append(f"line {number}: title {pending_title[:60]!r} has no abstract, skipped")
            pending_title = line
            continue
        result.entries.append(_entry(pending_title, line))
        pending_title = None
    if pending_title is not None:
        result.problems.append(f"last line: title {pending_title[:60]!r} has no abstract, skipped")
    if not result.entries:
        result.status = "error"
        result.message = "no papers found in the listing"
    return result


def _entry(title: str, abstract: str, **fields) -> PaperEntry:
    found = find_arxiv_id(fields.get("url"))
    key = canonical_key(arxiv_id=found[0] if found else None, link=fields.get("url"), title=title)
    return PaperEntry(key=key, title=title, abstract=abstract, **fields)


def _parse_json(text: str) -> ParseResult:
    result = ParseResult()
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as exc:
        return ParseResult(status="error", message=f"invalid JSON listing: {exc}")
    for index, row in enumerate(rows):
        if not isinstance(row, dict) or not clean_text(row.get("title")):
            result.problems.append(f"item {index}: no title, skipped")
            continue
        result.entries.append(
            _entry(
                clean_text(row["title"]),
                clean_text(row.get("abstract")),
                authors=[clean_text(a) for a in row.get("authors", []) if clean_text(a)],
                categories=[str(c) for c in row.get("categories", [])],
                url=row.get("url"),
            )
        )
    return result
