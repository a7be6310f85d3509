"""One canonical key per work: arXiv id (no version), else DOI, else normalised link."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from digest.sources.text import normalise_title

# New-style 2301.01234 and old-style astro-ph/0601001 or math.PR/0601001.
ARXIV_ID = re.compile(
    r"(?P<id>\d{4}\.\d{4,5}|[a-z][a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v(?P<version>\d+))?",
)
_ARXIV_IN_TEXT = re.compile(
    # abs/pdf links (any mirror), OAI guids, 'arXiv:' strings and arXiv's own DOIs (10.48550/arXiv.ID)
    r"(?:arxiv\.org/(?:abs|pdf)/|oai:arxiv\.org:|arxiv:\s*|10\.48550/arxiv\.)" + ARXIV_ID.pattern, re.I
)
_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>?#]+)", re.I)


def find_arxiv_id(text: str | None) -> tuple[str, int | None] | None:
    """The arXiv id and version inside a URL, guid or 'arXiv:' string, if any."""
    if not text:
        return None
    match = _ARXIV_IN_TEXT.search(text)
    if not match:
        bare = ARXIV_ID.fullmatch(text.strip())
        if not bare:
            return None
        match = bare
    version = match.group("version")
    # Read at most 30 digits: int() of thousands of digits raises, and a 30-digit version is already out of
    # range for the entry check (digest.sources.limits), which skips the entry and says why.
    return match.group("id"), int(version[:30]) if version else None


def find_doi(text: str | None) -> str | None:
    """The DOI inside a string or URL, lower-cased, if any."""
    if not text:
        return None
    match = _DOI.search(text)
    if not match:
        return None
    return match.group(1).rstrip(".,;)").lower()


def normalise_link(link: str) -> str:
    """Scheme-less, lower-case host, no fragment, no tracking query (rss=1, utm_*)."""
    parts = urlsplit(link.strip())
    query = "&".join(
        p for p in parts.query.split("&") if p and not p.lower().startswith(("utm_", "rss=")) and p.lower() != "rss"
    )
    host = parts.netloc.lower().removeprefix("www.")
    return urlunsplit(("", host, parts.path.rstrip("/"), query, "")).lstrip("/")


def canonical_key(*, arxiv_id: str | None = None, doi: str | None = None, link: str | None = None,
                  title: str | None = None) -> str:
    """The row key: `arxiv:<id>`, `doi:<doi>`, `url:<link>` or, for a bare listing, `title:<words>`."""
    if arxiv_id:
        return f"arxiv:{arxiv_id}"
    if doi:
        return f"doi:{doi.lower()}"
    if link:
        return f"url:{normalise_link(link)}"
    if title:
        return f"title:{normalise_title(title)}"[:300]
    raise ValueError("an entry needs an arXiv id, a DOI, a link or a title")


def arxiv_links(arxiv_id: str) -> tuple[str, str]:
    """Canonical abstract and PDF URLs (https, arxiv.org, no version): mirrors and v-suffixes fold into one."""
    return f"https://arxiv.org/abs/{arxiv_id}", f"https://arxiv.org/pdf/{arxiv_id}"
