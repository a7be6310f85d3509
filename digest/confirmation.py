"""The confirmation email of the double opt-in (templates/email/confirm/), built and sent.

The message is built with the stdlib and `email.headerregistry.Address`; the
subject loses control characters (header injection) and the HTML part is
autoescaped, so nothing a visitor typed reaches a header or markup raw.
"""

from __future__ import annotations

import datetime as dt
import logging
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, select_autoescape

from digest import subscriptions as subs
from digest.message import clean_header, safe_address
from digest.config import Settings
from digest.mail import DeliveryError, make_sender
from digest.resources import resource_dir

log = logging.getLogger(__name__)


def build_confirmation(settings: Settings, subscriber, secret: str, needs_confirmation: bool,
                       now: dt.datetime) -> bytes:
    """The double opt-in message, or for an active address a note with its preferences link.

    A confirmation shows exactly the settings its link confirms (the pending ones).
    """
    base = settings.base_url
    shown = subs.get_pending_preferences(subscriber) if needs_confirmation else subs.preferences_of(subscriber)
    context = {
        "email": subscriber.email,
        "confirm_url": f"{base}/confirm/{subs.make_confirm_token(secret, subscriber)}" if needs_confirmation else None,
        "preferences_url": None if needs_confirmation else
        f"{base}/preferences/{subs.make_token(secret, 'preferences', subscriber.id)}",
        "pending_days": settings.pending_days,
        "topics": shown.topics,
        "categories": shown.categories,
        "cadence": shown.cadence,
        "send_hour": shown.send_hour,
        "timezone": shown.timezone,
    }
    env = email_environment()
    msg = EmailMessage()
    msg["From"] = settings.from_address
    msg["To"] = safe_address(subscriber.email)
    msg["Subject"] = clean_header(env.get_template("subject.txt").render(context))
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain=settings.from_address.domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(env.get_template("body.txt").render(context))
    msg.add_alternative(env.get_template("body.html").render(context), subtype="html")
    return msg.as_bytes(policy=policy.SMTP)  # CRLF line ends: SMTP relays count lines by them


@lru_cache(maxsize=1)
def email_environment() -> Environment:
    """Jinja2 over templates/email/confirm/, HTML autoescaped, text not."""
    return Environment(loader=FileSystemLoader(str(resource_dir("templates") / "email" / "confirm")),
                       autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


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
