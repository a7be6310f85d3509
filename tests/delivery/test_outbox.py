"""The outbox folder: one file per message, never overwritten; an index that survives any file."""

from __future__ import annotations

from helpers import make_env
from digest import jobs
from digest.delivery import senders as mail
from digest.config import load_settings
from test_injection import NOW, seeded_with_hostile_rows


def message(to: str, subject: str = "hello", edition: str = "2026-11-28") -> bytes:
    return (f"To: {to}\r\nSubject: {subject}\r\nX-Digest-Edition: {edition}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain\r\n\r\nbody\r\n").encode()


def test_addresses_that_look_alike_as_file_names_get_two_files(tmp_path):
    outbox = mail.OutboxSender(tmp_path / "outbox")
    outbox.send("digest@example.org", "x/y@example.org", message("x/y@example.org", "first"))
    outbox.send("digest@example.org", "x_y@example.org", message("x_y@example.org", "second"))
    outbox.close()
    files = sorted((tmp_path / "outbox" / "2026-11-28").glob("*.eml"))
    assert len(files) == 2
    assert {f.read_bytes() for f in files} == {message("x/y@example.org", "first"),
                                              message("x_y@example.org", "second")}
    assert all(f.name.startswith(("x_y@example.org-")) for f in files)


def test_addresses_that_differ_only_in_case_get_two_files(tmp_path):
    outbox = mail.OutboxSender(tmp_path / "outbox")
    outbox.send("digest@example.org", "Ada@example.org", message("Ada@example.org", "first"))
    outbox.send("digest@example.org", "ada@example.org", message("ada@example.org", "second"))
    assert len({p.name.lower() for p in outbox.written}) == 2


def test_a_second_message_to_one_address_never_overwrites_the_first(tmp_path):
    outbox = mail.OutboxSender(tmp_path / "outbox")
    first, second = message("ada@example.org", "first"), message("ada@example.org", "second")
    outbox.send("digest@example.org", "ada@example.org", first)
    outbox.send("digest@example.org", "ada@example.org", second)
    paths = list(outbox.written)
    outbox.close()
    assert sorted(p.read_bytes() for p in paths) == sorted([first, second])
    assert not list((tmp_path / "outbox" / "2026-11-28").glob(".tmp-*"))  # no temporary file left behind
    assert "2 messages" in (tmp_path / "outbox" / "index.html").read_text()


def test_a_file_already_in_the_outbox_is_never_replaced(tmp_path):
    folder = tmp_path / "outbox" / "2026-11-28"
    folder.mkdir(parents=True)
    stem = mail.outbox_stem("ada@example.org")
    (folder / f"{stem}.eml").write_bytes(b"kept")
    outbox = mail.OutboxSender(tmp_path / "outbox")
    outbox.send("digest@example.org", "ada@example.org", message("ada@example.org"))
    assert (folder / f"{stem}.eml").read_bytes() == b"kept"
    assert outbox.written == [folder / f"{stem}-2.eml"]


def test_stored_hostile_addresses_never_break_the_outbox_or_its_index(tmp_path, sqlite_url):
    settings = load_settings(make_env(tmp_path, sqlite_url), read_dotenv=False)
    hostile = seeded_with_hostile_rows(settings)
    report = jobs.send_due(settings, NOW, respect_hour=False)
    assert report.counts["failed"] == len(hostile) and report.counts["sent"] > 0
    written = list(settings.outbox_dir.glob("*/*.eml"))
    assert len(written) == report.counts["sent"]
    assert (settings.outbox_dir / "index.html").exists()


def test_outbox_index_lists_a_file_whose_header_the_parser_rejects(tmp_path):
    folder = tmp_path / "outbox" / "2026-11-28"
    folder.mkdir(parents=True)
    good = b"To: ada@example.org\r\nSubject: fine\r\n\r\nbody"
    bad = b"To: =?utf-8?b?eA0KWC1JbmplY3RlZDogeWVz?=@attacker.example\r\nSubject: x\r\n\r\nbody"
    (folder / "good.eml").write_bytes(good)
    (folder / "bad.eml").write_bytes(bad)
    index = mail.write_outbox_index(tmp_path / "outbox").read_text()
    assert "2 messages" in index and "ada@example.org" in index




def test_the_index_previews_each_message_newest_first(tmp_path, sqlite_url):
    import os
    import re
    from html import unescape

    from history_site import make_history

    settings = load_settings(make_env(tmp_path, sqlite_url), read_dotenv=False)
    digests = make_history(settings).sender.sent  # Ada's and Bob's digests of Friday 31 July
    outbox = mail.OutboxSender(tmp_path / "outbox")
    for n, (sender, to, data) in enumerate([*digests, ("d@example.org", "eve@example.org",
                                                       message("eve@example.org", "<b>hi</b>", edition="2026-08-03"))]):
        path = tmp_path / "outbox" / outbox.send(sender, to, data).removeprefix("written to ").split("/outbox/")[1]
        os.utime(path, (1_800_000_000 + n, 1_800_000_000 + n))  # one second apart, in this order
    outbox.close()
    index = (tmp_path / "outbox" / "index.html").read_text()
    assert "3 messages, newest first" in index
    shown = unescape(index)
    assert shown.index("Edition 2026-08-03") < shown.index("Edition 2026-07-31")
    assert shown.index("To eve@") < shown.index("To bob@") < shown.index("To ada@")  # by time written
    assert "&lt;b&gt;hi&lt;/b&gt;" in index and "<b>hi</b>" not in index
    ada = re.search(r'<article class="message">((?:(?!</article>).)*To ada@example.org.*?)</article>', index, re.S)
    snippet = unescape(re.search(r'<p class="snippet">(.*?)</p>', ada.group(1), re.S).group(1)).splitlines()
    assert snippet[0] == "Paper digest for Fri 31 Jul 2026 · 8 new papers matched your topics"
    assert snippet[1].startswith("1. Policy gradients for language model agents") and snippet[-1] == "…"
    view = re.search(r'<iframe src="(2026-07-31/ada@example.org-[0-9a-f]+\.html)" loading="lazy" sandbox', ada.group(1))
    assert view and (tmp_path / "outbox" / view.group(1)).exists()
