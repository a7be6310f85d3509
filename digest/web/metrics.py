"""/metrics: the dashboard's figures in the Prometheus text exposition format (version 0.0.4).

Written out by hand rather than with prometheus_client: every figure is a
gauge read from the database or Redis at scrape time, so the client's
registry and process-global collectors would add a dependency and nothing
else; the format is a few lines of text with escaped label values.

Digest figures cover today's and yesterday's editions (in
DIGEST_DEFAULT_TIMEZONE): the days still moving. A figure that cannot be known
(the queue depth without a Redis broker, the tick before the first one) is
left out rather than reported as 0.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from digest.dashboard import figures, ticks
from digest.dashboard.sources import get_source_health
from digest.web.admin_auth import OFF, is_operator, unauthorised
from digest.web.context import local_today, now, state

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SOURCE_OUTCOMES = ("new", "updated", "unchanged", "problems")


def _label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@dataclass
class Exposition:
    """Metric families in the order added, each with its HELP and TYPE lines."""

    lines: list[str] = field(default_factory=list)

    def family(self, name: str, help_text: str, samples: list[tuple[dict, float]], kind: str = "gauge") -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for labels, value in samples:
            shown = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            self.lines.append(f"{name}{{{shown}}} {_number(value)}" if shown else f"{name} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _stamp(when: dt.datetime | None) -> float:
    return when.timestamp() if when else 0


def build(session, settings, moment: dt.datetime, today: dt.date) -> str:
    """Every metric as exposition text."""
    out = Exposition()
    editions = {"today": today, "yesterday": today - dt.timedelta(days=1)}
    days = {name: figures.get_day(session, date) for name, date in editions.items()}
    out.family("digest_digests", "Digests of today's and yesterday's editions, by state.",
               [({"edition": name, "state": s}, day.count(s)) for name, day in days.items() for s in figures.STATES])
    out.family("digest_skipped_digests", "Skipped digests of today's and yesterday's editions, by reason.",
               [({"edition": name, "reason": k}, day.skips.get(k, 0)) for name, day in days.items()
                for k in figures.SKIP_KINDS])
    replies = figures.get_reply_classes(session, editions["yesterday"], today)
    out.family("digest_smtp_replies", "Digests of today's and yesterday's editions by the class of the relay's "
               "last reply (accepted: 250; otherwise who the refusal is blamed on).",
               [({"class": c}, n) for c, n in replies.items()])
    sources = get_source_health(session, moment.date(), moment.date())
    out.family("digest_source_entries", "Papers in each source's last ingest, by outcome.",
               [({"source": s.name, "outcome": o}, int(s.last_counts.get(o) or 0)) for s in sources
                for o in SOURCE_OUTCOMES])
    out.family("digest_source_new_papers_today", "Papers first seen today (UTC) from each source.",
               [({"source": s.name}, s.per_day[-1]) for s in sources])
    out.family("digest_source_errors", "Failed ingests of each source in a row, up to now (0: healthy).",
               [({"source": s.name}, s.failures) for s in sources])
    out.family("digest_source_last_success_timestamp_seconds", "When each source was last read without error "
               "(0: never).", [({"source": s.name}, _stamp(s.last_success_at)) for s in sources])
    out.family("digest_subscribers", "Subscribers by status and cadence.",
               [({"status": st, "cadence": c}, n) for (st, c), n in sorted(figures.get_subscribers(session).items())])
    out.family("digest_returned_messages", "Bounces and complaints received in the last 24 hours.",
               [({"kind": k}, n) for k, n in figures.get_returned_counts(
                   session, moment - dt.timedelta(days=1)).items()])
    depth = ticks.get_queue_depth(settings.broker_url, settings.queue)
    if depth is not None:
        out.family("digest_celery_queue_depth", "Tasks waiting in the Celery queue.", [({"queue": settings.queue},
                                                                                        depth)])
    tick = ticks.get_last_tick(settings.broker_url, settings.queue)
    if tick is not None:
        out.family("digest_tick_duration_seconds", "How long the scheduler's last tick took.", [({}, tick.seconds)])
        out.family("digest_tick_last_timestamp_seconds", "When the last tick started.",
                   [({}, tick.started_at.timestamp())])
        out.family("digest_tick_queued_digests", "Digests the last tick queued.", [({}, tick.queued)])
    return out.text()


def metrics():
    """The metrics, for the holder of DIGEST_ADMIN_TOKEN only (plain 401 otherwise, 404 when it is unset)."""
    if not state().settings.admin_token:
        return OFF + "\n", 404, {"Content-Type": "text/plain; charset=utf-8"}
    if not is_operator():
        return unauthorised(plain=True)
    web, moment = state(), now()
    with web.factory() as db:
        body = build(db, web.settings, moment, local_today(moment))
    return body, 200, {"Content-Type": CONTENT_TYPE}

