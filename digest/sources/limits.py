"""What a feed may hand us, checked in the one place every source kind goes through (`digest.sources.parse`).

Two guards. `refusal` looks at the bytes before any parser does: binary data,
an empty document, an HTML page or JSON nested too deep for the parsers' stacks
is no feed ("not a feed: ..."). `check_entry` holds each parsed entry to what
the database and the email can carry: a number, date, key or link out of range
makes the entry bad (skipped and counted, the rest of the feed kept: one feed
item must never stop the day's ingest, and with it every delivery); overlong
text is clipped. Sizes follow digest/models.py.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from digest.sources import PaperEntry

UTC = dt.timezone.utc
MAX_KEY = 300  # papers.key is String(300)
MAX_DOI = 300  # papers.doi is String(300)
MAX_URL = 2000  # no real paper link is longer; a longer one is a payload
MAX_TITLE = 1000  # a "title" longer than this is a paragraph, not a title
MAX_ABSTRACT = 20_000  # ten times the longest real abstract; clipped, not refused
MAX_AUTHORS = 3000  # the largest collaborations sign ~3,000 names
MAX_NAME = 200
MAX_CATEGORIES = 50
MAX_CATEGORY = 100
MAX_EXTRA = 2000  # each detail (comment, journal ref, ...)
MAX_VERSION = 1000
MAX_COUNT = 10**8  # upvotes, comments, stars: far above any real figure, far below a 32-bit INTEGER column
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=UTC)  # when no `now` is given
AHEAD = dt.timedelta(days=30)  # an announcement date further ahead of `now` is not a date
MAX_JSON_DEPTH = 64  # the HF and listing shapes are 4 levels deep; the JSON parser recurses per level

_SNIFF = 64 * 1024
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MAGIC = ((b"\x1f\x8b", "gzip-compressed data"), (b"\x7fELF", "an executable"), (b"%PDF-", "a PDF document"),
          (b"PK\x03\x04", "a zip archive"), (b"\x89PNG", "an image"))
_HTML = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>])", re.I | re.S)
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
# Neither database stores these: PostgreSQL text refuses NUL, and lone surrogates (JSON "\ud800") are no UTF-8.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def refusal(data: bytes) -> str | None:
    """Why `data` is none of the source kinds ("binary data", ...), or None when a parser may look at it."""
    head = data[:_SNIFF]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None  # UTF-16 with a byte-order mark: its NULs are text
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if not head.strip():
        return "the document is empty"
    # Text has no control characters beyond tab and line breaks; random bytes have one in eight.
    if len(_BINARY.findall(head)) > max(2, len(head) // 200):
        return "binary data"
    if _HTML.match(head):
        return "an HTML page"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"[", b"{"):
        text = data.decode("utf-8", errors="replace")
        if json_too_deep(text):
            return f"JSON nested more than {MAX_JSON_DEPTH} levels deep"
    return None


def json_too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether brackets outside strings nest deeper than `limit`; checked before `json.loads` may recurse."""
    depth = 0
    for match in _JSON_TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return True
        elif token in "]}":
            depth -= 1
    return False


def load_json(text: str):
    """`json.loads` that refuses (ValueError) a document nested deeper than MAX_JSON_DEPTH."""
    if json_too_deep(text):
        raise ValueError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep")
    return json.loads(text)


def check_entry(entry: "PaperEntry", now: dt.datetime | None = None) -> "PaperEntry":
    """The entry with its text clipped to what we store; ValueError (the reason) when it cannot be stored."""
    label = f"{str(entry.key)[:60]!r}" if isinstance(entry.key, str) else "an entry"
    for problem in (_identity_problem(entry), _number_problem(entry), _date_problem(entry.announced_at, now)):
        if problem:
            raise ValueError(f"{label}: {problem}, skipped")
    return replace(
        entry,
        title=_stored(entry.title),
        abstract=_clip(_stored(entry.abstract) if isinstance(entry.abstract, str) else "", MAX_ABSTRACT),
        authors=_names(entry.authors, MAX_NAME, MAX_AUTHORS),
        categories=_names(entry.categories, MAX_CATEGORY, MAX_CATEGORIES),
        url=_link(entry.url),
        pdf_url=_link(entry.pdf_url),
        extra={str(k)[:100]: v for k, v in ((k, _detail(v)) for k, v in entry.extra.items()) if v is not None},
    )


def _identity_problem(entry: "PaperEntry") -> str | None:
    if not isinstance(entry.key, str) or not entry.key or len(entry.key) > MAX_KEY:
        return f"key longer than {MAX_KEY} characters"
    if any(isinstance(value, str) and _UNSTORABLE.search(value) for value in (entry.key, entry.doi, entry.url)):
        return "NUL or invalid character in its key or link"
    if not isinstance(entry.title, str) or not _stored(entry.title).strip():
        return "no title"
    if len(entry.title) > MAX_TITLE:
        return f"title of {len(entry.title):,} characters"
    if entry.doi is not None and (not isinstance(entry.doi, str) or len(entry.doi) > MAX_DOI):
        return f"DOI longer than {MAX_DOI} characters"
    for name in ("url", "pdf_url"):
        value = getattr(entry, name)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_URL):
            return f"{name} longer than {MAX_URL} characters"
    return None


def _number_problem(entry: "PaperEntry") -> str | None:
    if entry.version is not None and not (_is_int(entry.version) and 1 <= entry.version <= MAX_VERSION):
        return f"version {_short(entry.version)} out of range"
    for name in ("upvotes", "comments", "github_stars"):
        value = getattr(entry, name)
        if not (_is_int(value) and 0 <= value <= MAX_COUNT):
            return f"{name} {_short(value)} out of range"
    return None


def _date_problem(value, now: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        return "date without a time zone"
    latest = now + AHEAD if now is not None else LATEST
    if not EARLIEST <= value <= latest:
        return f"date {value.date().isoformat()} out of range"
    return None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _short(value) -> str:
    text = str(value) if not _is_int(value) or value.bit_length() < 200 else f"of {len(hex(value)) - 2} hex digits"
    return text[:40]


def _stored(text: str) -> str:
    """`text` without the characters no database column takes."""
    return _UNSTORABLE.sub("", text) if _UNSTORABLE.search(text) else text


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit].rstrip() + " …"


def _names(values, longest: int, most: int) -> list[str]:
    """Text items only, none longer than `longest` (an affiliation blob is no name), at most `most` of them."""
    if not isinstance(values, list):
        return []
    return [_stored(v) for v in values if isinstance(v, str) and 0 < len(v) <= longest and _stored(v)][:most]


def _link(value: str | None) -> str | None:
    # Stored links end up in emails: http(s) only (the listing's JSON form gives them as found).
    if not isinstance(value, str) or _UNSTORABLE.search(value):
        return None
    return value if value.lower().startswith(("http://", "https://")) else None


def _detail(value):
    """A detail for the JSON `extra` column: clipped text, an in-range number, else nothing."""
    if isinstance(value, str):
        return _clip(_stored(value), MAX_EXTRA) or None
    if isinstance(value, bool) or (_is_int(value) and abs(value) <= MAX_COUNT):
        return value
    if isinstance(value, float) and abs(value) <= MAX_COUNT:
        return value
    return None
