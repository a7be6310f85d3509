"""Sources as the operator names them: specs (seeds, a configured name, name=URL, a path), add and remove."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest import fetch as fetch_mod
from digest.config import ConfigError, validate_source_location, validate_source_name
from digest.models import Source
from digest.resources import resource_dir
from digest.sources import UnknownKind, detect_kind

SEEDS_NAME = "seeds"


class SourceError(Exception):
    """A source could not be read or parsed at all; one line for the user."""


@dataclass
class SourceSpec:
    """Where a source lives: a name, a URL or file path, and a kind."""

    name: str
    location: str
    kind: str
    # Named on the command line and neither seeds nor configured: if it cannot be read,
    # it is refused and leaves no sources row behind.
    one_off: bool = False

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("http://", "https://"))



def seeds_spec() -> SourceSpec:
    return SourceSpec(SEEDS_NAME, str(resource_dir("seeds") / "papers.json"), "listing")


def resolve_spec(session: Session, text: str, kind: str | None = None) -> SourceSpec:
    """Turn 'seeds', a configured source name, 'name=url', a URL or a path into a SourceSpec."""
    text = text.strip()
    if text == SEEDS_NAME:
        return seeds_spec()
    configured = session.scalar(select(Source).where(Source.name == text))
    if configured is not None:
        return SourceSpec(configured.name, configured.url, configured.kind)
    name, location = text, text
    if "=" in text and not text.startswith(("http://", "https://", "/", ".")):
        name, location = (part.strip() for part in text.split("=", 1))
    try:
        validate_source_location(location)
        if location.startswith(("http://", "https://")):
            return SourceSpec(validate_source_name(name), location, kind or detect_kind(location), one_off=True)
        path = Path(location).expanduser()
        location = str(path.resolve())
        if name == text:
            name = path.name
        validate_source_name(name)
    except ConfigError as exc:
        raise SourceError(str(exc)) from None
    return SourceSpec(name, location, kind or detect_kind(location, _head(path)), one_off=True)


def check_readable(spec: SourceSpec) -> None:
    """A file named on the command line must be there: a typo is the user's, refused before anything runs."""
    if spec.is_url or spec.name == SEEDS_NAME:
        return
    path = Path(spec.location)
    if not path.exists():
        raise SourceError(f"{spec.location}: no such file")
    if not path.is_file():
        raise SourceError(f"{spec.location}: not a file")


def _head(path: Path) -> bytes | None:
    """The first bytes of a file, to sniff its kind; None if it cannot be read (ingest reports why)."""
    try:  # never blocks: a FIFO or device is refused (ingest then says why)
        return fetch_mod.read_file(str(path), 64 * 1024, head=True)
    except fetch_mod.FetchError:
        return None



def add_source(session: Session, name: str, location: str, kind: str | None, now: dt.datetime,
               fetcher: Callable | None = None) -> Source:
    """Register a source for the daily job; the kind is checked, a file path must exist.

    With a `fetcher`, the URL or file is read once: unreachable, unreadable, or
    a feed that reports an error (arXiv's "Feed error for query"), is refused
    with the reason; an unset kind is taken from the bytes.
    """
    from digest.sources import KINDS

    try:
        name = validate_source_name(name.strip())
        location = validate_source_location(location.strip())
    except ConfigError as exc:
        raise SourceError(str(exc)) from None
    if kind is not None and kind not in KINDS:
        raise UnknownKind(f"unknown source kind {kind!r} (known: {', '.join(sorted(KINDS))})")
    spec = resolve_spec(session, f"{name}={location}", kind)
    check_readable(spec)
    if fetcher is not None:
        _check_source(spec, fetcher, kind_given=kind is not None)
    source = session.scalar(select(Source).where(Source.name == name))
    if source is not None:
        source.url, source.kind, source.added = spec.location, spec.kind, True
        source.etag = source.last_modified = source.content_hash = None  # new place: read it afresh
        return source
    source = Source(name=name, url=spec.location, kind=spec.kind, added=True, created_at=now, consecutive_failures=0)
    session.add(source)
    session.flush()
    return source


def _check_source(spec: SourceSpec, fetcher: Callable, kind_given: bool) -> None:
    from digest.ingest import parse_source, read_source  # ingest builds on this module; reading is its job

    data, _ = read_source(spec, None, fetcher)
    if not kind_given and spec.kind == "auto":
        spec.kind = detect_kind(spec.location, data or b"")
    result = parse_source(spec, data or b"")
    if result.status == "error":
        raise SourceError(f"{spec.location}: {result.message}")


def remove_source(session: Session, name: str) -> bool:
    """Forget source NAME (its papers stay); False if there is none."""
    source = session.scalar(select(Source).where(Source.name == name))
    if source is None:
        return False
    session.delete(source)
    return True
