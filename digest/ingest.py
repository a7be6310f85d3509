"""Fetch → parse → upsert, per source, recording each source's health."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from digest import fetch as fetch_mod
from digest.models import Paper, Source
from digest.resources import resource_dir
from digest.sources import PaperEntry, ParseResult, UnknownKind, detect_kind, parse

SEEDS_NAME = "seeds"
_KEY_CHUNK = 500


class SourceError(Exception):
    """A source could not be read or parsed at all; one line for the user."""


@dataclass
class SourceSpec:
    """Where a source lives: a name, a URL or file path, and a kind."""

    name: str
    location: str
    kind: str

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("http://", "https://"))


@dataclass
class IngestSummary:
    """What one ingest of one source did."""

    source: str
    status: str = "ok"  # ok | not-modified | unchanged | empty | error
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: int = 0
    message: str | None = None
    problem_list: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = f"{self.source}: {self.new} new, {self.updated} updated, {self.unchanged} unchanged, {self.problems} problems"
        if self.status not in ("ok",):
            text += f" [{self.status}{': ' + self.message if self.message else ''}]"
        return text


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
    if not location.startswith(("http://", "https://")):
        path = Path(location).expanduser()
        location = str(path.resolve())
        if name == text:
            name = path.name
    return SourceSpec(name, location, kind or detect_kind(location))


def content_hash(entry: PaperEntry) -> str:
    payload = [entry.title, entry.abstract, entry.authors, entry.categories, entry.version,
               entry.upvotes, entry.comments, entry.github_stars, entry.url, entry.doi]
    return hashlib.sha256(json.dumps(payload, default=str).encode()).hexdigest()


def _insert(session: Session):
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(Paper)


def _merge(row: dict, entry: PaperEntry, source: str, now: dt.datetime) -> dict | None:
    """The changes `entry` brings to an existing row, or None if it brings none.

    A newer version replaces title, abstract and version; popularity keeps the
    best figure any source reported; the paper stays as new as it was (its
    first_seen_at never moves), so a v2 or a cross-list is not new again.
    """
    changes: dict = {}
    newer = (entry.version or 0) >= (row["version"] or 0)
    if newer:
        for name in ("title", "abstract", "version"):
            value = getattr(entry, name)
            if value and value != row[name]:
                changes[name] = value
    for name in ("authors", "categories"):
        if getattr(entry, name) and not row[name]:
            changes[name] = getattr(entry, name)
    for name in ("url", "pdf_url", "doi", "announced_at"):
        if getattr(entry, name) and not row[name]:
            changes[name] = getattr(entry, name)
    for name in ("upvotes", "comments", "github_stars"):
        if getattr(entry, name) > row[name]:
            changes[name] = getattr(entry, name)
    extra = {**(row["extra"] or {}), **{k: v for k, v in entry.extra.items() if v not in (None, "", [])}}
    if extra != (row["extra"] or {}):
        changes["extra"] = extra
    if source not in row["source_names"]:
        changes["source_names"] = [*row["source_names"], source]
    if not changes:
        return None
    changes["content_hash"] = content_hash(entry)
    changes["updated_at"] = now
    return changes


def bulk_upsert_papers(session: Session, entries: Iterable[PaperEntry], source: str,
                       now: dt.datetime) -> tuple[int, int, int]:
    """Insert new papers and update changed ones in bulk; return (new, updated, unchanged)."""
    by_key: dict[str, PaperEntry] = {}
    for entry in entries:  # the same paper twice in one feed (new + cross): keep the newest version
        kept = by_key.get(entry.key)
        if kept is None or (entry.version or 0) > (kept.version or 0):
            by_key[entry.key] = entry
    keys = list(by_key)
    columns = (Paper.id, Paper.key, Paper.version, Paper.title, Paper.abstract, Paper.authors, Paper.categories,
               Paper.url, Paper.pdf_url, Paper.doi, Paper.announced_at, Paper.upvotes, Paper.comments,
               Paper.github_stars, Paper.extra, Paper.source_names, Paper.content_hash)
    existing: dict[str, dict] = {}
    for start in range(0, len(keys), _KEY_CHUNK):
        chunk = keys[start : start + _KEY_CHUNK]
        for row in session.execute(select(*columns).where(Paper.key.in_(chunk))).mappings():
            existing[row["key"]] = dict(row)
    inserts, updates = [], []
    for key, entry in by_key.items():
        row = existing.get(key)
        if row is None:
            inserts.append(_new_row(entry, source, now))
        elif row["content_hash"] != content_hash(entry) or source not in row["source_names"]:
            changes = _merge(row, entry, source, now)
            if changes:
                updates.append({"id": row["id"], **changes})
    if inserts:
        # ON CONFLICT DO NOTHING: a concurrent ingest of the same paper is not an error.
        session.execute(_insert(session).on_conflict_do_nothing(index_elements=["key"]), inserts)
    if updates:
        for group in _group_by_columns(updates):
            session.execute(update(Paper), group)
    return len(inserts), len(updates), len(by_key) - len(inserts) - len(updates)


def _group_by_columns(rows: list[dict]) -> list[list[dict]]:
    """executemany needs the same columns in every row of a batch."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    return list(groups.values())


