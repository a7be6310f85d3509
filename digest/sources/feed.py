"""Any RSS 1.0/2.0 or Atom feed: bioRxiv, Nature, PLOS, OUP, BMC, aggregators.

Key: an arXiv id anywhere in guid or link (aggregators carry arXiv papers),
else the DOI (prism:doi, dc:identifier, a DOI guid or link), else the
normalised link. Titles come padded with whitespace, summaries may be empty or
a placeholder; a bozo feed keeps its good entries and the problem is reported.
"""

from __future__ import annotations

from digest.sources import PaperEntry, ParseResult
from digest.sources.keys import arxiv_links, canonical_key, find_arxiv_id, find_doi
from digest.sources.text import clean_text, decode_latex, parse_date, safe_url, split_authors
from digest.sources.xmlfeed import Item, read_feed

_PLACEHOLDERS = {"no abstract available.", "no abstract available", "abstract not available"}


def parse(data: bytes, origin: str = "") -> ParseResult:
    """Parse RSS 1.0/2.0 or Atom bytes into entries."""
    feed = read_feed(data)
    result = ParseResult(problems=feed.problems())
    result.collect(feed.items, _entry)
    return result.finish(valid=bool(feed.format) and not feed.bozo,
                         empty_message="the feed is valid but has no entries", error_message="not a feed")


def _authors(names: list[str]) -> list[str]:
    if len(names) == 1:  # one string for everyone: "A, B and C" or bioRxiv's "Last, F., Last, G."
        return split_authors(names[0])
    return [n for n in (decode_latex(clean_text(a)) for a in names) if n]


def _entry(item: Item) -> PaperEntry:
    title = clean_text(item.title)
    if not title:
        raise ValueError("no title, skipped")
    link = safe_url(item.link) or safe_url(item.guid)
    found = find_arxiv_id(item.guid) or find_arxiv_id(item.link)
    fields = item.fields
    doi = (find_doi(fields.get("prism_doi")) or find_doi(fields.get("dc_identifier"))
           or find_doi(item.guid) or find_doi(item.link))
    if not (found or doi or link):
        raise ValueError(f"{title[:60]!r} has no id or link, skipped")
    abstract = clean_text(item.summary)
    if abstract.lower() in _PLACEHOLDERS:
        abstract = ""
    arxiv_id, version = found if found else (None, None)
    url, pdf_url = arxiv_links(arxiv_id) if arxiv_id else (link, None)
    return PaperEntry(
        key=canonical_key(arxiv_id=arxiv_id, doi=doi, link=link),
        title=title,
        abstract=abstract,
        authors=_authors(item.authors),
        categories=list(dict.fromkeys(c.strip() for c in item.categories if c and c.strip())),
        url=url or link,
        pdf_url=pdf_url,
        doi=doi,
        version=version,
        announced_at=parse_date(item.published) or parse_date(item.updated) or parse_date(fields.get("dc_date")),
        extra={"journal": clean_text(fields.get("prism_publicationName")) or None},
    )
