"""The mail an unsigned unsubscribe request gets back: a signed link that unsubscribes in one click; pure.

Anyone can put a reader's address in From, so a bare "unsubscribe" never
unsubscribes by itself: the reader (at the stored address, never at a
Reply-To) gets the link every digest carries, and replying to this message
works too (its subject carries the signed token).
"""

from __future__ import annotations

import datetime as dt
import html
from email.utils import format_datetime, make_msgid

from digest.email.message import format_address, header_value, mime_bytes, safe_address
from digest.tokens import make_token


def unsubscribe_request(settings, subscriber, now: dt.datetime) -> bytes:
    """Headers and a text + HTML body with the reader's one-click unsubscribe link."""
    token = make_token(settings.signing_key(), "unsubscribe", subscriber.id)
    url = f"{settings.base_url}/unsubscribe/{token}"
    text = (f"Someone, probably you, asked by mail to stop the paper digest for {subscriber.email}.\n\n"
            f"To unsubscribe, open this link and press the button:\n\n{url}\n\n"
            "Replying to this message unsubscribes you too. If you did not ask for this, ignore it:\n"
            "nothing changes.\n")
    body = (f"<p>Someone, probably you, asked by mail to stop the paper digest for {html.escape(subscriber.email)}."
            f"</p><p><a href=\"{html.escape(url)}\">Unsubscribe</a></p><p>Replying to this message unsubscribes you "
            "too. If you did not ask for this, ignore it: nothing changes.</p>")
    fields = [
        ("From", format_address(settings.from_address)),
        ("To", format_address(safe_address(subscriber.email))),
        ("Subject", header_value(f"Unsubscribe from the paper digest? (unsubscribe {token})")),
        ("Date", format_datetime(now)),
        ("Message-ID", make_msgid(domain=settings.from_address.domain)),
        ("Auto-Submitted", "auto-replied"),
    ]
    if settings.unsubscribe_mailto:
        fields.append(("Reply-To", settings.unsubscribe_mailto))
    return mime_bytes(fields, text, f"<!doctype html><html><body>{body}</body></html>")
