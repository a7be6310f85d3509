"""The confirmation email of the double opt-in (templates/email/confirm/); `digest.delivery.confirmations` sends it.

It shares the digest's page and stylesheet (templates/email/base.html, style.css):
light and dark, narrow screens; the CSS is inlined per message (sign-ups are few).

Headers are written from validated parts (`message.mime_bytes` refuses any
value with a line break), the subject loses control characters and the HTML
part is autoescaped, so nothing a visitor typed reaches a header or markup raw.
"""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime, make_msgid

from digest.config import Settings
from digest.email.markup import css, environment, inline_css
from digest.email.message import format_address, header_value, mime_bytes, safe_address
from digest.preferences import get_pending_preferences, preferences_of
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
    env = environment()
    # Every header is built from validated parts and written directly (no
    # re-parsing by the `email` package, which would decode encoded words).
    fields = [
        ("From", format_address(settings.from_address)),
        ("To", format_address(safe_address(subscriber.email))),
        ("Subject", header_value(env.get_template("email/confirm/subject.txt").render(context))),
        ("Date", format_datetime(now)),
        ("Message-ID", make_msgid(domain=settings.from_address.domain)),
        ("Auto-Submitted", "auto-generated"),
    ]
    html = inline_css(env.get_template("email/confirm/body.html").render(context, css=css()))
    return mime_bytes(fields, env.get_template("email/confirm/body.txt").render(context), html)  # CRLF line ends
