"""What goes into an edition: candidate papers, what each subscriber already has, and the picks.

Loads once per batch what its subscribers share (candidates, already-sent
papers, last send times, liked and disliked papers), then ranks them all in
one call per cadence.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer

from digest import embeddings, feedback, ranking
from digest.config import Settings
from digest.delivery import updates
from digest.features import fill_papers
from digest.models import Digest, DigestItem, Paper, SentPaper, Subscriber
from digest.sources import announcements

WEEKLY_WINDOW_DAYS = 7
NOTHING_RELEVANT = "nothing relevant today"
NO_NEW_PAPERS = "no new papers today"
ARXIV_ZONE = ZoneInfo("America/New_York")


_CANDIDATES: dict[str, tuple[tuple, tuple[list[ranking.Candidate], dict[int, Paper]]]] = {}


def get_candidates(session: Session, now: dt.datetime, days: int) -> tuple[list[ranking.Candidate], dict[int, Paper]]:
    """Papers first seen within the window, as ranking inputs and rows by id.

    Every batch of an edition asks for the same papers; a worker keeps the
    last answer and reloads only when a cheap fingerprint query (count, newest
    id, last update, content hashes in the window) says the papers changed.
    """
    return _load(session, "new", Paper.first_seen_at, now - dt.timedelta(days=days))


def get_revisions(session: Session, now: dt.datetime, days: int) -> tuple[list[ranking.Candidate], dict[int, Paper]]:
    """Papers revised (a later version read) within the window: what an "Updated" block chooses from."""
    return _load(session, "revised", Paper.revised_at, now - dt.timedelta(days=days))


def _load(session: Session, name: str, column, since: dt.datetime):
    in_window = column >= since
    fingerprint = session.execute(
        select(func.count(Paper.id), func.max(Paper.id), func.max(Paper.updated_at), func.max(Paper.content_hash),
               func.min(Paper.content_hash)).where(in_window)).one()
    key = (str(session.get_bind().url), since.replace(second=0, microsecond=0), *map(str, fingerprint))
    cached = _CANDIDATES.get(name)
    if cached is not None and cached[0] == key:
        return cached[1]
    papers = session.scalars(select(Paper).where(in_window).order_by(Paper.id)
                             .options(undefer(Paper.features), undefer(Paper.embedding),
                                      undefer(Paper.sentence_embeddings))).all()
    fill_papers(session, papers)  # papers stored before their features existed, or with an older version
    embeddings.fill_papers(session, papers)  # papers from before the model shipped (or while none loaded)
    candidates = [candidate_of(p) for p in papers]
    for paper in papers:
        session.expunge(paper)  # detached, read-only copies shared by later batches
    _CANDIDATES[name] = key, (candidates, {p.id: p for p in papers})  # one edition at a time per process
    return _CANDIDATES[name][1]


def candidate_of(p: Paper) -> ranking.Candidate:
    """A paper row as ranking input, with its announce type and first announcement (estimated for older rows)."""
    announce_type = (p.extra or {}).get("announce_type")
    first = p.first_announced_at or announcements.first_announced(
        p.key, announce_type, p.announced_at, announcements.published(p.extra), p.first_seen_at)
    return ranking.Candidate(p.id, p.title, p.abstract or "", tuple(p.authors or ()), tuple(p.categories or ()),
                             p.announced_at or p.first_seen_at, p.upvotes or 0, github_stars=p.github_stars or 0,
                             n_sources=max(len(p.source_names or ()), 1), comments=p.comments or 0,
                             features=p.features, embedding=embeddings.current_embedding(p),
                             sentences=embeddings.current_sentences(p),
                             announce_type=announce_type, first_announced_at=first)


def get_already_sent(session: Session, subscriber_ids: list[int], paper_ids: list[int],
                     exclude_digest_ids: list[int]) -> dict[int, set[int]]:
    """Papers each subscriber already received (sent or being sent, or in a pruned digest) among these candidates."""
    sent: dict[int, set[int]] = {}
    if not subscriber_ids or not paper_ids:
        return sent
    # The candidates' id range, not their thousands of ids as parameters: each batch asks this.
    wanted, low, high = set(paper_ids), min(paper_ids), max(paper_ids)
    query = (
        select(DigestItem.subscriber_id, DigestItem.paper_id)
        .join(Digest, Digest.id == DigestItem.digest_id)
        .where(DigestItem.subscriber_id.in_(subscriber_ids), DigestItem.paper_id.between(low, high))
        .where(Digest.state.in_(("sent", "sending")), Digest.id.not_in(exclude_digest_ids or [-1]))
    )
    pruned = select(SentPaper.subscriber_id, SentPaper.paper_id).where(  # digests pruned since (retention)
        SentPaper.subscriber_id.in_(subscriber_ids), SentPaper.paper_id.between(low, high))
    for subscriber_id, paper_id in (*session.execute(query), *session.execute(pruned)):
        if paper_id in wanted:
            sent.setdefault(subscriber_id, set()).add(paper_id)
    return sent


def get_last_sent(session: Session, subscriber_ids: list[int]) -> dict[int, dt.datetime]:
    """When each subscriber last received a digest."""
    if not subscriber_ids:
        return {}
    rows = session.execute(
        select(Digest.subscriber_id, func.max(Digest.sent_at))
        .where(Digest.subscriber_id.in_(subscriber_ids), Digest.state == "sent").group_by(Digest.subscriber_id)
    ).all()
    return {sid: when.replace(tzinfo=dt.timezone.utc) if when.tzinfo is None else when for sid, when in rows if when}


def profile_of(subscriber: Subscriber, rated: feedback.Examples | None = None) -> ranking.Profile:
    """The subscriber's ranking profile, with the papers they liked and disliked (`feedback.bulk_examples`)."""
    rated = rated or feedback.Examples()
    return ranking.Profile(subscriber.id, tuple(subscriber.topics or ()), tuple(subscriber.categories or ()),
                           tuple(subscriber.exclude or ()), tuple(subscriber.authors or ()), subscriber.max_papers,
                           subscriber.min_score or 0.0, liked=tuple(rated.liked), disliked=tuple(rated.disliked),
                           updates=bool(subscriber.updates))


