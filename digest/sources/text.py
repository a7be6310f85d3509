"""Turn feed markup into plain, safe text (before anything is stored)."""

from __future__ import annotations

import datetime as dt
import email.utils
import html
import re
import unicodedata
from urllib.parse import urlsplit

from digest.latex import plain_text

_TAG = re.compile(r"<[^>]*>")
_SCRIPT = re.compile(r"<(script|style)\b[^>]*>.*?(</\1\s*>|$)", re.I | re.S)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_SPACE = re.compile(r"\s+")


def clean_text(value: str | None) -> str:
    """Plain text: scripts dropped, tags stripped, entities decoded, whitespace collapsed."""
    if not value:
        return ""
    text = _SCRIPT.sub(" ", value)
    text = _TAG.sub(" ", text)
    text = html.unescape(text)
    # Entities may have produced markup again (&lt;script&gt;); strip once more.
    text = _SCRIPT.sub(" ", text)
    text = _TAG.sub(" ", text)
    text = _CONTROL.sub(" ", text)
    text = unicodedata.normalize("NFC", text)
    return _SPACE.sub(" ", text).strip()


def normalise_title(title: str) -> str:
    """Lower-case alphanumerics only: for near-duplicate detection and title keys."""
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return " ".join(re.findall(r"[a-z0-9]+", folded))


_INITIALS = re.compile(r"^(?:[A-Z][a-z]?\.?[\s-]*)+$")
_AFFILIATION = re.compile(r"\s*\([^()]*\)")
_AND = re.compile(r",?\s+and\s+", re.I)


def decode_latex(text: str) -> str:
    """LaTeX accents to Unicode (`Andr\\'e` -> André, `Jaros{\\l}aw` -> Jarosław); plain strings pass untouched."""
    return plain_text(text)


def split_authors(text: str) -> list[str]:
    """One author string to names: 'A B, C D and E F', or bioRxiv's 'Last, F., Last, G.'.

    Affiliations in parentheses (arXiv: 'Jane Roe (MIT)') are dropped; commas inside
    them do not split names. Markup and LaTeX accents are reduced to plain text.
    """
    text = _AFFILIATION.sub("", decode_latex(clean_text(text)))
    parts = [p.strip() for p in _AND.sub(", ", text).split(",")]
    parts = [p for p in parts if p]
    if len(parts) >= 2 and all(_INITIALS.match(p) for p in parts[1::2]):
        # bioRxiv: surname, initials pairs
        parts = [f"{initials} {surname}" for surname, initials in zip(parts[::2], parts[1::2])] + (
            parts[-1:] if len(parts) % 2 else [])
    return parts


def parse_date(text: str | None) -> dt.datetime | None:
    """RFC 822 (RSS), ISO 8601 (Atom, JSON) or a bare date, as an aware UTC datetime; None if unreadable."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        try:
            value = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    try:
        return value.astimezone(dt.timezone.utc)
    except OverflowError:  # year 9999 with a negative offset, or year 1 with a positive one
        return None


def safe_url(value: str | None) -> str | None:
    """An http(s) URL as given, or None: `javascript:` and friends never reach a stored link."""
    value = (value or "").strip()
    if not value or _CONTROL.search(value) or any(c.isspace() for c in value):
        return None
    return value if urlsplit(value).scheme.lower() in ("http", "https") else None
