"""The one handler every way in ends at: read, classify, apply, record, commit; then answer.

A message is handled once per (Message-ID, envelope recipient): the row is
written in the same transaction as what the message did, so a second delivery
of it (a retried LMTP transaction, a mailbox read again after a crash before
the move) finds the row and changes nothing. The adapter acknowledges only
after `handle` returns, which is after the commit; a database error propagates
and the adapter answers "try again later". Refused messages (too large,
malformed, a forged report) are recorded too, with their bytes (a too-large
one: its first MAX_KEPT bytes), so nothing is lost. One log line per message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from digest.config import Settings
from digest.email.message import clean_header
from digest.inbound.apply import Outcome, apply
from digest.inbound.classify import classify
from digest.inbound.mime import Mail, Refused, addresses, read_mail
from digest.models import InboundMessage

log = logging.getLogger("digest.inbound")
MAX_KEPT = 256 * 1024  # bytes of a refused too-large message kept for the operator


@dataclass(frozen=True)
class Handled:
    kind: str
    outcome: str
    duplicate: bool = False
    row_id: int | None = None

    def line(self) -> str:
        return f"{self.kind}: {self.outcome}" + (" (seen before: nothing done)" if self.duplicate else "")


def handle(settings: Settings, factory: sessionmaker, raw: bytes, rcpt: str = "", via: str = "pipe",
           now: dt.datetime | None = None, size: int | None = None) -> Handled:
    """Handle one message (`size`: its real size when only its head was read); commit, then send any answer."""
    now = now or dt.datetime.now(dt.timezone.utc)
    size = len(raw) if size is None else size
    try:
        mail = read_mail(raw, settings.inbound_max_bytes) if size <= settings.inbound_max_bytes else None
        refusal = None if mail is not None else \
            f"too large: {size:,} bytes (the cap is {settings.inbound_max_bytes:,})"
    except Refused as exc:
        mail, refusal = None, str(exc)
    rcpt = (rcpt or (mail.recipients[0] if mail and mail.recipients else "")).strip().strip("<>").lower()[:320]
    key = mail.message_id if mail is not None else _raw_message_id(raw)
    with factory() as session:
        if session.scalar(select(InboundMessage.id).where(InboundMessage.message_id == key,
                                                          InboundMessage.rcpt == rcpt)) is not None:
            return _log(Handled("duplicate", f"{key} to {rcpt or '?'}", duplicate=True), via)
        if mail is None:
            outcome = Outcome("refused", refusal, keep_raw=True)
        else:
            verdict = classify(mail, rcpt, settings.unsubscribe_mailto)
            outcome = apply(settings, session, mail, verdict, rcpt, now)
        row = _row(mail, raw, key, rcpt, via, now, size, outcome)
        session.add(row)
        try:
            session.commit()
        except IntegrityError:  # the same message handled at this instant by another process
            session.rollback()
            return _log(Handled("duplicate", f"{key} to {rcpt or '?'}", duplicate=True), via)
        handled = Handled(outcome.kind, outcome.outcome, row_id=row.id)
        if outcome.answer is not None:
            _answer(settings, session, row, outcome.answer)
    return _log(handled, via)


def _row(mail: Mail | None, raw: bytes, key: str, rcpt: str, via: str, now: dt.datetime, size: int,
         outcome: Outcome) -> InboundMessage:
    sender = mail.sender if mail is not None else (_raw_sender(raw) or "")
    subject = mail.subject if mail is not None else clean_header(_raw_header(raw, "Subject"), 300)
    return InboundMessage(
        message_id=key[:300], rcpt=rcpt, via=via, received_at=now, kind=outcome.kind, sender=sender[:320],
        subject=subject[:300], outcome=outcome.outcome[:2000], status=outcome.status, blame=outcome.blame,
        subscriber_id=outcome.subscriber.id if outcome.subscriber is not None else None,
        digest_id=outcome.digest.id if outcome.digest is not None else None,
        replied=outcome.answer is not None, size=size, raw=raw[:MAX_KEPT] if outcome.keep_raw else None)


def _answer(settings: Settings, session, row: InboundMessage, answer: tuple[str, bytes]) -> None:
    """Send the confirmation mail after the commit; a failure is one log line and a note on the row."""
    from digest.delivery.confirmations import deliver_confirmation
    from digest.delivery.errors import DeliveryError

    recipient, data = answer
    try:
        deliver_confirmation(settings, recipient, data)
    except (DeliveryError, ValueError) as exc:
        log.error("inbound: the mail to %s was not sent: %s", recipient, exc)
        row.outcome = f"{row.outcome}; not sent: {str(exc)[:200]}"
        session.commit()


def _log(handled: Handled, via: str) -> Handled:
    log.info("inbound %s %s", via, handled.line())
    return handled


def _raw_header(raw: bytes, name: str) -> str:
    head = raw[:65536].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    match = re.search(rb"(?im)^" + name.encode() + rb":[ \t]*(.*(?:\r?\n[ \t].*)*)", head)
    return match[1].decode("latin-1") if match else ""


def _raw_message_id(raw: bytes) -> str:
    """The Message-ID of a message we do not parse, else one made from its bytes."""
    match = re.search(r"<[^<>\s]{1,290}>", _raw_header(raw, "Message-ID"))
    return match[0] if match else f"<sha256:{hashlib.sha256(raw).hexdigest()[:40]}@inbound>"


def _raw_sender(raw: bytes) -> str:
    found = addresses([_raw_header(raw, "From")])
    return found[0] if found else ""
