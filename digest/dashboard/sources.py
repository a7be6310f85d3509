"""Each source's health for the operator: last success, last error, and new papers per day.

A paper lists every source it arrived from (`papers.source_names`, a JSON
array); the papers first seen in the window are counted per source and day in
the database (PostgreSQL's json_array_elements_text, SQLite's json_each), over
the `first_seen_at` index.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from digest.models import Source

_PER_DAY = {
    "postgresql": text(
        "SELECT name.value AS source, CAST(p.first_seen_at AT TIME ZONE 'UTC' AS DATE) AS day, COUNT(*) AS n "
        "FROM papers p CROSS JOIN LATERAL json_array_elements_text(p.source_names) AS name(value) "
        "WHERE p.first_seen_at >= :since GROUP BY 1, 2"),
    "sqlite": text(
        "SELECT j.value AS source, substr(p.first_seen_at, 1, 10) AS day, COUNT(*) AS n "
        "FROM papers p, json_each(p.source_names) j WHERE p.first_seen_at >= :since GROUP BY 1, 2"),
}


@dataclass
class SourceHealth:
    name: str
    kind: str
    last_success_at: dt.datetime | None
    last_error_at: dt.datetime | None
    last_error: str
    failures: int  # in a row, up to now
    last_counts: dict
    per_day: list[int] = field(default_factory=list)  # new papers per UTC day, oldest first

    @property
    def failing(self) -> bool:
        return self.failures > 0


def get_papers_per_day(session: Session, first: dt.date, last: dt.date) -> dict[str, list[int]]:
    """{source name: [new papers on each UTC day from `first` to `last`]}."""
    since = dt.datetime.combine(first, dt.time(), dt.timezone.utc)
    if session.get_bind().dialect.name == "sqlite":
        since_value = since.strftime("%Y-%m-%d %H:%M:%S")  # how SQLAlchemy stores datetimes in SQLite
        sql = _PER_DAY["sqlite"]
    else:
        since_value, sql = since, _PER_DAY["postgresql"]
    width = (last - first).days + 1
    table: dict[str, list[int]] = {}
    for source, day, count in session.execute(sql, {"since": since_value}):
        day = day if isinstance(day, dt.date) else dt.date.fromisoformat(day)
        if first <= day <= last:
            table.setdefault(source, [0] * width)[(day - first).days] = count
    return table


def get_source_health(session: Session, first: dt.date, last: dt.date) -> list[SourceHealth]:
    """Every source, failing ones first, with its new papers per day from `first` to `last`."""
    per_day = get_papers_per_day(session, first, last)
    width = (last - first).days + 1
    rows = [SourceHealth(s.name, s.kind, s.last_success_at, s.last_error_at, s.last_error or "",
                         s.consecutive_failures or 0, dict(s.last_counts or {}), per_day.get(s.name, [0] * width))
            for s in session.scalars(select(Source).order_by(Source.name))]
    return sorted(rows, key=lambda s: (not s.failing, s.name))
