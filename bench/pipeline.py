"""End-to-end pipeline benchmark: N subscribers × 2,000 papers through Celery workers into a discarding SMTP sink.

Prints, per run and as the median of --runs: seconds and digests/s through
the workers, the same through an in-process `digest send`, their ratio, and
the peak RSS of each worker process.

    python bench/pipeline.py                     # 10,000 subscribers, 3 runs
    python bench/pipeline.py --subscribers 1000 --runs 1

Needs PostgreSQL (DIGEST_TEST_PG, default postgresql://postgres@127.0.0.1:5432/test)
and Redis (DIGEST_TEST_REDIS, default redis://127.0.0.1:6379/0). Creates and
drops its own database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchdata import FEEDS, ROOT, SEEDS, require, require_rows
PG_ADMIN = os.environ.get("DIGEST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("DIGEST_TEST_REDIS", "redis://127.0.0.1:6379/0")
VOCAB = [
    "LLM quantization", "efficient attention", "sparse matrices", "graph neural networks", "quantum algorithms",
    "diffusion models", "reinforcement learning", "large language models", "computer vision", "speech recognition",
    "federated learning", "differential privacy", "causal inference", "bayesian optimization", "time series",
    "dark matter", "galaxy formation", "gravitational waves", "exoplanets", "black holes", "superconductivity",
    "topological insulators", "quantum error correction", "neural networks", "optimization", "robotics",
    "protein structure", "single-cell", "climate models", "number theory", "algebraic geometry", "stochastic processes",
    "random matrices", "partial differential equations", "machine translation", "question answering", "retrieval",
    "benchmark", "interpretability", "adversarial robustness", "knowledge graphs", "recommendation systems",
]


def load_papers(n: int):
    from digest.sources import parse

    entries = []
    names = ("arxiv-rss-new/all-archives_2024-11-28_part1of2.xml", "arxiv-rss-new/all-archives_2024-11-28_part2of2.xml",
             "arxiv-rss-new/stat_2024-03-26_rss.xml", "arxiv-api/api-new_2026-04-12_search-testing_m100.xml")
    for path in require([FEEDS / name for name in names] + [SEEDS], "captured feeds"):
        kind = "listing" if path == SEEDS else "arxiv-api" if "api" in path.name else "rss"
        entries += parse(kind, path.read_bytes()).entries
    seen, unique = set(), []
    for entry in entries:
        if entry.key not in seen:
            seen.add(entry.key)
            unique.append(entry)
    require_rows(unique, "papers")
    out = []
    i = 0
    while len(out) < n:  # cycle with fresh keys if the captures hold fewer than n
        base = unique[i % len(unique)]
        if i >= len(unique):
            base = type(base)(**{**base.__dict__, "key": f"{base.key}#{i}"})
        out.append(base)
        i += 1
    return out


def create_db() -> tuple[str, str]:
    import psycopg

    name = f"digest_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"


def drop_db(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def populate(settings, n_subscribers: int, n_papers: int, now) -> None:
    from sqlalchemy import insert

    from digest.db import ensure_schema, session_factory
    from digest.ingest import bulk_upsert_papers
    from digest.models import Subscriber

    ensure_schema(settings.database_url)
    rng = random.Random(7)
    with session_factory(settings.database_url).begin() as session:
        bulk_upsert_papers(session, load_papers(n_papers), "bench", now)
        rows = [{"email": f"reader{i}@example.org", "email_key": f"reader{i}@example.org", "name": "",
                 "status": "active", "topics": rng.sample(VOCAB, rng.randint(1, 3)), "categories": [], "exclude": [],
                 "authors": [], "timezone": "UTC", "send_hour": 0, "max_papers": 10, "min_score": 0.0,
                 "cadence": "daily", "permanent_failures": 0, "created_at": now} for i in range(n_subscribers)]
        session.execute(insert(Subscriber), rows)


def reset_digests(url: str) -> None:
    from sqlalchemy import text

    from digest.db import get_engine

    with get_engine(url).begin() as conn:
        conn.execute(text("TRUNCATE digest_items, digests RESTART IDENTITY"))


def count_sent(url: str) -> int:
    from sqlalchemy import text

    from digest.db import get_engine

    with get_engine(url).connect() as conn:
        return conn.execute(text("SELECT count(*) FROM digests WHERE state IN ('sent','skipped')")).scalar()


def start_sink():
    from aiosmtpd.controller import Controller

    class Discard:
        count = 0

        async def handle_DATA(self, server, session, envelope):
            Discard.count += 1
            return "250 OK"

    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Discard(), hostname="127.0.0.1", port=port, data_size_limit=0)
    controller.start()
    return controller, port


def peak_rss_mb(pgid: int) -> list[float]:
    """VmHWM of every process in the worker's process group."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.getpgid(int(pid)) != pgid:
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    out.append(int(line.split()[1]) / 1024)
        except (OSError, ProcessLookupError):
            continue
    return out