def is_arxiv_quiet_day(now: dt.datetime) -> bool:
    """True on the days after arXiv's Friday and Saturday (no announcement at 20:00 US Eastern).

    arXiv announces Sunday–Thursday at 20:00 ET; mornings after Friday and
    Saturday evenings have nothing new. Holidays are not modelled.
    """
    eastern = now.astimezone(ARXIV_ZONE)
    announced_day = eastern.date() if eastern.hour >= 20 else eastern.date() - dt.timedelta(days=1)
    return announced_day.weekday() in (4, 5)  # Friday, Saturday


def empty_reason(now: dt.datetime) -> str:
    return NO_NEW_PAPERS + (" (arXiv does not announce on Friday and Saturday)" if is_arxiv_quiet_day(now) else "")


@dataclass
class Selection:
    """The batch's picks, their Updated blocks, the papers they refer to, and why the others get nothing."""

    picks: dict[int, list[ranking.Pick]] = field(default_factory=dict)
    papers: dict[int, Paper] = field(default_factory=dict)
    skips: dict[int, str] = field(default_factory=dict)  # subscriber id -> reason
    updated: dict[int, list[ranking.Pick]] = field(default_factory=dict)  # subscriber id -> "Updated" block

    def get(self, subscriber_id: int) -> list[ranking.Pick]:
        return self.picks.get(subscriber_id, [])

    def get_updated(self, subscriber_id: int) -> list[ranking.Pick]:
        return self.updated.get(subscriber_id, [])


def select_picks(settings: Settings, session: Session, subscribers: list[Subscriber], now: dt.datetime,
                 exclude_digest_ids: list[int]) -> Selection:
    """Rank every subscriber of the batch; daily ones over the recent window, weekly ones over the week.

    The picks are papers first announced within the window: a revision of a
    paper announced before it (sources.announcements) is left out, and may go
    to the subscriber's Updated block instead (delivery.updates). A
    subscriber for whom nothing was first seen since their last digest is
    skipped with "no new papers today" (an arXiv weekend, a holiday), not
    sent yesterday's leftovers (nor for a day that brought only revisions);
    one with new papers but none above their floor is skipped with "nothing
    relevant today".
    """
    days = max(settings.candidate_days, WEEKLY_WINDOW_DAYS if any(s.cadence == "weekly" for s in subscribers) else 0)
    candidates, papers = get_candidates(session, now, days)
    revised, revised_papers = get_revisions(session, now, days)
    ids = [s.id for s in subscribers]
    sent = get_already_sent(session, ids, list(papers), exclude_digest_ids)
    rated = feedback.bulk_examples(session, ids)  # ranking never sends a rated paper (back) to its reader
    last_sent = get_last_sent(session, ids)
    daily_since = now - dt.timedelta(days=settings.candidate_days)
    newest = max((papers[c.paper_id].first_seen_at for c in candidates  # revisions are not news
                  if not announcements.is_before_window(c.announce_type, c.first_announced_at, daily_since)),
                 default=None)
    selection = Selection(papers={**revised_papers, **papers})
    groups: dict[int, list[Subscriber]] = {}
    for subscriber in subscribers:
        if newest is None or (subscriber.id in last_sent and newest <= last_sent[subscriber.id]):
            selection.skips[subscriber.id] = empty_reason(now)
            continue
        window = WEEKLY_WINDOW_DAYS if subscriber.cadence == "weekly" else settings.candidate_days
        groups.setdefault(window, []).append(subscriber)
    for window, members in groups.items():
        since = now - dt.timedelta(days=window)
        pool = [c for c in candidates if papers[c.paper_id].first_seen_at >= since
                and not announcements.is_before_window(c.announce_type, c.first_announced_at, since)]
        half_life = settings.recency_half_life_hours * (7 if window == WEEKLY_WINDOW_DAYS else 1)
        profiles = [profile_of(s, rated.get(s.id)) for s in members]
        embeddings.load_phrases(session, (t for p in profiles for t in p.topics))  # their stored topic vectors
        picks = ranking.rank(profiles, pool, now, already_sent=sent, half_life_hours=half_life)
        for subscriber in members:
            chosen = picks.get(subscriber.id, [])
            if chosen:
                selection.picks[subscriber.id] = chosen
            else:
                selection.skips[subscriber.id] = NOTHING_RELEVANT
        selection.updated.update(updates.select_updates(
            session, [p for p in profiles if p.subscriber_id in selection.picks],
            [c for c in revised if revised_papers[c.paper_id].revised_at >= since], revised_papers, since, now,
            exclude_digest_ids, half_life))
    return selection
