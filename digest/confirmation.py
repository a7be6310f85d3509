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
    """The double opt-in message, or for an active address a note with its preferences link."""
    base = settings.base_url
    context = {
        "email": subscriber.email,
        "confirm_url": f"{base}/confirm/{subs.make_confirm_token(secret, subscriber)}" if needs_confirmation else None,
        "preferences_url": None if needs_confirmation else
        f"{base}/preferences/{subs.make_token(secret, 'preferences', subscriber.id)}",
        "pending_days": settings.pending_days,
        "topics": list(subscriber.topics or []),
        "categories": list(subscriber.categories or []),
        "cadence": subscriber.cadence,
        "send_hour": subscriber.send_hour,
        "timezone": subscriber.timezone,
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


def send_confirmation(settings: Settings, recipient: str, data: bytes) -> None:
    """Hand the message to the relay (or outbox); a failure is logged, the page stays neutral."""
    sender = make_sender(settings)
    try:
        sender.send(settings.from_address.addr_spec, safe_address(recipient).addr_spec, data)
    except (DeliveryError, ValueError) as exc:
        log.error("confirmation to %s not sent: %s", recipient, exc)
    finally:
        sender.close()
