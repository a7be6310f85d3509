"""Fetch → parse → upsert, per source, recording each source's health.

Naming, adding and removing sources (`SourceSpec`, `resolve_spec`,
`add_source`, ...) lives in `sources_admin`; those names are importable from
here too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Callable, Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from digest import fetch as fetch_mod
from digest import features
from digest.db import insert_for
from digest.models import Paper, Source
from digest.sources import PaperEntry, ParseResult, UnknownKind, announcements, parse
from digest.sources.keys import canonical_key
from digest.sources_admin import (SEEDS_NAME, SourceError, SourceSpec, add_source, check_readable, remove_source,
                                  resolve_spec, seeds_spec)
from digest.wording import plural

__all__ = [
    "SEEDS_NAME", "IngestSummary", "SourceError", "SourceSpec", "add_source", "bulk_upsert_papers", "check_readable",
    "content_hash", "get_or_create_source", "ingest_source", "parse_source", "plural", "read_source",
    "record_failure", "remove_source", "resolve_spec", "seeds_spec",
]

_KEY_CHUNK = 1000


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
    papers: int | None = None  # what the source held at its last read (when nothing changed since)

    def line(self) -> str:
        if self.status in ("unchanged", "not-modified"):
            why = "unchanged since last ingest" if self.status == "unchanged" else "not modified since last ingest"
            return f"{self.source}: {why}" + (f" ({plural(self.papers, 'paper')})" if self.papers is not None else "")
        if self.status == "error":
            return f"{self.source}: failed: {(self.message or '').removeprefix(self.source + ': ')}"
        text = (f"{self.source}: {self.new} new, {self.updated} updated, {self.unchanged} unchanged, "
                f"{plural(self.problems, 'problem')}")
        if self.status != "ok":
            text += f" [{self.status}{': ' + self.message if self.message else ''}]"
        return text


def content_hash(entry: PaperEntry) -> str:
    """What a source said about a paper; equal hashes mean there is nothing to write."""
    payload = [entry.title, entry.abstract, entry.authors, entry.categories, entry.version,
               entry.upvotes, entry.comments, entry.github_stars, entry.url, entry.doi, entry.announced_at,
               sorted(entry.extra.items())]
    return hashlib.sha256(json.dumps(payload, default=str).encode()).hexdigest()


_VOLATILE_EXTRA = frozenset({"announce_type", "github_repo", "hf_submitted_at"})
_INSERTED = ("key", "version", "title", "abstract", "authors", "categories", "url", "pdf_url", "doi",
             "announced_at", "upvotes", "comments", "github_stars")
_MERGED = ("version", "title", "abstract", "authors", "categories", "url", "pdf_url", "doi", "announced_at",
           "upvotes", "comments", "github_stars", "extra", "source_names", "revised_at")
_FEATURED = frozenset({"title", "abstract", "authors"})  # what ranking features are computed from
_EMBEDDED = frozenset({"title", "abstract"})  # what the sentence embedding is computed from (ranking.embed)


def _merge(row: dict, entry: PaperEntry, source: str, now: dt.datetime) -> dict | None:
    """The changes `entry` brings to an existing row, or None if it brings none.

    A newer version replaces title, abstract and version (and authors and
    categories when strictly newer); popularity keeps the best figure any
    source reported; first_seen_at and first_announced_at never move, so a
    v2, a cross-list or the same paper from another source is never "new"
    again. A later version of a known one (or one a replacement announces) is
    a revision: revised_at says when we read it (the "Updated" block).
    """
    changes: dict = {}
    version, known = entry.version or 0, row["version"] or 0
    if version > known and (known or announcements.is_revision(entry.announce_type)):
        changes["revised_at"] = now
    refill = ("title", "abstract", "version") + (("authors", "categories") if version > known else ())
    for name in refill if version >= known else ():
        value = getattr(entry, name)
        if value and value != row[name]:
            changes[name] = value
    for name in ("authors", "categories", "url", "pdf_url", "doi", "announced_at"):
        if name not in changes and getattr(entry, name) and not row[name]:
            changes[name] = getattr(entry, name)
    for name in ("upvotes", "comments", "github_stars"):
        if getattr(entry, name) > row[name]:
            changes[name] = getattr(entry, name)
    given = {k: v for k, v in entry.extra.items() if v not in (None, "", [])}
    # Details fill gaps; they replace what is known only from a newer version, or when they are
    # news by nature (the latest announce type, a repo added on HF).
    replacing = given if version > known else {k: v for k, v in given.items() if k in _VOLATILE_EXTRA}
    extra = {**given, **(row["extra"] or {}), **replacing}
    if extra != (row["extra"] or {}):
        changes["extra"] = extra
    if source not in row["source_names"]:
        changes["source_names"] = [*row["source_names"], source]
    return changes or None


def bulk_upsert_papers(session: Session, entries: Iterable[PaperEntry], source: str,
                       now: dt.datetime) -> tuple[int, int, int]:
    """Insert new papers and update changed ones in bulk; return (new, updated, unchanged).

    Per batch of keys: one SELECT of the known rows, one multi-row INSERT, one
    executemany UPDATE (every updated row sets the same columns); unchanged
    papers are not written at all.
    """
    by_key: dict[str, PaperEntry] = {}
    for entry in entries:  # the same paper twice in one feed (new + cross): keep the newest version
        kept = by_key.get(entry.key)
        if kept is None or (entry.version or 0) > (kept.version or 0):
            by_key[entry.key] = entry
    keys = list(by_key)
    new = updated = 0
    for start in range(0, len(keys), _KEY_CHUNK):
        batch = {key: by_key[key] for key in keys[start : start + _KEY_CHUNK]}
        inserts, updates = _plan_batch(session, batch, source, now)
        if inserts:
            # ON CONFLICT DO NOTHING: a concurrent ingest of the same paper is not an error.
            # Core table, not the ORM entity: the ORM bulk path adds per-row bookkeeping we do not need.
            session.execute(insert_for(session, Paper.__table__).on_conflict_do_nothing(index_elements=["key"]), inserts)
        if updates:
            session.execute(update(Paper), updates)
        new, updated = new + len(inserts), updated + len(updates)
    return new, updated, len(by_key) - new - updated


def _adopt_title_rows(session: Session, batch: dict[str, PaperEntry], known: dict) -> None:
    """Re-key papers known only by their title to the arXiv id or DOI an unknown entry of the batch brings.

    A listing (the seeds, a scraped page) names a paper by its title alone; when the same paper later
    arrives with an id, its row takes the id's key, keeping its id, first_seen_at and the digest items
    that point at it: the arrival updates that paper (added to `known`) and is never sent again as new.
    """
    wanted: dict[str, str] = {}  # title key -> the strong key that adopts it (the first one in the batch)
    for key, entry in batch.items():
        if key not in known and key.startswith(("arxiv:", "doi:")) and entry.title:
            wanted.setdefault(canonical_key(title=entry.title), key)
    if not wanted:
        return
    columns = (Paper.id, Paper.key, Paper.content_hash, Paper.source_names)
    for row in session.execute(select(*columns).where(Paper.key.in_(list(wanted)))).all():
        new_key = wanted[row.key]
        # Guarded: should a concurrent ingest have stored the id's key meanwhile, that row keeps it and
        # this paper stays under its title, as before.
        taken = select(Paper.id).where(Paper.key == new_key).exists()
        adopted = session.execute(update(Paper).where(Paper.id == row.id, ~taken).values(key=new_key)
                                  .execution_options(synchronize_session=False))
        if adopted.rowcount:
            known[new_key] = row


def _plan_batch(session: Session, batch: dict[str, PaperEntry], source: str,
                now: dt.datetime) -> tuple[list[dict], list[dict]]:
    # Light read first: most papers of a re-read feed are unchanged, and need no more than their hash.
    known = {row.key: row for row in session.execute(
        select(Paper.id, Paper.key, Paper.content_hash, Paper.source_names).where(Paper.key.in_(list(batch))))}
    _adopt_title_rows(session, batch, known)
    inserts, candidates = [], {}
    for key, entry in batch.items():
        row, digest_of_entry = known.get(key), content_hash(entry)
        if row is None:
            inserts.append(_new_row(entry, source, now, digest_of_entry))
        elif row.content_hash != digest_of_entry or source not in row.source_names:
            candidates[row.id] = (entry, digest_of_entry)
    updates = []
    if candidates:
        columns = (Paper.id, Paper.features_version, Paper.embedding_version,
                   *(getattr(Paper, name) for name in _MERGED))
        for row in session.execute(select(*columns).where(Paper.id.in_(list(candidates)))).mappings():
            entry, digest_of_entry = candidates[row["id"]]
            changes = _merge(row, entry, source, now)
            if changes:
                merged = {name: changes.get(name, row[name]) for name in _MERGED}
                updates.append({"id": row["id"], **merged, "content_hash": digest_of_entry, "updated_at": now,
                                # new text, new ranking features and embedding (filled again after the upsert)
                                "features_version": None if changes.keys() & _FEATURED else row["features_version"],
                                "embedding_version": None if changes.keys() & _EMBEDDED else row["embedding_version"]})
    return inserts, updates


def _new_row(entry: PaperEntry, source: str, now: dt.datetime, digest_of_entry: str) -> dict:
    # A shallow read, not dataclasses.asdict: its deep copy was most of the cost of a 10,000-row upsert.
    row = {name: getattr(entry, name) for name in _INSERTED}
    row["extra"] = {k: v for k, v in entry.extra.items() if v not in (None, "", [])}
    row.update(source_names=[source], first_seen_at=now, updated_at=now, content_hash=digest_of_entry)
    row["first_announced_at"] = announcements.first_announced(
        entry.key, entry.announce_type, entry.announced_at, announcements.published(entry.extra), now)
    # Its first sighting is a revision: a replacement, or a later version from a source that does not say.
    revised = announcements.is_revision(entry.announce_type) or (not entry.announce_type and (entry.version or 0) > 1)
    row["revised_at"] = now if revised else None
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


def read_source(spec: SourceSpec, source: Source | None, fetcher: Callable = fetch_mod.fetch):
    """(bytes, validators) of the source; bytes are None when the server says 304 Not Modified."""
    data, validators, _ = _read(spec, source, fetcher)
    return data, validators


def _read(spec: SourceSpec, source: Source | None, fetcher: Callable):
    """(bytes, validators, final URL after redirects or None); a local file is capped like an HTTP body."""
    try:
        if not spec.is_url:
            return fetch_mod.read_file(spec.location), (None, None), None
        result = fetcher(spec.location, etag=source.etag if source else None,
                         last_modified=source.last_modified if source else None)
    except fetch_mod.FetchError as exc:
        raise SourceError(str(exc)) from None
    data = None if result.not_modified else result.body
    return data, (result.etag, result.last_modified), getattr(result, "url", None) or None


def parse_source(spec: SourceSpec, data: bytes, now: dt.datetime | None = None) -> ParseResult:
    """Parse bytes as the spec's kind; a parser bug becomes an error result, not a crash."""
    try:
        return parse(spec.kind, data, origin=spec.location, now=now)
    except UnknownKind:
        raise
    except Exception as exc:  # noqa: BLE001 - one bad source must not stop the others (RecursionError, MemoryError too)
        return ParseResult(status="error", message=f"could not parse: {type(exc).__name__}: {exc}")


