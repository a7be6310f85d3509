"""The common non-standard bounces (Exim, qmail, old Gmail, Yahoo, Microsoft, ...): plain-text reports; pure.

Which recipients failed comes from flufl.bounce (GNU Mailman's bounce
detectors: Exim, qmail, Postfix, Yahoo, Microsoft, AOL, GroupWise and generic
heuristics), plus Exim's and Gmail's `X-Failed-Recipients` header. Why they
failed is read here from the text next to each address: the remote server's
reply (`550 5.1.1 <ada@example.org>... User unknown`), its basic and enhanced
codes. A message is only read this way when it looks automated (a
mailer-daemon or postmaster sender, an empty return path, Auto-Submitted, a
bounce subject, or it came to our return path), so a person's reply that
quotes a bounce is not mistaken for one.
"""

from __future__ import annotations

import re
from email.message import Message

from digest.inbound.mime import Mail, addresses, part_text
from digest.inbound.reports import Failure

_DAEMON = re.compile(r"^(mailer[-_]?daemon|mail[-_]?daemon|postmaster|mdaemon|mail\.delivery|"
                     r"mailerdaemon|bounces?|nobody|noreply-dmarc-support)(@|$)", re.I)
_SUBJECT = re.compile(r"undeliver|undelivered|delivery (status notification|fail|has failed|problem|report)|"
                      r"returned (mail|to sender)|failure notice|mail delivery (failed|failure|system)|"
                      r"non[- ]?delivery|could not be delivered|delivery (notification|failure)|"
                      r"nicht zustellbar|unzustellbar|permanent error|mail system error|rejected:|"
                      r"message not delivered|warning: message .* delayed|delayed mail", re.I)
_DELAY = re.compile(r"\b(delayed|still trying|will (keep trying|try again|retry)|has not (yet )?been delivered|"
                    r"warning: message|temporarily|delivery delayed)\b", re.I)
_REPLY = re.compile(r"(?<![\w.#/-])([45][0-7]\d)(?=[ -])[ -]*(?:#?([45]\.\d{1,3}\.\d{1,3})\b)?")
_ENHANCED = re.compile(r"(?<![\w.])([45]\.\d{1,3}\.\d{1,3})(?![\w.])")
_ORIGINAL = re.compile(r"^(-+ ?(this is a copy of|original message|below this line|the original message)|"
                       r"-+ ?(original|returned) (message|mail)|return-path:|received: from)", re.I | re.M)
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
WINDOW = 1200  # characters after an address in which its reason is looked for


def bounce_signals(mail: Mail) -> bool:
    """Sent by a mail system about a delivery: a daemon sender, X-Failed-Recipients, a bounce subject."""
    return bool(_DAEMON.match(mail.sender) or mail.header("X-Failed-Recipients") or _SUBJECT.search(mail.subject))


def null_sender(mail: Mail) -> bool:
    """Return-Path: <> (bounces and auto-replies are sent with an empty envelope sender)."""
    return mail.msg.get("Return-Path") is not None and mail.header("Return-Path").strip() in ("<>", "")


def human_text(msg: Message) -> str:
    """The report's own words: its text parts before the returned message (HTML made plain)."""
    chunks = []
    for part in msg.walk():
        if part.get_content_maintype() == "message" and part is not msg:
            break
        if part.get_content_maintype() == "text" and "attachment" not in str(part.get("Content-Disposition", "")):
            text = part_text(part)
            if part.get_content_subtype() == "html":
                text = re.sub(r"<[^>]{0,2000}>", " ", re.sub(r"(?is)<(style|script)\b.*?</\1>", " ", text))
            chunks.append(text)
    text = "\n".join(chunks)
    cut = _ORIGINAL.search(text, 40)
    return text[: cut.start()] if cut else text


def plain_failures(mail: Mail) -> list[Failure]:
    """One Failure per address the text reports; [] when it names none."""
    from flufl.bounce import all_failures

    try:
        temporary, permanent = all_failures(mail.msg)
    except Exception:  # noqa: BLE001 - a detector tripping over a hostile message reports nothing
        temporary, permanent = set(), set()
    failed = addresses([a.decode("ascii", "replace") for a in permanent])
    for address in addresses(mail.msg.get_all("X-Failed-Recipients") or []):
        if address not in failed:
            failed.append(address)
    delayed = [a for a in addresses([a.decode("ascii", "replace") for a in temporary]) if a not in failed]
    text = human_text(mail.msg)
    if not failed and not delayed:
        failed = named_in(text, {mail.sender, *mail.recipients})
    out = [failure_in_text(text, address, "failed") for address in failed]
    return out + [failure_in_text(text, address, "delayed") for address in delayed]


def named_in(text: str, exclude: set[str]) -> list[str]:
    """Addresses a report's own words name (the detectors knew none of its format), less its own From and To."""
    found = addresses(_ADDRESS.findall(text[:20000]))
    return [a for a in found if a not in exclude and not _DAEMON.match(a)][:20]


def failure_in_text(text: str, address: str, action: str) -> Failure:
    """The reply the text gives for `address`: the first codes after it, else anywhere in the text."""
    at = text.lower().find(address.lower()) if address else -1
    window = text[at: at + WINDOW] if at >= 0 else ""
    status, line = reply_in(window) if window else (None, "")
    if status is None and not line:
        status, line = reply_in(text)
    if action == "failed" and _DELAY.search(text[:2000]) and not (status or "").startswith("5"):
        action = "delayed" if "permanent" not in text[:3000].lower() else action
    return Failure(address, action, status, line)


def reply_in(text: str) -> tuple[str | None, str]:
    """(enhanced status, the line it is on) of the first SMTP reply in `text`; the basic code alone when no
    enhanced one is given (`550` → status None, the line kept for the wording)."""
    reply, enhanced = _REPLY.search(text), _ENHANCED.search(text)
    first = min((m for m in (reply, enhanced) if m), key=lambda m: m.start(), default=None)
    if first is None:
        return None, _wording_line(text)
    if first is reply:
        near = enhanced is not None and 0 <= enhanced.start() - reply.start() < 200
        status = reply[2] or (enhanced[1] if near else None)
    else:
        status = enhanced[1]
    start = text.rfind("\n", 0, first.start()) + 1
    end = text.find("\n", first.end())
    line = " ".join(text[start: end if end >= 0 else None].split())[:300]
    if first is reply and status is None:
        line = line[line.find(first[1]):] if first[1] in line else line
    return status, line


def _wording_line(text: str) -> str:
    """A line that says why, when no code does ("user unknown", "mailbox full")."""
    match = re.search(r"^.*(no such user|user unknown|unknown user|does not exist|mailbox (is )?full|"
                      r"over ?quota|not found|invalid (recipient|address|mailbox)|disabled|inactive|unroute?able|not recognized|no such domain).*$",
                      text, re.I | re.M)
    return " ".join(match[0].split())[:300] if match else ""