def run_celery(env: dict, settings, n: int, workers: int) -> tuple[float, list[float]]:
    from celery import Celery

    from digest.jobs import plan_manual

    celery_bin = str(Path(sys.executable).with_name("celery"))
    procs = [subprocess.Popen([celery_bin, "-A", "scheduler", "worker", "--loglevel", "WARNING", "--concurrency", "1",
                               "-n", f"bench{i}-{uuid.uuid4().hex[:6]}@%h", "--without-gossip", "--without-mingle",
                               "--without-heartbeat"],
                              env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True) for i in range(workers)]
    try:
        time.sleep(4)  # workers up (not timed)
        app = Celery(broker=REDIS)
        started = time.perf_counter()
        batches = plan_manual(settings, dt.datetime.now(dt.timezone.utc))
        for ids in batches:
            app.send_task("digest.deliver_batch", args=[ids], queue=env["DIGEST_QUEUE"])
        while count_sent(settings.database_url) < n:
            time.sleep(0.25)
        elapsed = time.perf_counter() - started
        rss = [max(peak_rss_mb(p.pid) or [0]) for p in procs]
        app.close()
        return elapsed, rss
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, 15)
            except ProcessLookupError:
                pass
        for p in procs:
            p.wait(30)


def run_inline(settings, n: int) -> float:
    from digest.jobs import send_due

    started = time.perf_counter()
    report = send_due(settings, dt.datetime.now(dt.timezone.utc), respect_hour=False)
    elapsed = time.perf_counter() - started
    assert report.counts["sent"] + report.counts["skipped"] == n, report.summary()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--papers", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from digest.config import load_settings

    name, url = create_db()
    controller, port = start_sink()
    tmp = tempfile.mkdtemp(prefix="digest-bench-")
    env = {"DIGEST_DATABASE_URL": url, "DIGEST_SMTP_URL": f"smtp://127.0.0.1:{port}", "DIGEST_BROKER_URL": REDIS,
           "DIGEST_QUEUE": f"digest-bench-{uuid.uuid4().hex[:6]}", "DIGEST_DATA_DIR": tmp,
           "DIGEST_SECRET_KEY": "bench-secret-key-0123456789", "DIGEST_FROM": "Digest <digest@bench.example.org>",
           "DIGEST_BATCH_SIZE": "100", "PYTHONPATH": str(ROOT)}
    settings = load_settings(env, read_dotenv=False)
    try:
        populate(settings, args.subscribers, args.papers, dt.datetime.now(dt.timezone.utc))
        n = args.subscribers
        print(f"{n:,} subscribers × {args.papers:,} papers, batch 100, {args.workers} worker processes")
        celery_times, inline_times, rss_all = [], [], []
        for run in range(1, args.runs + 1):
            reset_digests(url)
            t_inline = run_inline(settings, n)
            reset_digests(url)
            t_celery, rss = run_celery(env, settings, n, args.workers)
            celery_times.append(t_celery)
            inline_times.append(t_inline)
            rss_all.append(max(rss))
            print(f"run {run}: celery {t_celery:.1f}s ({n / t_celery:.0f}/s), in-process {t_inline:.1f}s "
                  f"({n / t_inline:.0f}/s), ratio {t_inline / t_celery:.2f}, worker peak RSS "
                  + ", ".join(f"{r:.0f} MB" for r in rss))
        c, i = statistics.median(celery_times), statistics.median(inline_times)
        print(f"median: celery {c:.1f}s = {n / c:.0f} digests/s; in-process {i:.1f}s = {n / i:.0f} digests/s; "
              f"ratio {i / c:.2f}; worker peak RSS {statistics.median(rss_all):.0f} MB")
    finally:
        controller.stop()
        from digest.db import get_engine

        get_engine(url).dispose()
        drop_db(name)


if __name__ == "__main__":
    main()