def _new_row(entry: PaperEntry, source: str, now: dt.datetime) -> dict:
    row = asdict(entry)
    row.pop("announce_type")
    row.update(source_names=[source], first_seen_at=now, updated_at=now, content_hash=content_hash(entry))
    return row


def get_or_create_source(session: Session, spec: SourceSpec, now: dt.datetime) -> Source:
    source = session.scalar(select(Source).where(Source.name == spec.name))
    if source is None:
        source = Source(name=spec.name, url=spec.location, kind=spec.kind, created_at=now, consecutive_failures=0)
        session.add(source)
        session.flush()
    return source


def record_failure(source: Source, message: str, now: dt.datetime, status: str = "error") -> None:
    source.last_attempt_at = now
    source.last_error = message
    source.last_error_at = now
    source.last_status = status
    source.consecutive_failures = (source.consecutive_failures or 0) + 1


def read_source(spec: SourceSpec, source: Source, fetcher: Callable = fetch_mod.fetch):
    """Bytes of the source, or None when the server says 304 Not Modified."""
    if spec.is_url:
        try:
            result = fetcher(spec.location, etag=source.etag, last_modified=source.last_modified)
        except fetch_mod.FetchError as exc:
            raise SourceError(str(exc)) from None
        if result.not_modified:
            return None
        source.etag, source.last_modified = result.etag, result.last_modified
        return result.body
    try:
        return Path(spec.location).read_bytes()
    except OSError as exc:
        raise SourceError(f"{spec.location}: {exc.strerror or exc}") from None


def ingest_source(session: Session, spec: SourceSpec, now: dt.datetime,
                  fetcher: Callable = fetch_mod.fetch) -> IngestSummary:
    """Ingest one source and record its health; never raises for a bad feed."""
    source = get_or_create_source(session, spec, now)
    summary = IngestSummary(spec.name)
    try:
        data = read_source(spec, source, fetcher)
    except SourceError as exc:
        record_failure(source, str(exc), now)
        summary.status, summary.message, summary.problems = "error", str(exc), 1
        return summary
    source.last_attempt_at = now
    if data is None:
        return _record_success(source, summary, "not-modified", now)
    digest_of_bytes = hashlib.sha256(data).hexdigest()
    if digest_of_bytes == source.content_hash and source.last_status in ("ok", "unchanged", "not-modified"):
        # Same bytes as last time: nothing to parse, nothing to write.
        return _record_success(source, summary, "unchanged", now)
    try:
        result: ParseResult = parse(spec.kind, data, origin=spec.location)
    except UnknownKind:
        raise
    except Exception as exc:  # a parser bug must not stop the other sources
        result = ParseResult(status="error", message=f"could not parse: {type(exc).__name__}: {exc}")
    summary.problem_list = result.problems
    summary.problems = len(result.problems)
    if result.status == "error":
        record_failure(source, result.message or "unreadable", now)
        summary.status, summary.message = "error", result.message
        summary.problems = max(1, summary.problems)
        return summary
    summary.new, summary.updated, summary.unchanged = bulk_upsert_papers(session, result.entries, spec.name, now)
    source.content_hash = digest_of_bytes
    summary.message = result.message
    return _record_success(source, summary, "empty" if result.status == "empty" else "ok", now)


def _record_success(source: Source, summary: IngestSummary, status: str, now: dt.datetime) -> IngestSummary:
    summary.status = status
    source.last_status = status
    source.last_success_at = now
    source.consecutive_failures = 0
    source.last_counts = {"new": summary.new, "updated": summary.updated, "unchanged": summary.unchanged,
                          "problems": summary.problems}
    if summary.problem_list:
        source.last_error = summary.problem_list[0]
        source.last_error_at = now
    return summary


def add_source(session: Session, name: str, location: str, kind: str | None, now: dt.datetime) -> Source:
    """Register a source for the daily job; the kind is checked, a file path must exist."""
    from digest.sources import KINDS

    name = name.strip()
    if not name or name == SEEDS_NAME:
        raise SourceError(f"invalid source name {name!r}")
    if kind is not None and kind not in KINDS:
        raise UnknownKind(f"unknown source kind {kind!r} (known: {', '.join(sorted(KINDS))})")
    spec = resolve_spec(session, f"{name}={location}", kind)
    if not spec.is_url and not Path(spec.location).is_file():
        raise SourceError(f"{location}: no such file")
    if session.scalar(select(Source).where(Source.name == name)) is not None:
        source = session.scalar(select(Source).where(Source.name == name))
        source.url, source.kind, source.added = spec.location, spec.kind, True
        return source
    source = Source(name=name, url=spec.location, kind=spec.kind, added=True, created_at=now, consecutive_failures=0)
    session.add(source)
    session.flush()
    return source


def remove_source(session: Session, name: str) -> bool:
    source = session.scalar(select(Source).where(Source.name == name))
    if source is None:
        return False
    session.delete(source)
    return True
