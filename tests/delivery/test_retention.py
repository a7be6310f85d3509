"""Retention (DIGEST_KEEP_DAYS): old digests and items go, and a paper they sent is still never sent again."""

from __future__ import annotations

import datetime as dt

from click.testing import CliRunner
from sqlalchemy import delete, select, update

from helpers import make_env
from digest import ingest, jobs
from digest.cli import cli
from digest.config import load_settings
from digest.db import session_factory
from digest.delivery.senders import MemorySender
from digest.models import Digest, DigestItem, SentPaper

NOW = dt.datetime(2026, 11, 26, 9, 12, tzinfo=dt.timezone.utc)


def sent_papers_by_subscriber(session) -> dict[int, set[int]]:
    rows = session.execute(select(DigestItem.subscriber_id, DigestItem.paper_id)
                           .join(Digest, Digest.id == DigestItem.digest_id).where(Digest.state == "sent")).all()
    out: dict[int, set[int]] = {}
    for subscriber_id, paper_id in rows:
        out.setdefault(subscriber_id, set()).add(paper_id)
    return out


def test_a_paper_sent_400_days_ago_is_not_sent_again_after_its_digest_is_pruned(tmp_path, db_url):
    settings = load_settings(make_env(tmp_path, db_url, DIGEST_KEEP_DAYS=365), read_dotenv=False)
    jobs.run_ingest(settings, [ingest.seeds_spec()], NOW)
    jobs.load_sample_subscribers(settings, NOW)
    jobs.send_due(settings, NOW, respect_hour=False, sender=MemorySender())
    factory = session_factory(settings.database_url)
    with factory.begin() as session:
        first = sent_papers_by_subscriber(session)
        assert len(first) >= 2
        # Those digests went out 400 days ago (their papers are still candidates: the worst case).
        long_ago = NOW - dt.timedelta(days=400)
        session.execute(update(Digest).values(edition_date=long_ago.date(), sent_at=long_ago, created_at=long_ago))
        # One reader's history is deleted outright, as a naive pruning would: the control.
        control = min(first)
        session.execute(delete(Digest).where(Digest.subscriber_id == control))

    later = NOW + dt.timedelta(days=1)
    digests, items = jobs.prune_digests(settings, later)
    assert digests == len(first) - 1 and items > 0
    with factory() as session:
        assert session.scalar(select(Digest.id).where(Digest.edition_date < later.date())) is None
        kept = set(session.execute(select(SentPaper.subscriber_id, SentPaper.paper_id)).all())
    assert kept == {(s, p) for s, papers in first.items() if s != control for p in papers}

    jobs.send_due(settings, later, respect_hour=False, sender=MemorySender())
    with factory() as session:
        second = sent_papers_by_subscriber(session)
    assert second.get(control, set()) & first[control], "the control should get its old papers again"
    for subscriber_id, papers in first.items():
        if subscriber_id != control:
            assert not second.get(subscriber_id, set()) & papers, subscriber_id


def test_prune_without_a_retention_setting_is_refused_in_one_line(tmp_path, sqlite_url, monkeypatch):
    for key, value in make_env(tmp_path, sqlite_url).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DIGEST_KEEP_DAYS", raising=False)
    result = CliRunner().invoke(cli, ["prune"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == "Error: nothing to prune: set DIGEST_KEEP_DAYS or give --keep-days"
    result = CliRunner().invoke(cli, ["prune", "--keep-days", "30"])
    assert result.exit_code == 0 and result.output == "pruned 0 digests and 0 items older than 30 days\n"
