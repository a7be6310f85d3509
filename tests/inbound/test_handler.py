"""The one handler against SQLite and PostgreSQL: what each kind of returned mail does, once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from digest.db import session_factory
from digest.inbound.handler import handle
from digest.inbound.verp import return_path
from digest.models import InboundMessage, Subscriber
from digest.tokens import make_token
from inboundhelp import NOW, dsn, mail, sent_digest


def _status(url, subscriber_id):
    with session_factory(url)() as session:
        row = session.get(Subscriber, subscriber_id)
        return row.status, row.permanent_failures


def _run(settings, raw, rcpt="", at=NOW):
    return handle(settings, session_factory(settings.database_url), raw, rcpt, "pipe", now=at)


def test_a_hard_bounce_to_the_signed_return_path_suppresses_at_once_and_only_once(settings):
    sid, did = sent_digest(settings.database_url)
    rcpt = return_path(settings.signing_key(), did, "bounces.example.org")
    raw = dsn("ada@example.org", "5.1.1", "550 5.1.1 <ada@example.org>: user unknown")
    assert _run(settings, raw, rcpt).kind == "bounce"
    assert _status(settings.database_url, sid)[0] == "bounced"
    again = _run(settings, raw, rcpt)
    assert again.duplicate
    with session_factory(settings.database_url)() as session:
        assert session.scalar(select(InboundMessage.digest_id)) == did


def test_a_forged_return_path_is_refused_and_kept(settings):
    sid, did = sent_digest(settings.database_url)
    raw = dsn("ada@example.org", "5.1.1", "550 5.1.1 user unknown")
    done = _run(settings, raw, f"bounces+{did}.000000000000@bounces.example.org")
    assert done.kind == "refused" and "forged" in done.outcome
    assert _status(settings.database_url, sid)[0] == "active"
    with session_factory(settings.database_url)() as session:
        assert session.scalar(select(InboundMessage.raw)) == raw


def test_policy_bounce_does_not_blame_the_reader(settings):
    sid, did = sent_digest(settings.database_url)
    rcpt = return_path(settings.signing_key(), did, "bounces.example.org")
    done = _run(settings, dsn("ada@example.org", "5.7.1", "550 5.7.1 rejected by DMARC policy"), rcpt)
    assert "sender problem" in done.outcome
    assert _status(settings.database_url, sid) == ("active", 0)


def test_soft_bounces_of_three_digests_in_a_row_suppress(settings):
    url = settings.database_url
    for day in (1, 2, 3):
        sid, did = sent_digest(url, day=day)
        rcpt = return_path(settings.signing_key(), did, "bounces.example.org")
        raw = dsn("ada@example.org", "4.2.2", "452 4.2.2 mailbox full", message_id=f"<soft-{day}@mx>")
        _run(settings, raw, rcpt)
        # the same digest bouncing twice (two reports) counts once
        _run(settings, dsn("ada@example.org", "5.2.2", "552 5.2.2 over quota", message_id=f"<again-{day}@mx>"), rcpt)
        assert _status(url, sid) == (("bounced", 3) if day == 3 else ("active", day))


def test_a_bounce_without_our_signature_counts_but_never_suppresses_at_once(settings):
    sid, did = sent_digest(settings.database_url)
    original = f"Message-ID: <digest.{did}.2026-12-01@digest.example.org>\r\n"
    done = _run(settings, dsn("ada@example.org", "5.1.1", "550 5.1.1 user unknown", original=original),
                "digest@digest.example.org")
    assert "unsigned report" in done.outcome
    assert _status(settings.database_url, sid) == ("active", 1)


def test_the_unsubscribe_token_in_a_returned_message_signs_it(settings):
    sid, _ = sent_digest(settings.database_url)
    token = make_token(settings.signing_key(), "unsubscribe", sid)
    original = f"List-Unsubscribe: <https://digest.example.org/unsubscribe/{token}>\r\n"
    _run(settings, dsn("ada@example.org", "5.1.1", "550 5.1.1 user unknown", original=original), "digest@x.org")
    assert _status(settings.database_url, sid)[0] == "bounced"


def test_a_signed_complaint_unsubscribes_at_once_and_status_counts_it(settings):
    from digest.status import get_status

    sid, did = sent_digest(settings.database_url)
    verp = return_path(settings.signing_key(), did, "bounces.example.org")
    raw = ("From: staff@fbl.example.net\r\nTo: fbl@digest.example.org\r\nSubject: complaint\r\nMessage-ID: <arf@x>\r\n"
           "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"B\"\r\n\r\n"
           "--B\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report.\r\n--B\r\n"
           "Content-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: x/1\r\nVersion: 1\r\n"
           f"Original-Mail-From: <{verp}>\r\nOriginal-Rcpt-To: <ada@example.org>\r\n\r\n--B\r\n"
           "Content-Type: text/rfc822-headers\r\n\r\nFrom: digest@digest.example.org\r\nTo: ada@example.org\r\n\r\n--B--\r\n")
    assert _run(settings, raw.encode(), "fbl@digest.example.org").kind == "complaint"
    assert _status(settings.database_url, sid)[0] == "complained"
    with session_factory(settings.database_url)() as session:
        lines = get_status(session, NOW).returned
    assert any("1 complaint" in line for line in lines) and any("complaints: 1 reader" in line for line in lines)


def test_signed_unsubscribe_by_mail_works_from_any_address_and_a_bare_one_only_mails_a_link(settings):
    sid, _ = sent_digest(settings.database_url)
    token = make_token(settings.signing_key(), "unsubscribe", sid)
    bare = _run(settings, mail("ada@example.org", "unsubscribe", message_id="<u1@x>"))
    assert "mailed" in bare.outcome and _status(settings.database_url, sid)[0] == "active"
    outbox = list((settings.outbox_dir).rglob("*.eml"))
    assert len(outbox) == 1 and token.encode() in outbox[0].read_bytes()
    forged = _run(settings, mail("mallory@example.net", "unsubscribe", message_id="<u2@x>"))
    assert "not an active subscriber" in forged.outcome
    done = _run(settings, mail("someone@example.net", f"unsubscribe {token}", message_id="<u3@x>"))
    assert "unsubscribed" in done.outcome and _status(settings.database_url, sid)[0] == "unsubscribed"


def test_subscribe_by_mail_asks_for_confirmation_with_its_topics_and_is_rate_limited(settings):
    for n in range(4):
        done = _run(settings, mail("bob@example.org", "subscribe", "LLM quantization\r\npruning\r\n\r\n-- \r\nBob",
                                   message_id=f"<s{n}@x>"))
        assert ("rate-limited" in done.outcome) == (n == 3), done
    with session_factory(settings.database_url)() as session:
        bob = session.scalar(select(Subscriber).where(Subscriber.email_key == "bob@example.org"))
        assert bob.status == "pending" and bob.pending_prefs["topics"] == ["LLM quantization", "pruning"]
    assert len(list(settings.outbox_dir.rglob("*.eml"))) == 3
    later = _run(settings, mail("bob@example.org", "subscribe", message_id="<s9@x>"), at=NOW + dt.timedelta(hours=2))
    assert "rate-limited" not in later.outcome


def test_replies_and_auto_replies_are_kept_and_never_answered(settings):
    reply = _run(settings, mail("carol@example.org", "Re: your digest", "Thanks, great papers!"))
    auto = _run(settings, mail("dan@example.org", "Out of office", "Back Monday", "<a@x>",
                               "Auto-Submitted: auto-replied\r\n"))
    sub = _run(settings, mail("eve@example.org", "subscribe", "", "<b@x>", "Auto-Submitted: auto-replied\r\n"))
    assert (reply.kind, auto.kind, sub.kind) == ("reply", "autoreply", "autoreply")
    assert not list(settings.outbox_dir.rglob("*.eml"))
    with session_factory(settings.database_url)() as session:
        kept = session.scalar(select(InboundMessage).where(InboundMessage.kind == "reply"))
        assert b"great papers" in kept.raw