def ingest_source(session: Session, spec: SourceSpec, now: dt.datetime,
                  fetcher: Callable = fetch_mod.fetch) -> IngestSummary:
    """Ingest one source and record its health; never raises for a bad feed."""
    known = session.scalar(select(Source.id).where(Source.name == spec.name)) is not None
    summary = _ingest_source(session, spec, now, fetcher)
    if summary.status == "error" and spec.one_off and not known:
        # A one-off file or URL that could not be read was refused, not added: no sources row stays.
        session.delete(session.scalar(select(Source).where(Source.name == spec.name)))
    return summary


def _ingest_source(session: Session, spec: SourceSpec, now: dt.datetime, fetcher: Callable) -> IngestSummary:
    source = get_or_create_source(session, spec, now)
    summary = IngestSummary(spec.name)
    try:
        data, validators, final_url = _read(spec, source, fetcher)
    except SourceError as exc:
        return _record_failure(source, summary, str(exc), now)
    source.last_attempt_at = now
    _record_location(source, spec, final_url)
    if data is None:  # 304: one request, no parse, no paper written
        return _record_success(source, summary, "not-modified", now)
    digest_of_bytes = hashlib.sha256(data).hexdigest()
    if digest_of_bytes == source.content_hash and source.last_status in ("ok", "unchanged", "not-modified"):
        # Same bytes as last time (a server without validators): nothing to parse, nothing to write.
        source.etag, source.last_modified = validators
        return _record_success(source, summary, "unchanged", now)
    result = parse_source(spec, data, now)
    summary.problem_list = result.problems
    summary.problems = len(result.problems)
    if result.status == "error":
        return _record_failure(source, summary, result.message or "unreadable", now)
    summary.new, summary.updated, summary.unchanged = bulk_upsert_papers(session, result.entries, spec.name, now)
    if summary.new or summary.updated:  # ranking features of what was just written (and any recent paper without)
        features.fill_missing(session, since=now - dt.timedelta(days=features.INGEST_DAYS))
    # Validators are kept only once the bytes are in: a failed parse must not turn into a 304 tomorrow.
    source.content_hash = digest_of_bytes
    source.etag, source.last_modified = validators
    summary.message = result.message
    return _record_success(source, summary, result.status, now)


