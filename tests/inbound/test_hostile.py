"""Hostile mail: each is refused or handled with one log line, no crash, and nothing is lost."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from digest.db import session_factory
from digest.inbound.handler import handle
from digest.inbound.mime import MAX_DEPTH, Refused, read_mail
from digest.models import InboundMessage


def _bomb(depth: int) -> bytes:
    return b"From: x@example.org\r\nMessage-ID: <bomb%d@x>\r\n" % depth + b"Content-Type: message/rfc822\r\n\r\n" * depth + \
        b"Subject: inside\r\n\r\nhello\r\n"


@pytest.mark.parametrize("raw, why", [
    (_bomb(5000), "malformed MIME"),
    (_bomb(MAX_DEPTH + 2), "nested"),
    (b"From: x@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n\r\nx\r\n" * 1000, "parts"),
])
def test_bombs_are_refused_with_a_reason(raw, why):
    with pytest.raises(Refused, match=why):
        read_mail(raw, 10 * 1024 * 1024)


def test_non_utf8_bodies_and_headers_are_read_not_crashed_on():
    raw = (b"From: =?x-unknown?q?J=F6rg?= <j\xf6rg@example.org>\r\nSubject: subscribe \xff\xfe\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\nMessage-ID: <nonutf@x>\r\n\r\nLLM \xe9t\xe9\r\n\xc3\x28\r\n")
    mail = read_mail(raw, 1 << 20)
    assert mail.subject.startswith("subscribe")


def test_every_hostile_message_is_recorded_once_with_one_log_line(settings, caplog):
    factory = session_factory(settings.database_url)
    huge = b"From: big@example.org\r\nMessage-ID: <big@x>\r\n\r\n" + b"x" * (settings.inbound_max_bytes + 10)
    messages = [_bomb(5000), _bomb(MAX_DEPTH + 2), b"\x00\xff garbage without headers", huge,
                b"From: a@example.org\r\nContent-Type: multipart/mixed\r\n\r\nno boundary at all\r\n"]
    with caplog.at_level(logging.INFO, logger="digest.inbound"):
        kinds = [handle(settings, factory, raw[:300_000], "", "pipe", size=len(raw)).kind for raw in messages]
    assert kinds[:2] == ["refused", "refused"] and kinds[3] == "refused"
    assert len([r for r in caplog.records if r.name == "digest.inbound"]) == len(messages)
    with factory() as session:
        rows = session.execute(select(InboundMessage.kind, InboundMessage.raw, InboundMessage.outcome,
                                      InboundMessage.size).order_by(InboundMessage.id)).all()
    assert len(rows) == len(messages) and all(raw or kind not in ("refused", "reply") for kind, raw, _, _ in rows)
    assert "too large" in rows[3].outcome and rows[3].size == len(huge)
