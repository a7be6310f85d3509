"""Any RSS/Atom feed through feedparser, arXiv's own RSS included.

feedparser never raises on bad XML: a bozo feed keeps its good entries and the
problem is reported. Keys: arXiv id (from guid or link) without version, else
DOI, else the normalised link.
"""

from __future__ import annotations

import calendar
import datetime as dt

import feedparser

from digest.sources import PaperEntry, ParseResult
from digest.sources.keys import canonical_key, find_arxiv_id, find_doi
from digest.sources.text import clean_text

# Never let feedparser fetch anything or resolve relative URIs against the network.
feedparser.RESOLVE_RELATIVE_URIS = 0


def parse(data: bytes, origin: str = "") -> ParseResult:
    """Parse RSS 1.0/2.0 or Atom bytes into entries."""
    parsed = feedparser.parse(data, sanitize_html=True, resolve_relative_uris=False)
    result = ParseResult()
    if parsed.bozo:
        result.problems.append(f"malformed feed: {type(parsed.bozo_exception).__name__}: {parsed.bozo_exception}")
    title = clean_text(parsed.feed.get("title"))
    if title.lower().startswith("feed error for query"):
        return ParseResult(status="error", message=f"the feed reports a bad query: {title}", problems=result.problems)
    for index, raw in enumerate(parsed.entries):
        try:
            entry = _entry(raw)
        except ValueError as exc:
            result.problems.append(f"entry {index + 1}: {exc}")
            continue
        if entry is not None:
            result.entries.append(entry)
    if not result.entries:
        if parsed.version and not parsed.bozo:
            result.status = "empty"
            result.message = "the feed is valid but has no entries (no announcement)"
        else:
            result.status = "error"
            result.message = result.problems[0] if result.problems else "not a feed"
    return result


def _struct_to_datetime(value) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromtimestamp(calendar.timegm(value), tz=dt.timezone.utc)


def _authors(raw) -> list[str]:
    names = [clean_text(a.get("name")) for a in raw.get("authors", []) if a.get("name")]
    if len(names) == 1 and "," in names[0]:
        # arXiv RSS: one dc:creator with every author, comma separated.
        names = [n.strip() for n in names[0].split(",")]
    return [n for n in names if n]


def _entry(raw) -> PaperEntry | None:
    title = clean_text(raw.get("title"))
    if not title:
        raise ValueError("no title, skipped")
    link = raw.get("link") or ""
    guid = raw.get("id") or ""
    found = find_arxiv_id(guid) or find_arxiv_id(link)
    doi = find_doi(raw.get("prism_doi") or raw.get("dc_identifier") or "") or find_doi(guid) or find_doi(link)
    if not (found or doi or link or guid):
        raise ValueError(f"{title[:60]!r} has no id or link, skipped")
    abstract = clean_text(raw.get("summary"))
    if found and abstract.startswith("arXiv:") and "Abstract:" in abstract:
        abstract = abstract.split("Abstract:", 1)[1].strip()
    arxiv_id, version = found if found else (None, None)
    return PaperEntry(
        key=canonical_key(arxiv_id=arxiv_id, doi=doi, link=link or guid),
        title=title,
        abstract=abstract,
        authors=_authors(raw),
        categories=[t.get("term") for t in raw.get("tags", []) if t.get("term")],
        url=link or None,
        pdf_url=f"https://arxiv.org/pdf/{arxiv_id}" if arxiv_id else None,
        doi=doi,
        version=version,
        announced_at=_struct_to_datetime(raw.get("published_parsed") or raw.get("updated_parsed")),
        announce_type=raw.get("arxiv_announce_type"),
    )
