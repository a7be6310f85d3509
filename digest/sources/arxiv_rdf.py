"""arXiv RSS, old RDF format (RSS 1.0, until January 2024).

No per-item dates (the channel's dc:date is the announcement); the link has no
version; version, primary category and the UPDATED / CROSS LISTED flags live
only in the title: `Title. (arXiv:1209.2411v1 [math.PR] UPDATED)`.
Descriptions and dc:creator are HTML (paragraphs, author links).
"""

from __future__ import annotations

import re

from digest.sources import PaperEntry, ParseResult
from digest.sources.keys import ARXIV_ID, arxiv_links, canonical_key, find_arxiv_id
from digest.sources.text import clean_text, parse_date, split_authors
from digest.sources.xmlfeed import Feed, Item, read_feed

_TITLE_TAIL = re.compile(
    r"\s*\(arXiv:(?P<ref>" + ARXIV_ID.pattern + r")\s*\[(?P<category>[^\]]+)\]\s*(?P<flag>UPDATED|CROSS LISTED)?\)\s*$"
)
_FLAG_TYPES = {None: "new", "UPDATED": "replace", "CROSS LISTED": "cross"}


def parse(data: bytes, origin: str = "") -> ParseResult:
    """Parse an old-style arXiv RDF feed."""
    return parse_feed(read_feed(data))


def parse_feed(feed: Feed) -> ParseResult:
    result = ParseResult(problems=feed.problems())
    channel_date = parse_date(feed.date or feed.fields.get("dc_date"))
    result.collect(feed.items, lambda item: _entry(item, channel_date))
    return result.finish(valid=bool(feed.format) and not feed.bozo, empty_message="no announcement in this feed")


def _entry(item: Item, channel_date) -> PaperEntry:
    title = clean_text(item.title)
    tail = _TITLE_TAIL.search(title)
    found = find_arxiv_id(tail.group("ref")) if tail else find_arxiv_id(item.link or item.guid)
    if not found:
        raise ValueError(f"no arXiv id in {title[:60]!r}, skipped")
    arxiv_id, version = found
    title = title[: tail.start()].rstrip(" .") if tail else title
    if not title:
        raise ValueError(f"arXiv:{arxiv_id} has no title, skipped")
    announce_type = _FLAG_TYPES[tail.group("flag")] if tail else None
    primary = tail.group("category") if tail else None
    url, pdf_url = arxiv_links(arxiv_id)
    return PaperEntry(
        key=canonical_key(arxiv_id=arxiv_id),
        title=title,
        abstract=clean_text(item.summary),
        authors=split_authors(", ".join(item.authors)),
        categories=[primary] if primary else [],
        url=url,
        pdf_url=pdf_url,
        version=version,
        announced_at=parse_date(item.published) or channel_date,
        announce_type=announce_type,
        extra={"announce_type": announce_type, "primary_category": primary},
    )
