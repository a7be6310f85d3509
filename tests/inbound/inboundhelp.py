"""Messages that come back, made for the tests: a DSN about one digest, a complaint, a command."""

from __future__ import annotations

import datetime as dt

from digest.db import session_factory
from digest.models import Digest
from digest.subscriptions import subscribe, validate_preferences

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)


def sent_digest(url: str, email: str = "ada@example.org", day: int = 1) -> tuple[int, int]:
    """(subscriber id, digest id) of a digest sent to `email` on 2026-12-`day`."""
    with session_factory(url).begin() as session:
        from digest.subscriptions import get_subscriber

        subscriber = get_subscriber(session, email) or subscribe(
            session, email, validate_preferences(topics=["LLM quantization"]), NOW)[0]
        digest = Digest(subscriber_id=subscriber.id, edition_date=dt.date(2026, 12, day), state="sent",
                        created_at=NOW, updated_at=NOW, sent_at=NOW)
        session.add(digest)
        session.flush()
        digest.message_id = f"<digest.{digest.id}.2026-12-{day:02d}@digest.example.org>"
        return subscriber.id, digest.id


def dsn(recipient: str, status: str, diagnostic: str, message_id: str = "<dsn-1@mx.example.net>",
        original: str = "") -> bytes:
    return (f"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\nTo: digest@digest.example.org\r\n"
            f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: {message_id}\r\nAuto-Submitted: auto-replied\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
            "--B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not be "
            "delivered.\r\n\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n"
            f"\r\nFinal-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n"
            f"Diagnostic-Code: smtp; {diagnostic}\r\n\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
            f"From: digest@digest.example.org\r\nTo: {recipient}\r\n{original}\r\n--B--\r\n").encode()


def mail(sender: str, subject: str, body: str = "", message_id: str = "<m-1@example.org>", extra: str = "") -> bytes:
    return (f"From: {sender}\r\nTo: digest@digest.example.org\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n"
            f"{extra}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()
