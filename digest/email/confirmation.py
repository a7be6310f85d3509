"""The confirmation email of the double opt-in (templates/email/confirm/); `digest.delivery.confirmations` sends it.

Headers are written from validated parts (`message.mime_bytes` refuses any
value with a line break), the subject loses control characters and the HTML
part is autoescaped, so nothing a visitor typed reaches a header or markup raw.
"""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime, make_msgid
from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, select_autoescape

from digest.email.message import format_address, header_value, mime_bytes, safe_address
from digest.config import Settings
from digest.preferences import get_pending_preferences, preferences_of
from digest.resources import resource_dir
from digest.tokens import make_confirm_token, make_token


def build_confirmation(settings: Settings, subscriber, secret: str, needs_confirmation: bool,
                       now: dt.datetime) -> bytes:
    """The double opt-in message, or for an active address a note with its preferences link.

    A confirmation shows exactly the settings its link confirms (the pending ones).
    """
    base = settings.base_url
    shown = get_pending_preferences(subscriber) if needs_confirmation else preferences_of(subscriber)
    context = {
        "email": subscriber.email,
        "confirm_url": f"{base}/confirm/{make_confirm_token(secret, subscriber)}" if needs_confirmation else None,
        "preferences_url": None if needs_confirmation else
        f"{base}/preferences/{make_token(secret, 'preferences', subscriber.id)}",
        "pending_days": settings.pending_days,
        "topics": shown.topics,
        "categories": shown.categories,
        "cadence": shown.cadence,
        "send_hour": shown.send_hour,
        "timezone": shown.timezone,
    }
    env = email_environment()
    # Every header is built from validated parts and written directly (no
    # re-parsing by the `email` package, which would decode encoded words).
    fields = [
        ("From", format_address(settings.from_address)),
        ("To", format_address(safe_address(subscriber.email))),
        ("Subject", header_value(env.get_template("subject.txt").render(context))),
        ("Date", format_datetime(now)),
        ("Message-ID", make_msgid(domain=settings.from_address.domain)),
        ("Auto-Submitted", "auto-generated"),
    ]
    return mime_bytes(fields, env.get_template("body.txt").render(context),
                      env.get_template("body.html").render(context))  # CRLF line ends throughout


@lru_cache(maxsize=1)
def email_environment() -> Environment:
    """Jinja2 over templates/email/confirm/, HTML autoescaped, text not."""
    return Environment(loader=FileSystemLoader(str(resource_dir("templates") / "email" / "confirm")),
                       autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


