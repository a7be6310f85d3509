"""Source parsers: bytes in, `PaperEntry` records and problems out. No DB, no network.

One module per source kind. `parse(kind, data)` dispatches; `detect_kind`
guesses the kind of a URL or file when the user did not say.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from importlib import import_module

# kind -> module under digest.sources exposing parse(data: bytes, origin: str) -> ParseResult
KINDS = {
    "listing": "listing",
    "rss": "feed",
    "arxiv-rss": "feed",
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


class UnknownKind(ValueError):
    """The user named a source kind we do not have."""


def parse(kind: str, data: bytes, origin: str = "") -> ParseResult:
    """Parse `data` as a source of `kind`."""
    try:
        module = import_module(f"digest.sources.{KINDS[kind]}")
    except KeyError:
        raise UnknownKind(f"unknown source kind {kind!r} (known: {', '.join(sorted(KINDS))})") from None
    return module.parse(data, origin=origin)


def detect_kind(location: str, data: bytes | None = None) -> str:
    """Guess a kind from a URL or path, and from the first bytes if we have them."""
    loc = location.lower()
    if "arxiv.org/rss" in loc or "arxiv.org/atom" in loc:
        return "arxiv-rss"
    if data is not None:
        head = data[:2048].lstrip()
        if head.startswith((b"<", b"\xef\xbb\xbf<", b"\xff\xfe", b"\xfe\xff")):
            return "rss"
        return "listing"
    if loc.endswith((".txt", ".listing")):
        return "listing"
    return "rss"
