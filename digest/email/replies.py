"""Who an SMTP reply blames: pure, shared by the SMTP sender and the parser of returned mail (DSNs).

RFC 3463 enhanced status codes say whose problem a refusal is: X.1.x (address)
and X.2.x (mailbox) are the recipient's, X.3.x (mail system), X.4.x (routing),
X.6.x (content) and X.7.x (policy, spam, SPF/DKIM/DMARC) are the sender's. A
reader must never be suppressed for a refusal that is ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RECIPIENT, SENDER, TRANSIENT, UNKNOWN = "recipient", "sender", "transient", "unknown"
# Failures blamed on the reader in a row (refused at SMTP time or returned later) that suppress the address.
SUPPRESS_AFTER_FAILURES = 3


@dataclass(frozen=True)
class ReplyClass:
    """Who an SMTP reply blames: recipient | sender | transient | unknown (digests.failure_class)."""

    blame: str
    status: str | None = None  # the RFC 3463 enhanced code, e.g. "5.7.1", when the reply has one
    no_such_user: bool = False  # the mailbox does not exist: suppress the address at once


_REPLY = re.compile(r"^\s*(?:(\d{3})(?:[ -]+|$))?(?:([245]\.\d{1,3}\.\d{1,3})\b)?")
_NO_USER = re.compile(r"no such user|user unknown|unknown user|mailbox unavailable|does not exist", re.I)
_SUBJECT_BLAME = {"1": RECIPIENT, "2": RECIPIENT, "3": SENDER, "4": SENDER, "6": SENDER, "7": SENDER}
_NO_SUCH_USER = ("5.1.1", "5.1.10")
# Replies without a telling enhanced code: 55x to a recipient is about that mailbox by long
# convention (550 unavailable, 551 not local, 552 over quota, 553 bad name; 521/556 the domain
# takes no mail), 500-504 are our protocol errors; anything else (a bare 554) blames no one.
_BASIC_BLAME = {**dict.fromkeys((521, 550, 551, 552, 553, 556), RECIPIENT),
                **dict.fromkeys((500, 501, 502, 503, 504), SENDER)}


def classify_reply(code: int | None, message: str) -> ReplyClass:
    """Blame for a non-2xx reply, by its RFC 3463 enhanced code, else its basic code and wording.

    5.1.x (address) and 5.2.x (mailbox: full, disabled) count against the
    subscriber, 5.1.1/5.1.10 suppress at once; 5.3.x (mail system), 5.4.x
    (routing), 5.6.x (content) and 5.7.x (policy, spam, SPF/DKIM/DMARC) are the
    sender's; 4xx is transient. `message` may start with the code itself.
    """
    basic, status = _REPLY.match(message or "").groups()
    if code is None and basic:
        code = int(basic)
    permanent = code // 100 == 5 if code is not None else bool(status and status[0] == "5")
    if not permanent:
        return ReplyClass(TRANSIENT if code is not None or status else UNKNOWN, status)
    subject = status.split(".")[1] if status else None
    if subject in _SUBJECT_BLAME:
        return ReplyClass(_SUBJECT_BLAME[subject], status, status in _NO_SUCH_USER)
    if _NO_USER.search(message or ""):  # 5.0.0, 5.5.x or no enhanced code: the wording decides
        return ReplyClass(RECIPIENT, status, no_such_user=True)
    return ReplyClass(_BASIC_BLAME.get(code, UNKNOWN), status)


def sender_problem(status: str | None) -> tuple[str, str]:
    """How a refusal blamed on us reads (`as policy/spam (5.7.1)`) and what to check."""
    shown = f" ({status})" if status else ""
    if status is None:
        return f"for a reason it did not say{shown}", "check the relay's logs"
    subject, detail = status.split(".")[1:]
    if subject == "7" and 20 <= int(detail) <= 29:
        return (f"as failing sender authentication{shown}",
                "check SPF, DKIM (DIGEST_DKIM_*) and DMARC for the From domain")
    if subject == "7":
        return f"as policy/spam{shown}", "check SPF/DKIM/DMARC and the relay's reputation"
    if status.endswith(".3.4"):
        return f"as too large{shown}", "check the relay's message size limit"
    if subject == "4":
        return f"for a network or routing problem{shown}", "check the relay's DNS and routing"
    if subject == "6":
        return f"for its content{shown}", "check the relay's content filters"
    return f"for a mail system problem{shown}", "check the relay's configuration"
