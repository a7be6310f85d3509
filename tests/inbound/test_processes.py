"""The listener and the IMAP poller as real processes: `digest inbound --listen` (the Procfile's line) and
`digest inbound --imap` against a real Dovecot started here. Both fail, never skip, without their server."""

from __future__ import annotations

import imaplib
import os
import re
import smtplib
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import select, text

from digest.db import ensure_schema, session_factory
from digest.models import InboundMessage, Subscriber
from helpers import ROOT, free_port, make_env
from imapserver import dovecot_server
from inboundhelp import dsn, mail, sent_digest
from procs import Proc, wait_until

pytestmark = pytest.mark.slow
DIGEST = str(Path(sys.executable).with_name("digest"))


@pytest.fixture
def pg_url(pg_database_url):
    from helpers import _truncate

    ensure_schema(pg_database_url)
    yield pg_database_url
    _truncate(pg_database_url)


def _rows(url):
    with session_factory(url)() as session:
        return session.execute(select(InboundMessage.kind, InboundMessage.via, InboundMessage.rcpt)
                               .order_by(InboundMessage.id)).all()


def test_the_procfile_inbound_process_takes_lmtp_and_answers_after_the_commit(tmp_path, pg_url):
    port = free_port()
    env = make_env(tmp_path, pg_url, DIGEST_INBOUND_LISTEN=f"127.0.0.1:{port}",
                   PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    line = next(l for l in (ROOT / "Procfile").read_text().splitlines() if l.startswith("inbound:"))
    proc = Proc(["sh", "-c", "exec " + line.split(":", 1)[1].strip()], env, tmp_path / "inbound.log")
    try:
        wait_until(lambda: "listening" in proc.output(), 30, what="the listener")
        sid, did = sent_digest(pg_url)
        from digest.config import load_settings
        from digest.inbound.verp import return_path

        verp = return_path(load_settings(env, read_dotenv=False).signing_key(), did, "bounces.example.org")
        with smtplib.LMTP("127.0.0.1", port) as lmtp:
            lmtp.ehlo_or_helo_if_needed = lambda: lmtp.ehlo("test") if False else None
            lmtp.docmd("LHLO", "test")
            lmtp.docmd("MAIL FROM:<>")
            assert lmtp.docmd(f"RCPT TO:<{verp}>")[0] == 250
            assert lmtp.docmd("RCPT TO:<digest@digest.example.org>")[0] == 250
            raw = dsn("ada@example.org", "5.1.1", "550 5.1.1 user unknown")
            assert lmtp.docmd("DATA")[0] == 354
            lmtp.send(raw.replace(b"\r\n.", b"\r\n..") + b".\r\n")
            replies = [lmtp.getreply(), lmtp.getreply()]  # LMTP: one reply per recipient
        assert [code for code, _ in replies] == [250, 250], replies
        assert sorted(_rows(pg_url)) == sorted([("bounce", "lmtp", verp), ("bounce", "lmtp", "digest@digest.example.org")])
        with session_factory(pg_url)() as session:
            assert session.get(Subscriber, sid).status == "bounced"
        with smtplib.SMTP("127.0.0.1", port) as wrong:  # an LMTP listener refuses EHLO: one clear reply
            assert wrong.ehlo()[0] == 500
    finally:
        proc.stop()
    assert "Traceback" not in (tmp_path / "inbound.log").read_text()


def _transactions(url) -> int:
    """How many PostgreSQL transactions wrote the recorded messages (rows of one transaction share xmin)."""
    with session_factory(url)() as session:
        return session.scalar(text("SELECT count(DISTINCT xmin::text) FROM inbound_messages"))


def _deliver_at_once(port: int, connections: int, each: int) -> list[int]:
    """`connections` LMTP sessions at once, each delivering `each` replies one after another; the reply codes."""
    start, codes = threading.Barrier(connections), []

    def deliver(n):
        with smtplib.LMTP("127.0.0.1", port) as lmtp:
            lmtp.docmd("LHLO", "test")
            start.wait(30)
            for i in range(each):
                lmtp.docmd("MAIL FROM:<>")
                lmtp.docmd("RCPT TO:<digest@digest.example.org>")
                lmtp.docmd("DATA")
                lmtp.send(mail(f"p{n}@example.org", "Re: hi", "x", f"<c{n}.{i}@x>") + b".\r\n")
                codes.append(lmtp.getreply()[0])

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return codes


def test_the_listener_commits_messages_that_arrive_together_in_one_transaction(tmp_path, pg_url):
    port = free_port()
    proc = Proc([DIGEST, "inbound", "--listen", f"127.0.0.1:{port}"], make_env(tmp_path, pg_url),
                tmp_path / "lmtp.log")
    try:
        wait_until(lambda: "listening" in proc.output(), 30, what="the listener")
        codes = _deliver_at_once(port, connections=8, each=3)
    finally:
        proc.stop()
    assert codes == [250] * 24
    assert len(_rows(pg_url)) == 24
    assert _transactions(pg_url) < 24  # eight connections at once: grouped, not one transaction each


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[1] == str(pid):
                found.append(int(stat.parent.name))
        except OSError:
            continue
    return found


def test_listener_processes_share_one_port_and_stop_together(tmp_path, pg_url):
    """--processes 2: a forked copy accepts on the same socket; SIGTERM to the first process stops both."""
    port = free_port()
    proc = Proc([DIGEST, "inbound", "--listen", f"127.0.0.1:{port}", "--processes", "2"], make_env(tmp_path, pg_url),
                tmp_path / "lmtp.log")
    try:
        wait_until(lambda: "listening" in proc.output(), 30, what="the listener")
        assert "(2 processes)" in proc.output()
        children = _children(proc.popen.pid)
        assert len(children) == 1, children
        codes = _deliver_at_once(port, connections=8, each=3)
        proc.popen.send_signal(15)  # the first process only, as a process manager does
        assert proc.popen.wait(20) == 0
        assert not Path(f"/proc/{children[0]}").exists()
    finally:
        proc.stop()
    assert codes == [250] * 24
    assert len(_rows(pg_url)) == 24
    assert "Traceback" not in (tmp_path / "lmtp.log").read_text()


def test_the_smtp_listener_refuses_a_message_over_the_cap_and_takes_one_recipient_at_a_time(tmp_path, pg_url):
    port = free_port()
    env = make_env(tmp_path, pg_url, DIGEST_INBOUND_MAX_BYTES=65536)
    proc = Proc([DIGEST, "inbound", "--listen", f"127.0.0.1:{port}", "--smtp"], env, tmp_path / "smtp.log")
    try:
        wait_until(lambda: "listening" in proc.output(), 30, what="the listener")
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.ehlo()
            smtp.mail("carol@example.org")
            assert smtp.rcpt("digest@digest.example.org")[0] == 250
            assert smtp.rcpt("other@digest.example.org")[0] == 452
            assert smtp.data(mail("carol@example.org", "Re: thanks", "nice"))[0] == 250
            smtp.mail("big@example.org")
            smtp.rcpt("digest@digest.example.org")
            assert smtp.data(mail("big@example.org", "big", ("x" * 70 + "\r\n") * 1000))[0] == 552
        assert _rows(pg_url) == [("reply", "smtp", "digest@digest.example.org")]
    finally:
        proc.stop()


@pytest.fixture
def dovecot():
    with dovecot_server() as port:
        yield port


def test_the_imap_poller_handles_each_message_once_and_moves_it(tmp_path, pg_url, dovecot):
    sid, did = sent_digest(pg_url)
    box = imaplib.IMAP4("127.0.0.1", dovecot)
    box.login("digest", "secret")
    token_free = [dsn("ada@example.org", "5.1.1", "550 5.1.1 user unknown",
                      original=f"Message-ID: <digest.{did}.2026-12-01@digest.example.org>\r\n"),
                  mail("carol@example.org", "Re: thanks", "Great digest"),
                  b"From: big@example.org\r\nMessage-ID: <big@x>\r\n\r\n" + b"y" * 70000 + b"\r\n"]
    for raw in token_free:
        assert box.append("INBOX", None, None, raw)[0] == "OK"
    url = f"imap://digest:secret@127.0.0.1:{dovecot}/INBOX?tls=none"
    env = make_env(tmp_path, pg_url, DIGEST_INBOUND_MAX_BYTES=65536)
    once = subprocess.run([DIGEST, "inbound", "--imap", url, "--once"], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60)
    assert once.returncode == 0, once.stderr
    assert re.search(r"1 bounce, 1 refused, 1 reply", once.stdout), once.stdout
    assert _transactions(pg_url) == 1  # one pass of three messages: one transaction
    box.select("INBOX")
    assert box.search(None, "ALL")[1] == [b""]
    box.select("digest-done")
    assert len(box.search(None, "SEEN")[1][0].split()) == 2
    box.select("digest-refused")
    assert len(box.search(None, "ALL")[1][0].split()) == 1  # kept whole for the operator
    # The same message again (a crash before the move): recorded once, moved again.
    box.append("INBOX", None, None, token_free[1])
    poller = Proc([DIGEST, "inbound", "--imap", url, "--interval", "1"], env, tmp_path / "poll.log")
    try:
        wait_until(lambda: box.select("INBOX") and box.search(None, "ALL")[1] == [b""], 30, what="moved again")
    finally:
        poller.stop()
    assert [k for k, _, _ in _rows(pg_url)] == ["bounce", "reply", "refused"]
    with session_factory(pg_url)() as session:
        assert session.get(Subscriber, sid).permanent_failures == 1  # unsigned: counted, not suppressed
    box.logout()
