"""Rows the relay accepted are marked sent in groups (DIGEST_MARK_EVERY): one UPDATE and one commit per group.

What they pin: a batch marks its sent rows with one statement per group, not
one per message; a worker killed mid-batch has marked sent only messages the
sender took, and what it resends after its lease expires is at most one
group (the duplicate window DESIGN.md states).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter

from sqlalchemy import event, select

from helpers import make_env
from digest import ingest, jobs
from digest.config import load_settings
from digest.db import get_engine, session_factory
from digest.delivery import batch
from digest.delivery.senders import MemorySender
from digest.models import Digest, Subscriber
from digest.resources import resource_dir
from digest.subscriptions import subscribe, validate_preferences

NOW = dt.datetime(2026, 11, 26, 9, 12, tzinfo=dt.timezone.utc)
EDITION = NOW.date()


def seed(settings, n: int) -> None:
    """The bundled papers, and `n` confirmed readers with the sample subscribers' interests."""
    jobs.run_ingest(settings, [ingest.seeds_spec()], NOW)
    rows = json.loads((resource_dir("seeds") / "subscribers.json").read_text(encoding="utf-8"))
    with session_factory(settings.database_url).begin() as session:
        for i in range(n):
            row = rows[i % len(rows)]
            prefs = validate_preferences(topics=row.get("topics", []), categories=row.get("categories", []),
                                         exclude=[], authors=[], timezone="UTC", send_hour=7, max_papers=5)
            subscribe(session, f"reader{i}@example.org", prefs, NOW, confirmed=True)


def states(settings) -> dict[str, str]:
    with session_factory(settings.database_url)() as session:
        return dict(session.execute(select(Subscriber.email, Digest.state).join(Digest.subscriber)).all())


def test_a_batch_marks_its_sent_rows_in_one_statement_per_group(tmp_path, db_url, monkeypatch):
    monkeypatch.setattr(batch, "MARK_WITHIN", 3600.0)  # groups by count only here
    settings = load_settings(make_env(tmp_path, db_url, DIGEST_MARK_EVERY=4), read_dotenv=False)
    seed(settings, 10)
    marks = []

    def count(conn, cursor, statement, *args):
        if statement.startswith("UPDATE digests SET") and "sent_at" in statement:
            marks.append(statement)

    event.listen(get_engine(db_url), "before_cursor_execute", count)
    try:
        report = jobs.send_due(settings, NOW, respect_hour=False, edition_date=EDITION, sender=MemorySender())
    finally:
        event.remove(get_engine(db_url), "before_cursor_execute", count)
    sent = report.counts["sent"]
    assert sent >= 8, report.summary()
    assert len(marks) == -(-sent // 4)  # groups of 4, the last one partial
    assert set(states(settings).values()) <= {"sent", "skipped"}


class SlowRelay(MemorySender):
    def send(self, sender, recipient, data):
        time.sleep(batch.MARK_WITHIN * 1.5)
        return super().send(sender, recipient, data)


def test_a_slow_relay_gets_each_accepted_row_marked_before_the_next_send(tmp_path, sqlite_url):
    settings = load_settings(make_env(tmp_path, sqlite_url, DIGEST_MARK_EVERY=20), read_dotenv=False)
    seed(settings, 4)
    seen = []
    relay = SlowRelay()
    original = relay.send

    def send(sender, recipient, data):  # which rows were already marked when each send began
        seen.append(sum(state == "sent" for state in states(settings).values()))
        return original(sender, recipient, data)

    relay.send = send
    report = jobs.send_due(settings, NOW, respect_hour=False, edition_date=EDITION, sender=relay)
    assert report.counts["sent"] == 4
    assert seen == [0, 1, 2, 3]  # not left waiting for a group of 20 to fill


KILLED_WORKER = """
    import datetime as dt, os, signal, sys
    from digest import jobs
    from digest.config import load_settings
    from digest.delivery import batch

    batch.MARK_WITHIN = 3600.0  # groups by count only: the window is then exact

    class Killed:
        handed = 0
        def check(self): pass
        def close(self): pass
        def send(self, sender, recipient, data):
            with open(sys.argv[1], "a") as fh:  # what the relay took, on disk before the 250
                fh.write(recipient + "\\n"); fh.flush(); os.fsync(fh.fileno())
            Killed.handed += 1
            if Killed.handed == int(sys.argv[2]):
                os.kill(os.getpid(), signal.SIGKILL)  # dies with this message in the sender's hands
            return "250 ok"

    now = dt.datetime(2026, 11, 26, 9, 12, tzinfo=dt.timezone.utc)
    jobs.send_due(load_settings(read_dotenv=False), now, respect_hour=False, edition_date=now.date(), sender=Killed())
"""


def test_a_worker_killed_mid_batch_marked_only_what_it_handed_over_and_resends_at_most_one_group(
        tmp_path, pg_database_url):
    from helpers import _truncate

    every, kill_at = 5, 13
    env = make_env(tmp_path, pg_database_url, DIGEST_MARK_EVERY=every)
    settings = load_settings(env, read_dotenv=False)
    jobs.ensure_schema(pg_database_url)
    try:
        seed(settings, 30)
        handed_file = tmp_path / "handed.txt"
        worker = subprocess.run([sys.executable, "-c", textwrap.dedent(KILLED_WORKER), str(handed_file), str(kill_at)],
                                env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
        assert worker.returncode == -9, worker.stderr[-2000:]
        handed = handed_file.read_text().split()
        assert len(handed) == kill_at
        after_kill = states(settings)
        marked = {email for email, state in after_kill.items() if state == "sent"}
        assert marked <= set(handed), "a row was marked sent that the sender never took"
        unmarked = set(handed) - marked
        # The window: the group not yet marked (here the 11th, 12th and the 13th, in the sender's hands).
        assert unmarked == set(handed[kill_at - kill_at % every:]) and len(unmarked) == kill_at % every
        assert {after_kill[e] for e in unmarked} == {"sending"}  # held by the dead worker's lease

        later = NOW + dt.timedelta(seconds=settings.lease_seconds + 1)
        again = MemorySender()
        for ids in jobs.plan_sweep(settings, later):
            jobs.deliver_ids(settings, ids, later, sender=again)
        copies = Counter(handed) + Counter(recipient for _, recipient, _ in again.sent)
        assert set(states(settings).values()) <= {"sent", "skipped"}
        assert {e for e, c in copies.items() if c > 1} == unmarked  # the resent ones are exactly that group
        assert max(copies.values()) == 2
    finally:
        get_engine(pg_database_url).dispose()
        _truncate(pg_database_url)
