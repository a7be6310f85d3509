"""Sending the double opt-in mail (built by `digest.email.confirmation`) through the configured sender."""

from __future__ import annotations

import logging

from digest.config import Settings
from digest.delivery.senders import DeliveryError, make_sender
from digest.email.message import safe_address

log = logging.getLogger(__name__)


def deliver_confirmation(settings: Settings, recipient: str, data: bytes) -> None:
    """Hand the message to the configured sender (SMTP, else the outbox); DeliveryError or ValueError if it fails."""
    sender = make_sender(settings)
    try:
        sender.send(settings.from_address.addr_spec, safe_address(recipient).addr_spec, data)
    finally:
        sender.close()


def send_confirmation(settings: Settings, recipient: str, data: bytes) -> None:
    """Like `deliver_confirmation`, but a failure is only logged: the web page stays neutral."""
    try:
        deliver_confirmation(settings, recipient, data)
    except (DeliveryError, ValueError) as exc:
        log.error("confirmation to %s not sent: %s", recipient, exc)
