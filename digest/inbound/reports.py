"""Machine-readable reports: RFC 3464 delivery status notifications and RFC 5965 feedback reports; pure.

A DSN is `multipart/report; report-type=delivery-status` whose
`message/delivery-status` part holds one block of per-message fields, then one
block per recipient (Final-Recipient, Action, Status, Diagnostic-Code). An ARF
complaint is `multipart/report; report-type=feedback-report` whose
`message/feedback-report` part says Feedback-Type, Original-Mail-From and
Original-Rcpt-To. Both usually return the original message (or its headers):
`evidence` reads from it what can name our digest and its reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_string
from email.message import Message

from digest.inbound.mime import addresses, header_text, part_text

ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")
_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)\s*:\s*(.*)$")
_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
# Signed links of ours in the returned message: the unsubscribe token (`<id>.<24 chars>`) of the
# List-Unsubscribe URL or mailto subject, our return path, and the Message-ID a digest carries.
_TOKEN = re.compile(r"unsubscribe(?:/|%20|\+| )([1-9][0-9]{0,9}\.[A-Za-z0-9_-]{24})(?![A-Za-z0-9_-])", re.I)
_VERP = re.compile(r"bounces\+[0-9]{1,10}\.[0-9a-z]+@[A-Za-z0-9.-]+", re.I)
_DIGEST_ID = re.compile(r"<digest\.[0-9]{1,10}\.\d{4}-\d\d-\d\d@[^<>\s]+>")


@dataclass(frozen=True)
class Failure:
    """What a report says about one recipient."""

    recipient: str  # "" when the report does not name one
    action: str  # failed | delayed | delivered | relayed | expanded
    status: str | None = None  # the RFC 3463 code, e.g. "5.1.1"
    diagnostic: str = ""  # the remote server's reply, one line


@dataclass(frozen=True)
class Evidence:
    """What a report's returned message says about the mail it is about."""

    tokens: tuple[str, ...] = ()  # signed unsubscribe tokens
    return_paths: tuple[str, ...] = ()  # our signed return paths
    message_ids: tuple[str, ...] = ()  # Message-IDs of digests
    recipients: tuple[str, ...] = ()  # who it went to (To, Original-Rcpt-To)


@dataclass(frozen=True)
class Complaint:
    feedback_type: str  # abuse | fraud | virus | other | not-spam | auth-failure | opt-out ...
    evidence: Evidence


def report_type(msg: Message) -> str:
    """`delivery-status`, `feedback-report`, ... for a multipart/report; "" otherwise."""
    if msg.get_content_type() != "multipart/report":
        return ""
    return str(msg.get_param("report-type", "") or "").lower()


def find_part(msg: Message, *types: str) -> Message | None:
    for part in msg.walk():
        if part.get_content_type() in types:
            return part
    return None


def field_blocks(part: Message) -> list[dict[str, str]]:
    """The blocks of `Name: value` fields in a report part, names lower-cased; values one line each."""
    payload = part.get_payload()
    if isinstance(payload, list) and all(isinstance(p, Message) for p in payload):
        return [{k.lower(): header_text(v) for k, v in block.items()} for block in payload]
    return text_blocks(part_text(part))


def text_blocks(text: str) -> list[dict[str, str]]:
    """Blocks of `Name: value` lines separated by blank lines; continuation lines joined."""
    blocks: list[dict[str, str]] = [{}]
    last = None
    for line in text.splitlines():
        if not line.strip():
            if blocks[-1]:
                blocks.append({})
            last = None
        elif line[:1] in " \t" and last:
            blocks[-1][last] += " " + line.strip()
        elif match := _FIELD.match(line):
            last = match[1].lower()
            blocks[-1][last] = match[2].strip()
        else:
            last = None
    return [b for b in blocks if b]


def _address_field(value: str) -> str:
    """`rfc822; Ada@Example.org` → `ada@example.org`."""
    value = value.split(";", 1)[1] if ";" in value else value
    found = addresses([value])
    return found[0] if found else ""


def dsn_failures(msg: Message) -> list[Failure]:
    """One Failure per recipient block of the message's delivery-status part ([] when it has none)."""
    part = find_part(msg, "message/delivery-status", "message/global-delivery-status", "text/delivery-status")
    return failures_of(field_blocks(part)) if part is not None else []