def _record_location(source: Source, spec: SourceSpec, final_url: str | None) -> None:
    """Keep where the URL now leads (`last_counts["final_url"]`) when redirects took it elsewhere: a feed that
    moved should be re-added under its new address before the old one stops redirecting."""
    counts = dict(source.last_counts or {})
    if final_url and final_url != spec.location:
        counts["final_url"] = final_url
    else:
        counts.pop("final_url", None)
    source.last_counts = counts or None


def _record_failure(source: Source, summary: IngestSummary, message: str, now: dt.datetime) -> IngestSummary:
    record_failure(source, message, now)
    summary.status, summary.message = "error", message
    summary.problems = max(1, summary.problems)
    return summary


def _record_success(source: Source, summary: IngestSummary, status: str, now: dt.datetime) -> IngestSummary:
    summary.status = status
    source.last_status = status
    source.last_success_at = now
    source.consecutive_failures = 0
    papers = summary.new + summary.updated + summary.unchanged
    if status in ("unchanged", "not-modified"):  # nothing read: the source still holds what it held last time
        papers = summary.papers = (source.last_counts or {}).get("papers")
    moved = (source.last_counts or {}).get("final_url")
    source.last_counts = {"new": summary.new, "updated": summary.updated, "unchanged": summary.unchanged,
                          "problems": summary.problems, "message": summary.message, "papers": papers}
    if moved:
        source.last_counts["final_url"] = moved
    if summary.problem_list:
        source.last_error = summary.problem_list[0]
        source.last_error_at = now
    return summary
