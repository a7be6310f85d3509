"""What a batch of returned mail needs from the database, read up front in a few IN queries.

The handler takes messages in batches (an IMAP pass, LMTP deliveries that
arrive together) and handles each batch in one transaction. Instead of a
lookup per message, `Known.load` reads at once: the Message-ID + recipient
pairs recorded already (the handled-once check), the digests (with their
subscribers) that the batch's signed return paths and Message-IDs name, and
for each of those subscribers the latest SUPPRESS_AFTER_FAILURES sent or failed
digests and which of them came back. As the batch is applied, `note` adds each
new row, so a later message of the same batch sees what an earlier one did,
exactly as if each had been committed alone. Anything not read up front (a
subscriber named only by an unsubscribe token) is read when asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload

from digest.email.replies import RECIPIENT, SUPPRESS_AFTER_FAILURES
from digest.inbound.classify import Verdict
from digest.inbound.reports import Evidence
from digest.inbound.verp import ForgedReturnPath, read_return_path
from digest.models import Digest, InboundMessage

REPORTS = ("bounce", "delay", "complaint")  # the verdicts that name a digest


@dataclass
class Latest:
    """One reader's latest sent or failed digests, newest first, and those of them that came back."""

    digests: list[tuple[int, str, str | None]]  # (digest id, state, failure class)
    returned: set[int] = field(default_factory=set)


@dataclass
class Known:
    session: Session
    seen: set[tuple[str, str]] = field(default_factory=set)  # (Message-ID, rcpt) recorded
    digests: dict[int, Digest] = field(default_factory=dict)
    by_message_id: dict[str, Digest] = field(default_factory=dict)
    latest: dict[int, Latest] = field(default_factory=dict)  # by subscriber id

    @classmethod
    def load(cls, session: Session, secret: str, keys: Sequence[tuple[str, str]],
             verdicts: Iterable[tuple[str, Verdict]]) -> Known:
        """Everything the batch (its (Message-ID, rcpt) keys; (rcpt, verdict) of the parsed ones) will ask."""
        known = cls(session)
        message_ids = sorted({key for key, _ in keys})
        if message_ids:
            known.seen = {tuple(pair) for pair in session.execute(
                select(InboundMessage.message_id, InboundMessage.rcpt)
                .where(InboundMessage.message_id.in_(message_ids)))}
        ids, mids = set(), set()
        for rcpt, verdict in verdicts:
            if verdict.kind in REPORTS:
                signed = set(signed_digests(secret, rcpt, verdict.evidence))
                ids |= signed
                mids |= set() if signed else set(verdict.evidence.message_ids)
        if ids or mids:
            clauses = ([Digest.id.in_(sorted(ids))] if ids else []) + \
                ([Digest.message_id.in_(sorted(mids))] if mids else [])
            for digest in session.scalars(select(Digest).options(joinedload(Digest.subscriber))
                                          .where(or_(*clauses))).unique():
                known.digests[digest.id] = digest
                if digest.message_id:
                    known.by_message_id.setdefault(digest.message_id, digest)
            known._load_latest({d.subscriber_id for d in known.digests.values()})
        return known

    def digest(self, digest_id: int) -> Digest | None:
        if digest_id not in self.digests:
            self.digests[digest_id] = self.session.get(Digest, digest_id)
        return self.digests[digest_id]

    def digest_by_message_id(self, message_ids: Sequence[str]) -> Digest | None:
        missing = [m for m in message_ids if m not in self.by_message_id]
        if missing:
            for digest in self.session.scalars(select(Digest).where(Digest.message_id.in_(missing))):
                self.by_message_id.setdefault(digest.message_id, digest)
        return next((self.by_message_id[m] for m in message_ids if m in self.by_message_id), None)

    def latest_of(self, subscriber_id: int) -> Latest:
        if subscriber_id not in self.latest:
            self._load_latest({subscriber_id})
        return self.latest[subscriber_id]

    def note(self, row: InboundMessage) -> None:
        """A row added in this batch: later messages must find it, as they would once it is committed."""
        self.seen.add((row.message_id, row.rcpt))
        if row.kind == "bounce" and row.blame == RECIPIENT and row.subscriber_id in self.latest \
                and row.digest_id is not None:
            self.latest[row.subscriber_id].returned.add(row.digest_id)

    def _load_latest(self, subscriber_ids: set[int]) -> None:
        """Two queries for any number of readers: their latest digests (ranked per reader), and the returned."""
        if not subscriber_ids:
            return
        rank = func.row_number().over(partition_by=Digest.subscriber_id,
                                      order_by=Digest.edition_date.desc()).label("rank")
        ranked = select(Digest.id, Digest.subscriber_id, Digest.state, Digest.failure_class, rank).where(
            Digest.subscriber_id.in_(sorted(subscriber_ids)), Digest.state.in_(("sent", "failed"))).subquery()
        for sid in subscriber_ids:
            self.latest[sid] = Latest([])
        rows = self.session.execute(select(ranked.c.id, ranked.c.subscriber_id, ranked.c.state,
                                           ranked.c.failure_class)
                                    .where(ranked.c.rank <= SUPPRESS_AFTER_FAILURES)
                                    .order_by(ranked.c.subscriber_id, ranked.c.rank)).all()
        for digest_id, sid, state, failure_class in rows:
            self.latest[sid].digests.append((digest_id, state, failure_class))
        if rows:
            for sid, digest_id in self.session.execute(
                    select(InboundMessage.subscriber_id, InboundMessage.digest_id).where(
                        InboundMessage.subscriber_id.in_(sorted(subscriber_ids)), InboundMessage.kind == "bounce",
                        InboundMessage.blame == RECIPIENT, InboundMessage.digest_id.in_([r[0] for r in rows]))):
                self.latest[sid].returned.add(digest_id)


def signed_digests(secret: str, rcpt: str, evidence: Evidence) -> Iterator[int]:
    """The digest ids our signed return paths name (the envelope recipient first); forgeries left out here."""
    for address in (rcpt, *evidence.return_paths):
        try:
            digest_id = read_return_path(secret, address)
        except ForgedReturnPath:
            continue
        if digest_id is not None:
            yield digest_id
