"""arXiv RSS, current format (rss.arxiv.org `/rss/<cats>` and `/atom/<cats>`, since 2024).

The version lives in the guid (`oai:arXiv.org:2411.17700v1`), not the link;
`arxiv:announce_type` is new / cross / replace / replace-cross; authors are one
`dc:creator` string with LaTeX accents; the description starts with
`arXiv:ID vN Announce Type: T` before `Abstract:`. Weekend and holiday feeds
are valid and empty (no announcement); a bad archive name gives a "Feed error
for query" channel. Old RDF feeds (before 2024) are handed to `arxiv_rdf`.
"""

from __future__ import annotations

import re

from digest.sources import PaperEntry, ParseResult, arxiv_rdf
from digest.sources.keys import arxiv_links, canonical_key, find_arxiv_id, find_doi
from digest.sources.text import clean_text, parse_date, split_authors
from digest.sources.xmlfeed import Feed, Item, read_feed

_PREAMBLE = re.compile(r"^\s*arXiv:\S+\s+Announce Type:\s*(?P<type>[\w-]+)\s*(?:Abstract:)?", re.I)
ANNOUNCE_TYPES = ("new", "cross", "replace", "replace-cross")


def parse(data: bytes, origin: str = "") -> ParseResult:
    """Parse an arXiv RSS or Atom listing feed."""
    return parse_feed(read_feed(data))


def parse_feed(feed: Feed) -> ParseResult:
    if feed.format == "rdf":
        return arxiv_rdf.parse_feed(feed)
    result = ParseResult(problems=feed.problems())
    title = clean_text(feed.title)
    if title.lower().startswith("feed error for query"):
        # A bad archive name: well-formed, no items. Not "no announcement".
        result.status = "error"
        result.message = f"arXiv reports a bad query: {clean_text(feed.description) or title}"
        return result
    channel_date = parse_date(feed.date)
    result.collect(feed.items, lambda item: _entry(item, channel_date, truncated=bool(feed.bozo)))
    return result.finish(valid=bool(feed.format) and not feed.bozo,
                         empty_message="no announcement in this feed (arXiv does not announce on weekends and holidays)")


def _entry(item: Item, channel_date, truncated: bool) -> PaperEntry:
    found = find_arxiv_id(item.guid) or find_arxiv_id(item.link) or find_arxiv_id(item.summary[:80])
    if not found:
        raise ValueError(f"no arXiv id in {item.guid or item.link or item.title[:60]!r}, skipped")
    arxiv_id, version = found
    summary = clean_text(item.summary)
    preamble = _PREAMBLE.match(summary)
    announce_type = item.fields.get("arxiv_announce_type") or (preamble.group("type") if preamble else None)
    if truncated and not announce_type:
        raise ValueError(f"arXiv:{arxiv_id} is incomplete (the feed is cut short), skipped")
    title = clean_text(item.title)
    if not title:
        raise ValueError(f"arXiv:{arxiv_id} has no title, skipped")
    abstract = summary[preamble.end():].strip() if preamble else summary
    categories = list(dict.fromkeys(c.strip() for c in item.categories if c and c.strip()))
    url, pdf_url = arxiv_links(arxiv_id)
    fields = {name.lower(): value for name, value in item.fields.items()}  # feedparser lower-cases arxiv:DOI
    return PaperEntry(
        key=canonical_key(arxiv_id=arxiv_id),
        title=title,
        abstract=abstract,
        authors=split_authors(", ".join(item.authors)),
        categories=categories,
        url=url,
        pdf_url=pdf_url,
        doi=find_doi(fields.get("arxiv_doi")),
        version=version,
        announced_at=parse_date(item.published) or channel_date,
        announce_type=announce_type,
        extra={"announce_type": announce_type, "primary_category": categories[0] if categories else None,
               "journal_ref": clean_text(fields.get("arxiv_journal_reference")) or None},
    )
