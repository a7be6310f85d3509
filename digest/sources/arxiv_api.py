"""arXiv API Atom (export.arxiv.org/api/query), old (≤2024) and new (2025+) backends.

`<id>` is `http://arxiv.org/abs/<id>v<N>`; `published` is the v1 date,
`updated` the latest version's. The old backend declares namespaces per
element and hard-wraps summaries; both shapes read the same here. An error
(HTTP 400) comes back as a feed whose single entry is titled "Error": that is
an error, never a paper. No match is a valid, empty result.
"""

from __future__ import annotations

from digest.sources import PaperEntry, ParseResult
from digest.sources.keys import arxiv_links, canonical_key, find_arxiv_id, find_doi
from digest.sources.text import clean_text, decode_latex, parse_date
from digest.sources.xmlfeed import Item, read_feed


def parse(data: bytes, origin: str = "") -> ParseResult:
    """Parse an arXiv API query response."""
    feed = read_feed(data)
    result = ParseResult(problems=feed.problems())
    errors = [item for item in feed.items if _is_error(item)]
    if errors:
        result.status = "error"
        result.message = f"arXiv API error: {clean_text(errors[0].summary) or clean_text(errors[0].guid)}"
        return result
    result.collect(feed.items, _entry)
    return result.finish(valid=bool(feed.format) and not feed.bozo, empty_message="the query matched no papers")


def _is_error(item: Item) -> bool:
    return clean_text(item.title) == "Error" and ("/api/errors" in item.guid or not find_arxiv_id(item.guid))


def _entry(item: Item) -> PaperEntry:
    found = find_arxiv_id(item.guid) or find_arxiv_id(item.link)
    if not found:
        raise ValueError(f"no arXiv id in {item.guid!r}, skipped")
    arxiv_id, version = found
    title = clean_text(item.title)
    if not title:
        raise ValueError(f"arXiv:{arxiv_id} has no title, skipped")
    fields = item.fields
    categories = list(dict.fromkeys(c for c in item.categories if c))
    primary = fields.get("arxiv_primary_category") or (categories[0] if categories else None)
    doi = find_doi(fields.get("arxiv_doi"))
    url, pdf_url = arxiv_links(arxiv_id)
    published, updated = parse_date(item.published), parse_date(item.updated)
    return PaperEntry(
        key=canonical_key(arxiv_id=arxiv_id),
        title=title,
        abstract=clean_text(item.summary),
        # one <author> per person: a comma here belongs to the name ("Smith, Jr.")
        authors=[name for name in (decode_latex(clean_text(a)) for a in item.authors) if name],
        categories=categories,
        url=url,
        pdf_url=pdf_url,
        doi=doi,
        version=version,
        announced_at=published or updated,
        extra={
            "primary_category": primary,
            "comment": clean_text(fields.get("arxiv_comment")) or None,
            "journal_ref": clean_text(fields.get("arxiv_journal_ref")) or None,
            "published": published.isoformat() if published else None,
            "updated": updated.isoformat() if updated else None,
        },
    )
