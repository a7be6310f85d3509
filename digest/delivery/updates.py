"""The "Updated" block: new versions of papers first announced before the edition's window.

A revision (arXiv's `replace`) of an older paper is not new, so it never
goes among an edition's picks (`editions.select_picks` leaves it out, by
`sources.announcements`). It may go to a separate block of at most
MAX_UPDATED papers:

- to whoever was sent the paper before: a new version of something they
  got is always relevant to them (these come first);
- to subscribers who asked for updates (`digest subscribe --updates`): the
  revisions relevant to them, chosen by the same `ranking.rank` as the
  picks, on the revised papers, with their own profile.

Each item shown is recorded in digest_items with the version it showed and
`updated` set, so the same revision is never shown twice (a later version
is). Those rows also count as sent for the picks, which a revision never
joins anyway. The block rides along with an edition that has picks: a day
without any is skipped as before, and its revisions come with a later
edition while they are inside its window.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest import ranking
from digest.models import Digest, DigestItem, Paper, SentPaper
from digest.sources import announcements

MAX_UPDATED = 5


def get_shown(session: Session, subscriber_ids: list[int], paper_ids: list[int],
              exclude_digest_ids: list[int]) -> dict[int, dict[int, int]]:
    """Per subscriber, the newest version of each of these papers they were sent (0: not recorded)."""
    shown: dict[int, dict[int, int]] = {}
    if not subscriber_ids or not paper_ids:
        return shown
    query = (
        select(DigestItem.subscriber_id, DigestItem.paper_id, func.max(func.coalesce(DigestItem.version, 0)))
        .join(Digest, Digest.id == DigestItem.digest_id)
        .where(DigestItem.subscriber_id.in_(subscriber_ids), DigestItem.paper_id.in_(paper_ids))
        .where(Digest.state.in_(("sent", "sending")), Digest.id.not_in(exclude_digest_ids or [-1]))
        .group_by(DigestItem.subscriber_id, DigestItem.paper_id)
    )
    pruned = select(SentPaper.subscriber_id, SentPaper.paper_id, SentPaper.version).where(  # retention
        SentPaper.subscriber_id.in_(subscriber_ids), SentPaper.paper_id.in_(paper_ids))
    for subscriber_id, paper_id, version in (*session.execute(query), *session.execute(pruned)):
        mine = shown.setdefault(subscriber_id, {})
        mine[paper_id] = max(version, mine.get(paper_id, 0))
    return shown


def select_updates(session: Session, profiles: list[ranking.Profile], revised: list[ranking.Candidate],
                   papers: dict[int, Paper], since: dt.datetime, now: dt.datetime, exclude_digest_ids: list[int],
                   half_life_hours: float) -> dict[int, list[ranking.Pick]]:
    """Each subscriber's Updated block from the papers revised in the window (`revised`, rows in `papers`)."""
    if not profiles or not revised:
        return {}
    shown = get_shown(session, [p.subscriber_id for p in profiles], [c.paper_id for c in revised],
                      exclude_digest_ids)
    older = [c for c in revised if announcements.is_before_window(c.announce_type, c.first_announced_at, since)]
    wanting = [dataclasses.replace(p, max_papers=MAX_UPDATED) for p in profiles if p.updates]
    ranked = ranking.rank(wanting, older, now, already_sent={s: set(v) for s, v in shown.items()},
                          half_life_hours=half_life_hours) if wanting and older else {}
    blocks: dict[int, list[ranking.Pick]] = {}
    for profile in profiles:
        got = shown.get(profile.subscriber_id, {})
        yours = [ranking.Pick(c.paper_id, 1.0, _yours(papers[c.paper_id].version, got[c.paper_id]))
                 for c in revised if c.paper_id in got and got[c.paper_id] < (papers[c.paper_id].version or 0)]
        relevant = [dataclasses.replace(p, reason=f"{_version(papers[p.paper_id].version)} · {p.reason}")
                    for p in ranked.get(profile.subscriber_id, ())]
        block = (yours + relevant)[:MAX_UPDATED]
        if block:
            blocks[profile.subscriber_id] = block
    return blocks


def _version(version: int | None) -> str:
    return f"New version (v{version})" if version else "New version"


def _yours(version: int | None, got: int) -> str:
    return f"{_version(version)} of a paper you got" + (f" as v{got}" if got else "")
