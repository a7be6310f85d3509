"""The one handler every way in ends at: read, classify, apply, record, commit; then answer.

A message is handled once per (Message-ID, envelope recipient): the row is
written in the same transaction as what the message did, so a second delivery
of it (a retried LMTP transaction, a mailbox read again after a crash before
the move) finds the row and changes nothing. The adapter acknowledges only
after the handler returns, which is after the commit; a database error
propagates (or, from `handle_many`, stands in the message's place) and the
adapter answers "try again later". Refused messages (too large, malformed, a
forged report) are recorded too, with their bytes (a too-large one: its first
MAX_KEPT bytes), so nothing is lost. One log line per message.

`handle_many` takes a batch (an IMAP pass, LMTP deliveries that arrive
together) in one transaction: what the batch needs is read up front in a few
IN queries (`known.Known`), and one commit covers all of it. If that
transaction fails for one message's sake (the same message recorded meanwhile
by another process, or a message that breaks the code), each message is tried
again alone, so one bad message never holds back the others. `handle` (the
stdin pipe) is a batch of one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import sessionmaker

from digest.config import Settings
from digest.email.message import clean_header
from digest.inbound.apply import Outcome, apply
from digest.inbound.classify import Verdict, classify
from digest.inbound.known import Known
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


@dataclass(frozen=True)
class Arrived:
    """One message as an adapter took it: its bytes, envelope recipient, and real size when only its head was read."""

    raw: bytes
    rcpt: str = ""
    size: int | None = None


@dataclass(frozen=True)
class _Read:
    """A message parsed and classified (no database yet); `mail` None when it was refused."""

    raw: bytes
    rcpt: str
    size: int
    key: str  # its Message-ID, the idempotency key with rcpt
    mail: Mail | None
    verdict: Verdict | None
    refusal: str | None


def handle(settings: Settings, factory: sessionmaker, raw: bytes, rcpt: str = "", via: str = "pipe",
           now: dt.datetime | None = None, size: int | None = None) -> Handled:
    """Handle one message (`size`: its real size when only its head was read); commit, then send any answer."""
    done = handle_many(settings, factory, [Arrived(raw, rcpt, size)], via, now)[0]
    if isinstance(done, Exception):
        raise done
    return done


def handle_many(settings: Settings, factory: sessionmaker, batch: Sequence[Arrived], via: str,
                now: dt.datetime | None = None) -> list[Handled | Exception]:
    """Handle a batch in one transaction; per message its Handled, or the exception that kept it from the database.

    Only a message with a Handled may be acknowledged: it is committed.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    read = [_read(settings, item) for item in batch]
    try:
        return _commit(settings, factory, read, via, now)
    except IntegrityError:
        if len(read) == 1:  # handled at this instant by another process
            return [_log(Handled("duplicate", f"{read[0].key} to {read[0].rcpt or '?'}", duplicate=True), via)]
        why = "one of its messages was recorded meanwhile by another process"
    except (OperationalError, InterfaceError) as exc:  # the database is away: nothing is taken
        return [exc] * len(read)
    except Exception as exc:  # noqa: BLE001 - a message that breaks the code or a column: find it, take the rest
        if len(read) == 1:
            return [exc]
        why = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
    log.warning("inbound %s: a batch of %d not taken (%s): each message alone", via, len(read), why)
    return [one for item in batch for one in handle_many(settings, factory, [item], via, now)]


def _read(settings: Settings, item: Arrived) -> _Read:
    """Parse and classify one message; a message we do not read is refused with its reason."""
    size = len(item.raw) if item.size is None else item.size
    try:
        mail = read_mail(item.raw, settings.inbound_max_bytes) if size <= settings.inbound_max_bytes else None
        refusal = None if mail is not None else \
            f"too large: {size:,} bytes (the cap is {settings.inbound_max_bytes:,})"
    except Refused as exc:
        mail, refusal = None, str(exc)
    rcpt = (item.rcpt or (mail.recipients[0] if mail and mail.recipients else "")).strip().strip("<>").lower()[:320]
    key = (mail.message_id if mail is not None else _raw_message_id(item.raw))[:300]
    try:
        verdict = classify(mail, rcpt, settings.unsubscribe_mailto) if mail is not None else None
    except Exception as exc:  # noqa: BLE001 - hostile structure the readers did not expect: kept, refused
        log.error("inbound: %s could not be classified: %s: %s", key, type(exc).__name__, str(exc)[:200])
        mail, verdict, refusal = None, None, f"could not be read: {type(exc).__name__}"
    return _Read(item.raw, rcpt, size, key, mail, verdict, refusal)


def _commit(settings: Settings, factory: sessionmaker, batch: list[_Read], via: str,
            now: dt.datetime) -> list[Handled]:
    """One transaction for the batch; raises (nothing committed) on any error. Answers go out after the commit."""
    done: list[Handled | InboundMessage] = []
    answers: list[tuple[InboundMessage, tuple[str, bytes]]] = []
    with factory() as session:
        known = Known.load(session, settings.signing_key(), [(m.key, m.rcpt) for m in batch],
                           [(m.rcpt, m.verdict) for m in batch if m.verdict is not None])
        for message in batch:
            if (message.key, message.rcpt) in known.seen:
                done.append(Handled("duplicate", f"{message.key} to {message.rcpt or '?'}", duplicate=True))
                continue
            outcome = Outcome("refused", message.refusal, keep_raw=True) if message.mail is None else \
                apply(settings, known, message.mail, message.verdict, message.rcpt, now)
            row = _row(message, via, now, outcome)
            session.add(row)
            known.note(row)
            done.append(row)
            if outcome.answer is not None:
                answers.append((row, outcome.answer))
        session.commit()
        for row, answer in answers:  # committed: an answer that fails is a log line, and the others still go
            try:
                _answer(settings, session, row, answer)
            except Exception as exc:  # noqa: BLE001
                session.rollback()
                log.error("inbound: the mail to %s was not sent: %s", answer[0], str(exc)[:200])
    return [_log(d if isinstance(d, Handled) else Handled(d.kind, d.outcome, row_id=d.id), via) for d in done]


def _row(message: _Read, via: str, now: dt.datetime, outcome: Outcome) -> InboundMessage:
    mail, raw = message.mail, message.raw
    sender = mail.sender if mail is not None else (_raw_sender(raw) or "")
    subject = mail.subject if mail is not None else clean_header(_raw_header(raw, "Subject"), 300)
    return InboundMessage(
        message_id=message.key, rcpt=message.rcpt, via=via, received_at=now, kind=outcome.kind,
        sender=sender[:320], subject=subject[:300], outcome=outcome.outcome[:2000], status=outcome.status,
        blame=outcome.blame, subscriber_id=outcome.subscriber.id if outcome.subscriber is not None else None,
        digest_id=outcome.digest.id if outcome.digest is not None else None, replied=outcome.answer is not None,
        size=message.size, raw=raw[:MAX_KEPT] if outcome.keep_raw else None)


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