def text_failures(msg: Message) -> list[Failure]:
    """Delivery-status fields written into the text (a broken MIME boundary, a report as text/plain)."""
    text = _all_text(msg)
    at = text.find("Final-Recipient:")
    if at < 0:
        return []
    return failures_of(text_blocks(text[text.rfind("\n\n", 0, at) + 1: at + 20000]))


def failures_of(blocks: list[dict[str, str]]) -> list[Failure]:
    out = []
    for block in blocks:
        recipient = _address_field(block.get("final-recipient") or block.get("original-recipient") or "")
        action = (block.get("action", "").split() or [""])[0].lower()
        if not recipient and not action:
            continue  # the per-message block
        status = _STATUS.search(block.get("status", ""))
        diagnostic = block.get("diagnostic-code", "")
        diagnostic = diagnostic.split(";", 1)[1].strip() if ";" in diagnostic[:12] else diagnostic
        if action not in ACTIONS:
            action = "failed" if status and status[1][0] in "45" else "delivered" if status else "failed"
        out.append(Failure(recipient, action, status[1] if status else None, diagnostic[:500]))
    return out


def original_headers(msg: Message) -> Message | None:
    """The returned message (message/rfc822) or its headers (text/rfc822-headers), parsed."""
    for part in msg.walk():
        kind = part.get_content_type()
        if kind in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        elif kind in ("text/rfc822-headers", "text/rfc822-header", "message/rfc822-headers"):
            try:
                return message_from_string(part_text(part))
            except Exception:  # noqa: BLE001 - hostile headers: no evidence from them
                return None
    return None


def evidence(msg: Message, extra_text: str = "") -> Evidence:
    """Our signed links and Message-IDs in everything but the report's own headers, plus the returned To."""
    body = _all_text(msg) + "\n" + extra_text
    original = original_headers(msg)
    recipients = addresses(original.get_all("To") or []) if original is not None else []
    return Evidence(tokens=_unique(_TOKEN.findall(body)), return_paths=_unique(m.lower() for m in _VERP.findall(body)),
                    message_ids=_unique(_DIGEST_ID.findall(body)), recipients=tuple(recipients))


def _all_text(msg: Message) -> str:
    """The text of every part below the top-level headers, with the headers of returned messages, capped."""
    chunks, size = [], 0
    for part in msg.walk():
        if part is not msg and part.get_content_maintype() == "message":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                chunks.append("\n".join(f"{k}: {header_text(v)}" for k, v in payload[0].items()))
        elif not part.is_multipart():
            chunks.append(part_text(part))
        size += len(chunks[-1]) if chunks else 0
        if size > 2_000_000:
            break
    return "\n".join(chunks)


def _unique(values) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def complaint(msg: Message) -> Complaint | None:
    """The feedback report in an ARF message, or None when it has none."""
    part = find_part(msg, "message/feedback-report")
    if part is None:
        return None
    fields: dict[str, str] = {}
    for block in field_blocks(part):
        for key, value in block.items():
            fields.setdefault(key, value)
    found = evidence(msg, "\n".join(f"{k}: {v}" for k, v in fields.items()))
    rcpt = addresses([fields.get("original-rcpt-to", "")])
    recipients = _unique([*rcpt, *found.recipients])
    kind = (fields.get("feedback-type", "").split() or ["abuse"])[0].lower()
    return Complaint(kind, Evidence(found.tokens, found.return_paths, found.message_ids, recipients))


_COMPLAINT_SUBJECT = re.compile(r"^\s*complaint about message from", re.I)


def is_mixed_complaint(msg: Message, subject: str) -> bool:
    """A complaint in the older Hotmail (JMRP) form: a returned message marked X-HmXmrOriginalRecipient."""
    original = original_headers(msg)
    return bool(_COMPLAINT_SUBJECT.match(subject) or original is not None and original.get("X-HmXmrOriginalRecipient"))


def mixed_complaint(msg: Message) -> Complaint:
    found = evidence(msg)
    original = original_headers(msg)
    named = addresses(original.get_all("X-HmXmrOriginalRecipient") or []) if original is not None else []
    return Complaint("abuse", Evidence(found.tokens, found.return_paths, found.message_ids,
                                       _unique([*named, *found.recipients])))
