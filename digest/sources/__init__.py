"""Source parsers: bytes in, `PaperEntry` records and problems out. No DB, no network.

One module per source kind. `parse(kind, data)` dispatches; `detect_kind`
guesses the kind of a URL or file when the user did not say. `announcements`
says when a paper was first announced, and what an edition's window counts
as new.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from importlib import import_module

from digest.sources import limits

# kind -> module under digest.sources exposing parse(data: bytes, origin: str) -> ParseResult
__all__ = ["KINDS", "PaperEntry", "ParseResult", "UnknownKind", "parse", "detect_kind", "sniff_kind"]

KINDS = {
    "arxiv-rss": "arxiv_rss",  # rss.arxiv.org /rss and /atom (old RDF feeds too)
    "arxiv-rdf": "arxiv_rdf",  # the old RDF format only
    "arxiv-api": "arxiv_api",  # export.arxiv.org/api/query
    "hf-daily": "hf_daily",  # huggingface.co/api/daily_papers
    "rss": "feed",  # any RSS/Atom feed
    "listing": "listing",  # a scraped listing (seeds/)
    "auto": None,  # decided from the bytes at each ingest
}

@dataclass
class PaperEntry:
    """One paper as a source saw it, already reduced to plain text."""

    key: str
    title: str
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    url: str | None = None
    pdf_url: str | None = None
    doi: str | None = None
    version: int | None = None
    announced_at: dt.datetime | None = None
    announce_type: str | None = None
    upvotes: int = 0
    comments: int = 0
    github_stars: int = 0
    extra: dict = field(default_factory=dict)


@dataclass
class ParseResult:
    """What a source held: entries, problems, and a status.

    status: "ok"; "empty" (a valid feed with no announcement, e.g. an arXiv
    weekend); "error" (the feed says the query is bad, or nothing usable).
    """

    entries: list[PaperEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    status: str = "ok"
    message: str | None = None

    def collect(self, items, build) -> "ParseResult":
        """Append `build(item)` for each item; an item that cannot be read is skipped and becomes a problem."""
        for number, item in enumerate(items, 1):
            try:
                self.entries.append(build(item))
            except ValueError as exc:
                self.problems.append(f"entry {number}: {exc}")
            except (TypeError, AttributeError, KeyError, OverflowError, RecursionError) as exc:
                # A field of the wrong shape (a title that is an object, ...): this entry only, never the feed.
                self.problems.append(f"entry {number}: unreadable ({type(exc).__name__}: {str(exc)[:100]}), skipped")
        return self

    def finish(self, *, valid: bool, empty_message: str, error_message: str = "no papers found") -> "ParseResult":
        """No entries: "empty" when the document was valid (say why), else "error"."""
        if not self.entries and self.status == "ok":
            self.status = "empty" if valid else "error"
            self.message = empty_message if valid else (self.problems[0] if self.problems else error_message)
        return self


class UnknownKind(ValueError):
    """The user named a source kind we do not have."""


def parse(kind: str, data: bytes, origin: str = "", now: dt.datetime | None = None) -> ParseResult:
    """Parse `data` as a source of `kind` ("auto": guess from `origin` and the bytes).

    Every kind goes through here: bytes that are no feed are refused, and each
    entry is held to what can be stored (`limits.check_entry`, dates against
    `now` when given); a bad entry is skipped and counted, the others kept.
    """
    if kind not in KINDS:
        raise UnknownKind(f"unknown source kind {kind!r} (known: {', '.join(sorted(KINDS))})")
    reason = limits.refusal(data)
    if reason:
        return ParseResult(status="error", message=f"not a feed: {reason}")
    if kind == "auto":
        kind = detect_kind(origin, data)
    result = import_module(f"digest.sources.{KINDS[kind]}").parse(data, origin=origin)
    return _checked(result, now)


def _checked(result: ParseResult, now: dt.datetime | None) -> ParseResult:
    """Only the entries that can be stored; each bad one is a problem naming it, and none left is an error."""
    kept = []
    for entry in result.entries:
        try:
            kept.append(limits.check_entry(entry, now))
        except (ValueError, TypeError, AttributeError) as exc:
            result.problems.append(str(exc))
    if not kept and result.entries and result.status == "ok":
        result.status, result.message = "error", result.problems[-1]
    result.entries = kept
    return result


_URL_KINDS = (
    (("arxiv.org/rss/", "arxiv.org/atom/"), "arxiv-rss"),
    (("arxiv.org/api/query", "export.arxiv.org/api/"), "arxiv-api"),
    (("huggingface.co/api/daily_papers",), "hf-daily"),
)


def detect_kind(location: str, data: bytes | None = None) -> str:
    """Guess a kind from a URL or path, then from the bytes if we have them; "auto" if neither tells."""
    loc = location.lower()
    for patterns, kind in _URL_KINDS:
        if any(p in loc for p in patterns):
            return kind
    if data is not None:
        return sniff_kind(data)
    if loc.endswith((".txt", ".listing")):
        return "listing"
    return "auto"


def sniff_kind(data: bytes) -> str:
    """The kind the bytes look like: JSON list of HF paper objects, arXiv RSS/API XML, any feed, a listing."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] in (b"[", b"{"):
        return _json_kind(data)
    if not head.startswith(b"<") and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "listing"
    text = head.decode("latin-1").lower()
    if "arxiv.org" in text:
        if "opensearch" in text or "arxiv.org/api" in text:
            return "arxiv-api"
        if "rss.arxiv.org" in text or "arxiv.org/schemas/atom" in text or "updates on arxiv.org" in text:
            return "arxiv-rss"
    return "rss"


_JSON_SNIFF_BYTES = 1 << 20
_HF_OPENING = re.compile(r'\[\s*\{\s*"paper"\s*:')  # even when the first item is longer than the head


def _json_kind(data: bytes) -> str:
    """"hf-daily" for Hugging Face's shape (a JSON object, or a list whose items hold a `paper` object), else
    "listing". Judged on the first items, so the first 64 KB of a large file (what `resolve_spec` reads)
    decide as the whole file would."""
    # The first megabyte is plenty for five items; a head may end inside a character.
    text = data[:_JSON_SNIFF_BYTES].decode("utf-8-sig", errors="ignore").lstrip()
    if text.startswith("{") or _HF_OPENING.match(text) or limits.json_too_deep(text):
        # Its parser explains why a JSON object is not a paper list; `parse` refuses JSON nested too deep
        # before anything recurses into it (raw_decode below would).
        return "hf-daily"
    decoder, items, at = json.JSONDecoder(), [], 1
    while len(items) < 5:  # the first few complete items, however much of the file follows
        at = _skip(text, at)
        if at >= len(text) or text[at] == "]":
            break
        try:
            item, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            break  # the head ends inside an item: judge on those read so far
        items.append(item)
    return "hf-daily" if any(_is_hf_item(item) for item in items) else "listing"


def _skip(text: str, at: int) -> int:
    """Past whitespace and one item separator."""
    while at < len(text) and text[at] in " \t\r\n,":
        at += 1
    return at


def _is_hf_item(item) -> bool:
    # Any `paper` member: its parser says why a malformed one is not a paper.
    return isinstance(item, dict) and "paper" in item
