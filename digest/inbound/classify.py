"""One verdict per message that came back, and whom a bounce blames; pure.

In order: a feedback report is a complaint; a delivery status notification,
or a message from a mail system whose text names failed recipients, is a
bounce (or only a delay notice, which changes nothing); an automatic answer is
an auto-reply; a subscribe or unsubscribe command is a command; anything else
is a reply, kept for the operator.

Whom a failure blames follows the rule of the SMTP-time classification
(`digest.email.replies.classify_reply`): 5.1.x and 5.2.x are the reader's,
5.3/5.4/5.6/5.7.x ours. Here a permanent 5.1.x (no such mailbox, no such
domain, bad address) is `hard`: the address is suppressed at once; any other
failure blamed on the reader, and a report that gave up on a temporary
failure (Action: failed, Status: 4.x.x), is soft and counts toward the
threshold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from digest.email.replies import RECIPIENT, SENDER, UNKNOWN, ReplyClass, classify_reply
from digest.inbound import commands, plain, reports
from digest.inbound.mime import Mail
from digest.inbound.reports import Complaint, Evidence, Failure

_SENDER_DETAILS = ("7", "8")  # X.1.7 / X.1.8: our sender address is bad, not the reader's
_PAIR = re.compile(r"(?<![\w.])([45]\d\d)[ -]+['\"]?([45]\.\d{1,3}\.\d{1,3})\b")
# Words that put a refusal on us whatever its code says (an SPF failure sent as 5.1.0, say).
_OURS = re.compile(r"\b(spf|dkim|dmarc|spam|blacklist(ed)?|blocklist(ed)?|block(ed)? (list|by)|reputation|"
                   r"not allowed to send|relay(ing)? (denied|not permitted|access denied)|rbl|dnsbl|"
                   r"authentication (failed|required))\b", re.I)
_NO_DOMAIN = re.compile(r"unrouteable|unroutable|no such domain|domain (name )?(does not exist|not found)|"
                        r"host or domain name not found|name service error", re.I)
_ENHANCED = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


@dataclass(frozen=True)
class Verdict:
    kind: str  # bounce | delay | complaint | autoreply | subscribe | unsubscribe | reply | refused
    reason: str = ""  # refused: why
    failures: tuple[Failure, ...] = ()
    evidence: Evidence = Evidence()
    complaint: Complaint | None = None
    command: commands.Command | None = None
    automated: bool = False  # sent by a machine: never answered by mail


@dataclass(frozen=True)
class Blame:
    blame: str  # recipient | sender | transient | unknown
    status: str | None
    hard: bool  # suppress at once


def classify(mail: Mail, rcpt: str, unsubscribe_address: str | None = None) -> Verdict:
    """What a parsed message is, read from its structure first and its wording last."""
    kind = reports.report_type(mail.msg)
    if kind == "feedback-report" or reports.find_part(mail.msg, "message/feedback-report") is not None:
        found = reports.complaint(mail.msg)
        if found is not None:
            return Verdict("complaint", complaint=found, evidence=found.evidence)
    failures = reports.dsn_failures(mail.msg)
    to_us = _is_return_path(rcpt)
    strong = plain.bounce_signals(mail) or kind == "delivery-status"
    auto = commands.is_autoreply(mail) and not strong
    machine = strong or auto or plain.null_sender(mail)
    if not failures and not auto and (machine or to_us):
        failures = reports.text_failures(mail.msg) or plain.plain_failures(mail)
        if not failures and (strong or to_us):  # a bounce whose recipients we cannot read: the reason still counts
            status, line = plain.reply_in(plain.human_text(mail.msg))
            failures = [Failure("", "failed", status, line)] if (status or line or strong) else []
    if failures:
        bounce = "bounce" if any(f.action == "failed" for f in failures) else "delay"
        return Verdict(bounce, failures=tuple(failures), evidence=reports.evidence(mail.msg))
    if reports.is_mixed_complaint(mail.msg, mail.subject):
        found = reports.mixed_complaint(mail.msg)
        return Verdict("complaint", complaint=found, evidence=found.evidence)
    if machine:
        command = commands.parse_command(mail, rcpt, unsubscribe_address)
        if command is not None and command.action == "unsubscribe":
            return Verdict("unsubscribe", command=command, automated=True)  # a provider's List-Unsubscribe mailto
        return Verdict("autoreply")
    command = commands.parse_command(mail, rcpt, unsubscribe_address)
    if command is not None:
        return Verdict(command.action, command=command)
    return Verdict("reply")


def _is_return_path(rcpt: str) -> bool:
    return rcpt.lower().startswith("bounces+")


def blame_of(failure: Failure) -> Blame:
    """Whom one failed delivery blames, by the SMTP-time rules; `hard` for a permanent 5.1.x."""
    diagnostic = failure.diagnostic.strip()
    basic = diagnostic[:3] if diagnostic[:3].isdigit() and diagnostic[0] in "45" else None
    status = failure.status
    told = _PAIR.search(diagnostic) or _ENHANCED.search(diagnostic[:60])
    if told and (status is None or status.endswith(".0.0") or told.re is _PAIR):
        # The remote server's own reply ("550 5.2.2 mailbox full") over a relay's summary ("Status: 5.0.0",
        # "5.1.0 - Unknown address error 550-'5.7.1 ... Access denied'").
        status = told[told.lastindex]
    if status is not None and status.startswith("2"):
        return Blame(UNKNOWN, status, False)
    # A report that gave up after temporary failures is judged like the permanent form of its code.
    gave_up = (status or basic or "5").startswith("4")
    shown = f"5{status[1:]}" if status and gave_up else status or ""
    code = f"5{basic[1:]}" if basic and gave_up else basic or "554"  # 554 alone blames no one: the wording decides
    verdict: ReplyClass = classify_reply(None, f"{code} {shown} {diagnostic}")
    parts = (verdict.status or "5.0.0").split(".")
    if parts[1] == "1" and parts[2] in _SENDER_DETAILS or \
            verdict.status not in ("5.1.1", "5.1.10") and _OURS.search(diagnostic):
        return Blame(SENDER, status, False)
    if verdict.blame == RECIPIENT:
        return Blame(RECIPIENT, status or verdict.status, not gave_up and (parts[1] == "1" or verdict.no_such_user))
    if not status and not basic and _NO_DOMAIN.search(diagnostic):  # Exim's "unrouteable mail domain"
        return Blame(RECIPIENT, None, True)
    return Blame(verdict.blame if verdict.blame == SENDER else UNKNOWN, status or verdict.status, False)
