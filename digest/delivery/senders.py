"""Senders behind one small interface: SMTP relay, outbox folder, memory (tests), null (benchmarks).

A sender takes finished message bytes. It raises `TransientError` when trying
again later may work (4xx, dropped connection, timeout) and `PermanentError`
when it will not (5xx), carrying the relay's reply and who it blames
(`classify_reply`). `SenderUnavailable` means the sender cannot work at all
(an outbox folder that is not writable): nothing was handed over.

Here: the `Sender` interface, `MemorySender` and `make_sender`. The errors
live in `errors`, `SmtpSender` and its rate limiters in `smtp`, `OutboxSender`
in `outbox`; all are importable from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from digest.delivery.errors import DeliveryError, PermanentError, SenderUnavailable, TransientError
from digest.delivery.outbox import OutboxSender, outbox_stem, write_outbox_index
from digest.delivery.smtp import LocalRateLimiter, RateLimiter, RedisRateLimiter, SmtpSender, make_limiter
from digest.email.replies import (RECIPIENT, SENDER, TRANSIENT, UNKNOWN, ReplyClass,  # noqa: F401 (public here too)
                                  classify_reply, sender_problem)

__all__ = [
    "RECIPIENT", "SENDER", "TRANSIENT", "UNKNOWN", "DeliveryError", "LocalRateLimiter", "MemorySender", "NullSender",
    "OutboxSender", "PermanentError", "RateLimiter", "RedisRateLimiter", "ReplyClass", "Sender", "SenderUnavailable",
    "SmtpSender", "TransientError", "classify_reply", "make_limiter", "make_sender", "outbox_stem", "sender_problem",
    "write_outbox_index",
]


class Sender(Protocol):
    def check(self) -> None:
        """Raise SenderUnavailable if this sender cannot work at all; called before any row is claimed."""

    def send(self, sender: str, recipient: str, data: bytes) -> str:
        """Hand one message over; return the relay's reply (or where it went)."""

    def close(self) -> None: ...


@dataclass
class MemorySender:
    """Keeps messages in a list (tests, dry runs)."""

    sent: list[tuple[str, str, bytes]] = field(default_factory=list)

    def check(self) -> None:
        pass

    def send(self, sender: str, recipient: str, data: bytes) -> str:
        self.sent.append((sender, recipient, data))
        return "250 kept in memory"

    def close(self) -> None:
        pass


class NullSender:
    """Accepts every message and discards it (DIGEST_SENDER=null): the pipeline's cost without a relay's."""

    def check(self) -> None:
        pass

    def send(self, sender: str, recipient: str, data: bytes) -> str:
        return "250 discarded"

    def close(self) -> None:
        pass


def make_sender(settings) -> Sender:
    """The null sender when DIGEST_SENDER=null, SMTP when DIGEST_SMTP_URL is set, else the outbox folder."""
    if settings.sender == "null":
        return NullSender()
    if settings.smtp is not None:
        return SmtpSender(settings.smtp, limiter=make_limiter(settings))
    return OutboxSender(settings.outbox_dir)
