"""A listing: a scraped page of papers, a title line then an abstract line.

The bundled `seeds/papers.txt` is one. Page chrome before the first paper
(lines such as "Get trending papers in your email inbox!") and a button label
glued to the first title ("SubscribeEngineering A Large ...") are not papers.
A listing has no dates: a paper is new when first seen.
"""

from __future__ import annotations

import re

from digest.sources import PaperEntry, ParseResult
from digest.sources.keys import canonical_key, find_arxiv_id
from digest.sources.limits import load_json
from digest.sources.text import clean_text, safe_url

_CHROME = re.compile(r"^(get trending papers|subscribe$|sign in|log in)", re.I)
_GLUED_BUTTON = re.compile(r"^Subscribe(?=[A-Z0-9])")
_MIN_ABSTRACT = 120  # a title is a line; an abstract is a paragraph
# What a listing looks like (the seeds: titles under 150 characters, abstracts under 2,000, plain text).
_MAX_LINE = 20_000
_MIN_PRINTABLE = 0.97


def parse(data: bytes, origin: str = "") -> ParseResult:
    """Parse a listing (plain text pairs, or the JSON form `[{title, abstract, ...}]`)."""
    text = data.decode("utf-8", errors="replace").lstrip("\ufeff")
    if text.lstrip().startswith("["):
        return _parse_json(text)
    refusal = _not_a_listing(text)
    if refusal:
        return ParseResult(status="error", message=f"not a feed: {refusal}")
    result = _parse_pairs([clean_text(line) for line in text.splitlines()])
    if not result.entries:
        result.status = "error"
        result.message = "no papers found in the listing"
    elif len(result.problems) > len(result.entries):
        # More lines out of place than papers: some text file, not a listing; its "papers" would be noise.
        return ParseResult(status="error", problems=result.problems,
                           message=f"not a feed: {len(result.problems)} of its lines are not title and abstract pairs")
    return result


def _not_a_listing(text: str) -> str | None:
    """Why `text` does not look like a listing (undecodable, binary, or lines no page has), or None."""
    sample = text[:200_000]
    visible = [c for c in sample if not c.isspace()]
    printable = sum(1 for c in visible if c.isprintable() and c != "\ufffd")
    if visible and printable < _MIN_PRINTABLE * len(visible):
        return "not plain text"
    if any(len(line) > _MAX_LINE for line in text.splitlines()):
        return f"a line longer than {_MAX_LINE:,} characters"
    return None


def _parse_pairs(lines: list[str]) -> ParseResult:
    """Title line, abstract line; chrome and unpaired lines are skipped and counted."""
    result = ParseResult()
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
    return result


def _entry(title: str, abstract: str, **fields) -> PaperEntry:
    found = find_arxiv_id(fields.get("url"))
    key = canonical_key(arxiv_id=found[0] if found else None, link=fields.get("url"), title=title)
    return PaperEntry(key=key, title=title, abstract=abstract, **fields)


def _parse_json(text: str) -> ParseResult:
    try:
        rows = load_json(text)
    except ValueError as exc:  # not JSON, or nested too deep
        return ParseResult(status="error", message=f"not a feed: invalid JSON listing: {exc}")
    if not isinstance(rows, list):
        return ParseResult(status="error", message="not a feed: a JSON listing is a list of {title, abstract}")
    return ParseResult().collect(rows, _json_entry)


def _json_entry(row) -> PaperEntry:
    if not isinstance(row, dict) or not clean_text(_text_or_none(row.get("title"))):
        raise ValueError("no title, skipped")
    return _entry(
        clean_text(row["title"]),
        clean_text(_text_or_none(row.get("abstract"))),
        authors=[clean_text(a) for a in _list(row.get("authors")) if isinstance(a, str) and clean_text(a)],
        categories=[c.strip() for c in _list(row.get("categories")) if isinstance(c, str) and c.strip()],
        url=safe_url(_text_or_none(row.get("url"))),
    )


def _text_or_none(value) -> str | None:
    return value if isinstance(value, str) else None


def _list(value) -> list:
    return value if isinstance(value, list) else []
