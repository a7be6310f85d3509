"""Read-only views of what a digest would hold: `digest preview` and `digest send --dry-run`."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.email import compose, render
from digest import delivery
from digest.delivery import editions
from digest.config import Settings
from digest.models import Digest, Subscriber


def get_picks(settings: Settings, session: Session, now: dt.datetime, emails: list[str] | None,
              edition_date: dt.date | None = None):
    """(subscriber, edition date, picks, papers by id, skip reason, existing final state, Updated block) per
    subscriber."""
    due = delivery.get_due(session, now, respect_hour=False, emails=emails or None, edition_date=edition_date,
                           include_finished=True)
    selection = editions.select_picks(settings, session, [s for s, _ in due], now, [])
    for subscriber, date in due:
        state = session.scalar(select(Digest.state).where(Digest.subscriber_id == subscriber.id,
                                                          Digest.edition_date == date))
        yield (subscriber, date, selection.get(subscriber.id), selection.papers, selection.skips.get(subscriber.id),
               state if state in delivery.FINAL_STATES else None, selection.get_updated(subscriber.id))


def render_preview(settings: Settings, session: Session, subscriber: Subscriber,
                   now: dt.datetime) -> tuple[render.Rendered, int, str | None]:
    """The subscriber's digest as it would be sent now (same picks as delivery), and the reason it
    would be skipped if it has no papers; nothing is written."""
    selection = editions.select_picks(settings, session, [subscriber], now, [])
    picks = selection.get(subscriber.id)
    date, _ = delivery.local_edition(subscriber, now)
    content = compose.build_content(settings, subscriber, date, picks, selection.papers,
                                    updated=selection.get_updated(subscriber.id))
    return render.render_digest(content), len(picks), selection.skips.get(subscriber.id)
