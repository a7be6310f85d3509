"""A subscriber's past digests as the reader sees them: each edition with its papers, and why a day had none.

Read by the web pages (the edition as a page, the archive, the Atom feed) and
`digest send --dry-run` (what a finished edition held). `reader_status` says in
a reader's words what happened to an edition: the reasons delivery records are
written for the operator.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.delivery.editions import NO_NEW_PAPERS, NOTHING_RELEVANT
from digest.models import Digest, DigestItem, Paper

__all__ = ["PastDigest", "get_digest", "get_history", "reader_status"]

PAGE = 30  # editions per archive page


@dataclass
class PastDigest:
    """One edition of one subscriber: its row's outcome, and what it held (picks, then the Updated block)."""

    id: int
    edition_date: dt.date
    state: str
    reason: str | None
    failure_class: str | None
    sent_at: dt.datetime | None
    items: list[DigestItem] = field(default_factory=list)
    papers: dict[int, Paper] = field(default_factory=dict)

    @property
    def picks(self) -> list[DigestItem]:
        return [i for i in self.items if not i.updated]

    @property
    def updated(self) -> list[DigestItem]:
        return [i for i in self.items if i.updated]


def get_history(session: Session, subscriber_id: int, before: dt.date | None = None, limit: int = PAGE,
                sent_only: bool = False) -> list[PastDigest]:
    """The subscriber's editions before `before` (all when None), newest first, with the papers of the sent ones;
    three queries whatever the number of editions."""
    query = select(Digest).where(Digest.subscriber_id == subscriber_id)
    if sent_only:
        query = query.where(Digest.state == "sent")
    if before is not None:
        query = query.where(Digest.edition_date < before)
    rows = session.scalars(query.order_by(Digest.edition_date.desc()).limit(limit)).all()
    return _with_items(session, rows)


def get_digest(session: Session, subscriber_id: int, edition_date: dt.date) -> PastDigest | None:
    """One edition of this subscriber, or None when there is no row for that day."""
    row = session.scalar(select(Digest).where(Digest.subscriber_id == subscriber_id,
                                              Digest.edition_date == edition_date))
    return _with_items(session, [row])[0] if row is not None else None


def _with_items(session: Session, rows: list[Digest]) -> list[PastDigest]:
    past = {d.id: PastDigest(d.id, d.edition_date, d.state, d.reason, d.failure_class, d.sent_at) for d in rows}
    sent = [d.id for d in rows if d.state == "sent"]  # a failed or pending row's items were never read
    if sent:
        items = session.scalars(select(DigestItem).where(DigestItem.digest_id.in_(sent))
                                .order_by(DigestItem.digest_id, DigestItem.rank)).all()
        papers = {p.id: p for p in session.scalars(select(Paper).where(
            Paper.id.in_({i.paper_id for i in items})))}
        for item in items:
            if item.paper_id in papers:
                past[item.digest_id].items.append(item)
                past[item.digest_id].papers[item.paper_id] = papers[item.paper_id]
    return [past[d.id] for d in rows]


WEEKEND = {5: "Saturdays", 6: "Sundays"}
ARXIV_QUIET = "arXiv does not announce on Friday and Saturday"


def reader_status(digest: PastDigest) -> str:
    """What happened to this edition, for the reader: sent, or why nothing came that day."""
    state, reason = digest.state, digest.reason or ""
    if state == "sent":
        return "Sent"
    if state in ("pending", "sending"):
        return "On its way: it is being prepared or retried."
    if state == "suppressed":
        return ("Not sent: this address was unsubscribed at the time." if "unsubscribed" in reason
                else "Not sent: mail to this address was refused or stopped at the time.")
    if state == "failed":
        return ("Not delivered: your mail server refused it." if digest.failure_class == "recipient"
                else "Not delivered: a problem on our side kept it from going out.")
    if reason.startswith(NO_NEW_PAPERS):
        if ARXIV_QUIET in reason:
            day = WEEKEND.get(digest.edition_date.weekday())
            return (f"No new papers: arXiv does not announce on {day}." if day else
                    "No new papers: arXiv does not announce on Friday and Saturday evenings (US Eastern time).")
        return "No new papers since your last digest (an arXiv holiday, or the sources had nothing new)."
    if reason.startswith(NOTHING_RELEVANT):
        return "Nothing above your relevance floor: new papers came out, but none matched your topics closely enough."
    return f"Skipped: {reason}." if reason else "Skipped."
