"""When a paper was first announced, and whether an edition's window counts it as new; pure.

arXiv announces a paper once as `new` (in its primary category), once per
other category as `cross`, and then once per later version as `replace` (or
`replace-cross`). An edition offers what is new in its window: a `replace`
of a paper first announced before the window is a revision, kept out of the
main picks (it may go to the "Updated" block). `papers.first_announced_at`
holds our best knowledge of the first announcement, set once at ingest from
the first entry that brought the paper, by the first rule that applies:

1. The arXiv API's `published` (the v1 date): that date.
2. A `new` or `cross` announcement: that announcement's date (else when we
   read it). A cross-list is the paper's first appearance in that category's
   listing, so it counts as new there, once (never-twice does the rest).
3. A `replace` / `replace-cross`: an earlier announcement exists, date not
   given. The id's year-month bounds it from below (new-style `2411.17730` →
   2024-11, old-style `hep-th/9901001` → 1999-01: a paper cannot be announced
   before it was submitted), so the start of that month is stored; without an
   id, nothing (unknown). A revision is taken at its word: unless its id month
   began inside the window, it counts as announced before it.
4. Anything else (Hugging Face, other feeds, listings, which do not say): when
   we first saw it, or, for an arXiv id, the end of the id's month if that is
   earlier. Such a paper counts as announced before the window only when
   that is more than ANNOUNCE_DELAY before the window's start (a submission
   is announced within about three days: Thursday afternoon's on Sunday
   evening; one day more for a holiday). Unless the id proves it old, a
   source that does not say is believed new.

Rows stored before the column existed get the same rules from what they kept
(`estimate`, from the key, the latest announce type and dates), at read time.
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["ANNOUNCE_DELAY", "REVISIONS", "first_announced", "id_month", "is_before_window", "is_revision",
           "published"]

UTC = dt.timezone.utc
NEW_TYPES = ("new", "cross")
REVISIONS = ("replace", "replace-cross")
ANNOUNCE_DELAY = dt.timedelta(days=4)
# The key's id (digest.sources.keys.canonical_key): `arxiv:2411.17730`, `arxiv:hep-th/9901001`, `arxiv:math.PR/0601001`.
_NEW_STYLE = re.compile(r"arxiv:(\d{2})(\d{2})\.\d{4,5}$")
_OLD_STYLE = re.compile(r"arxiv:[a-z][a-z\-]+(?:\.[A-Z]{2})?/(\d{2})(\d{2})\d{3}$")


def id_month(key: str | None) -> dt.datetime | None:
    """The start (UTC) of the month an arXiv key's id was assigned in: the paper was submitted in it."""
    match = (_NEW_STYLE.match(key or "") or _OLD_STYLE.match(key or ""))
    if not match:
        return None
    yy, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        return None
    # New-style ids start in 2007 (0704.0001); old-style ones ran from 1991 to 2007.
    year = 2000 + yy if match.re is _NEW_STYLE or yy < 91 else 1900 + yy
    return dt.datetime(year, month, 1, tzinfo=UTC)


def _month_end(start: dt.datetime) -> dt.datetime:
    following = (start + dt.timedelta(days=32)).replace(day=1)
    return following - dt.timedelta(microseconds=1)


def first_announced(key: str | None, announce_type: str | None, announced_at: dt.datetime | None,
                    published: dt.datetime | None, first_seen_at: dt.datetime) -> dt.datetime | None:
    """The paper's first announcement as far as one entry tells (rules 1-4 above); None: unknown but earlier."""
    if published is not None:
        return published
    if announce_type in NEW_TYPES:
        return announced_at or first_seen_at
    month = id_month(key)
    if announce_type in REVISIONS:
        return month
    return min(first_seen_at, _month_end(month)) if month else first_seen_at


def published(extra: dict | None) -> dt.datetime | None:
    """The arXiv API's v1 date, kept in a paper's extra as ISO text (digest.sources.arxiv_api)."""
    value = (extra or {}).get("published")
    try:
        when = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return when if when is None or when.tzinfo else when.replace(tzinfo=UTC)


def is_revision(announce_type: str | None) -> bool:
    return announce_type in REVISIONS


def is_before_window(announce_type: str | None, first_announced_at: dt.datetime | None, since: dt.datetime) -> bool:
    """True when a paper first seen in the window was first announced before it: not new in this edition."""
    if announce_type in NEW_TYPES:
        return False
    if announce_type in REVISIONS:
        return first_announced_at is None or first_announced_at < since
    return first_announced_at is not None and first_announced_at < since - ANNOUNCE_DELAY
