"""Read-only views of what a digest would hold: `digest preview` and `digest send --dry-run`."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest import delivery, ranking, render
from digest.config import Settings
from digest.models import Digest, Paper, Subscriber


def get_picks(settings: Settings, session: Session, now: dt.datetime, emails: list[str] | None,
              edition_date: dt.date | None = None):
    """(subscriber, edition date, picks, papers by id, existing final state or None) per due subscriber."""
    due = delivery.get_due(session, now, respect_hour=False, emails=emails or None, edition_date=edition_date)
    candidates, papers = delivery.get_candidates(session, now, settings.candidate_days)
    ids = [s.id for s, _ in due]
    sent = delivery.get_already_sent(session, ids, list(papers), [])
    picks = ranking.rank([delivery.profile_of(s) for s, _ in due], candidates, now, already_sent=sent,
                         half_life_hours=settings.recency_half_life_hours)
    for subscriber, date in due:
        state = session.scalar(select(Digest.state).where(Digest.subscriber_id == subscriber.id,
                                                          Digest.edition_date == date))
        yield subscriber, date, picks.get(subscriber.id, []), papers, state if state in delivery.FINAL_STATES else None


def render_preview(settings: Settings, session: Session, subscriber: Subscriber,
                   now: dt.datetime) -> tuple[render.Rendered, int]:
    """The subscriber's digest as it would be sent now; nothing is written."""
    candidates, papers = delivery.get_candidates(session, now, settings.candidate_days)
    sent = delivery.get_already_sent(session, [subscriber.id], list(papers), [])
    picks = ranking.rank([delivery.profile_of(subscriber)], candidates, now, already_sent=sent,
                         half_life_hours=settings.recency_half_life_hours).get(subscriber.id, [])
    date, _ = delivery.local_edition(subscriber, now)
    content = delivery.build_content(settings, subscriber, date, picks, papers)
    return render.render_digest(content), len(picks)
