"""Batches (an IMAP pass, LMTP deliveries that arrive together): one transaction, the same result as one at a time."""

from __future__ import annotations

import re

from sqlalchemy import event, insert, select

from digest.config import load_settings
from digest.db import get_engine, session_factory
from digest.inbound.handler import Arrived, handle, handle_many
from digest.inbound.verp import return_path
from digest.models import InboundMessage, Subscriber
from helpers import free_port, make_env
from inboundhelp import NOW, dsn, mail, sent_digest


def _script(settings, who: str) -> list[Arrived]:
    """Returned mail about four readers `<who>-0..3@example.org`, in an order that makes earlier messages count."""
    url, key = settings.database_url, settings.signing_key()
    ids = {(n, day): sent_digest(url, f"{who}-{n}@example.org", day)[1] for n in range(4) for day in (1, 2, 3)}
    verp = {at: return_path(key, did, "bounces.example.org") for at, did in ids.items()}

    def soft(n, day, tag):
        return Arrived(dsn(f"{who}-{n}@example.org", "5.2.2", "552 5.2.2 mailbox full", f"<{who}-{tag}@mx>"),
                       verp[n, day])

    hard = Arrived(dsn(f"{who}-1@example.org", "5.1.1", "550 5.1.1 user unknown", f"<{who}-hard@mx>"), verp[1, 3])
    unsigned = dsn(f"{who}-3@example.org", "5.1.1", "550 5.1.1 user unknown", f"<{who}-unsigned@mx>",
                   original=f"Message-ID: <digest.{ids[3, 3]}.2026-12-03@digest.example.org>\r\n")
    return [
        soft(0, 3, "s3"), soft(0, 3, "s3-again"), soft(0, 2, "s2"), hard, soft(1, 2, "after-hard"),
        Arrived(dsn(f"{who}-2@example.org", "5.7.1", "550 5.7.1 rejected by DMARC policy", f"<{who}-dmarc@mx>"),
                verp[2, 3]),
        soft(0, 1, "s1"),  # the third digest in a row for reader 0: suppressed
        soft(0, 3, "s3"),  # the same message again, in the same batch
        Arrived(unsigned, "digest@digest.example.org"),
        Arrived(dsn(f"{who}-2@example.org", "5.1.1", "550 5.1.1 user unknown", f"<{who}-forged@mx>"),
                f"bounces+{ids[2, 3]}.000000000000@bounces.example.org"),
        Arrived(mail(f"{who}-2@example.org", "Re: your digest", "thanks", f"<{who}-reply@x>"),
                "digest@digest.example.org"),
    ]


def _seen(settings, done, who: str):
    with session_factory(settings.database_url)() as session:
        readers = session.execute(select(Subscriber.email, Subscriber.status, Subscriber.permanent_failures)
                                  .where(Subscriber.email.like(f"{who}-%")).order_by(Subscriber.email)).all()
    outcomes = [(d.kind, d.duplicate, re.sub(r"bounces\+\d+\.[0-9a-f]+", "bounces+N", d.outcome.replace(who, "R")))
                for d in done]
    return outcomes, [(email.replace(who, "R"), status, failures) for email, status, failures in readers]


def test_a_batch_does_exactly_what_the_same_messages_do_one_at_a_time(settings):
    alone = [handle(settings, session_factory(settings.database_url), a.raw, a.rcpt, "imap", NOW)
             for a in _script(settings, "alone")]
    batch = handle_many(settings, session_factory(settings.database_url), _script(settings, "batch"), "imap", NOW)
    assert _seen(settings, batch, "batch") == _seen(settings, alone, "alone")
    outcomes, readers = _seen(settings, batch, "batch")
    assert [kind for kind, _, _ in outcomes] == ["bounce", "bounce", "bounce", "bounce", "bounce", "bounce",
                                                 "bounce", "duplicate", "bounce", "refused", "reply"]
    assert readers == [("R-0@example.org", "bounced", 3), ("R-1@example.org", "bounced", 0),
                       ("R-2@example.org", "active", 0), ("R-3@example.org", "active", 1)]


def test_a_batch_reads_the_database_in_a_fixed_number_of_queries(settings):
    key, url = settings.signing_key(), settings.database_url
    batch = []
    for n in range(10):
        for day in (1, 2, 3):
            _, did = sent_digest(url, f"r{n}@example.org", day)
            batch.append(Arrived(dsn(f"r{n}@example.org", "4.2.2", "452 4.2.2 over quota", f"<q{n}.{day}@mx>"),
                                 return_path(key, did, "bounces.example.org")))
    statements = []
    engine = get_engine(url)
    listen = lambda *args: statements.append(args[2].split()[0].upper())  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    try:
        done = handle_many(settings, session_factory(url), batch[::-1], "imap", NOW)
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert [d.kind for d in done] == ["bounce"] * 30
    # Recorded-already pairs, the digests with their readers, their latest digests, which came back:
    # four reads for thirty messages (one at a time it was five each).
    assert statements.count("SELECT") == 4, statements
    with session_factory(url)() as session:
        assert set(session.scalars(select(Subscriber.status))) == {"bounced"}


def test_a_batch_against_a_database_that_is_away_takes_none_of_its_messages(tmp_path):
    settings = load_settings(make_env(tmp_path, f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"),
                             read_dotenv=False)
    batch = [Arrived(mail("carol@example.org", "Re: hi", "x", f"<{n}@x>"), "digest@digest.example.org")
             for n in range(3)]
    done = handle_many(settings, session_factory(settings.database_url), batch, "lmtp", NOW)
    assert len(done) == 3 and all(isinstance(d, Exception) for d in done), done


def test_a_message_recorded_elsewhere_meanwhile_is_a_duplicate_and_holds_back_none_of_the_rest(settings):
    """Another process records one message of the batch after the batch looked: the commit fails, each goes alone."""
    batch = [Arrived(mail(f"p{n}@example.org", "Re: hi", "x", f"<o{n}@x>"), "digest@digest.example.org")
             for n in range(5)]
    engine, meanwhile = get_engine(settings.database_url), []

    def record_elsewhere(conn, cursor, statement, *args):
        if not meanwhile and "FROM inbound_messages" in statement:
            meanwhile.append(statement)
            with engine.begin() as other:  # a second connection: another process
                other.execute(insert(InboundMessage).values(
                    message_id="<o2@x>", rcpt="digest@digest.example.org", via="imap", received_at=NOW,
                    kind="reply", sender="p2@example.org", subject="Re: hi", outcome="kept", size=1))

    event.listen(engine, "after_cursor_execute", record_elsewhere)
    try:
        done = handle_many(settings, session_factory(settings.database_url), batch, "lmtp", NOW)
    finally:
        event.remove(engine, "after_cursor_execute", record_elsewhere)
    assert meanwhile
    assert [(d.kind, d.duplicate) for d in done] == [("reply", False)] * 2 + [("duplicate", True)] + \
        [("reply", False)] * 2
    with session_factory(settings.database_url)() as session:
        assert session.scalars(select(InboundMessage.via).order_by(InboundMessage.message_id)).all() == \
            ["lmtp", "lmtp", "imap", "lmtp", "lmtp"]
