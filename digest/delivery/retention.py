"""Retention: digests and their items older than DIGEST_KEEP_DAYS are pruned; what they sent is kept, compactly.

Invariant (DESIGN.md): a paper is never sent twice to one subscriber. The
ranking learns what a reader already has from digest_items; pruning an item
would let its paper through again. So before a finished digest goes, every
paper it sent is folded into `sent_papers` (one small row per subscriber and
paper, with the newest version shown), which `editions.get_already_sent` and
`updates.get_shown` read beside the items. That table is never pruned: it
grows with what each reader was sent, not with every edition's ranks, scores
and reasons, and its rows go only with the subscriber or the paper.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import case, delete, func, select

from digest.db import insert_for
from digest.delivery.plan import FINAL_STATES  # never a row a worker may still send
from digest.models import Digest, DigestItem, SentPaper


def bulk_prune(session, cutoff: dt.date) -> tuple[int, int]:
    """Fold the papers of sent digests dated before `cutoff` into sent_papers, then delete those digests and items.

    Returns (digests deleted, items deleted). One transaction: the papers are
    recorded before their items go, or nothing happens.
    """
    old = select(Digest.id).where(Digest.edition_date < cutoff, Digest.state.in_(FINAL_STATES))
    sent = (select(DigestItem.subscriber_id, DigestItem.paper_id, func.max(func.coalesce(DigestItem.version, 0)))
            .join(Digest, Digest.id == DigestItem.digest_id)
            .where(Digest.edition_date < cutoff, Digest.state == "sent")
            .group_by(DigestItem.subscriber_id, DigestItem.paper_id))
    fold = insert_for(session, SentPaper).from_select(["subscriber_id", "paper_id", "version"], sent)
    newer = fold.excluded.version > SentPaper.version
    session.execute(fold.on_conflict_do_update(index_elements=["subscriber_id", "paper_id"],
                                               set_={"version": case((newer, fold.excluded.version),
                                                                     else_=SentPaper.version)}))
    items = session.execute(delete(DigestItem).where(DigestItem.digest_id.in_(old))
                            .execution_options(synchronize_session=False)).rowcount
    digests = session.execute(delete(Digest).where(Digest.id.in_(old))
                              .execution_options(synchronize_session=False)).rowcount
    return digests or 0, items or 0
