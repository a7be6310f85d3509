"""End-to-end pipeline benchmark: N subscribers × 2,000 papers through Celery workers into a discarding SMTP sink.

Prints, per run and as the median of --runs: seconds and digests/s through
the workers, the same through an in-process `digest send`, their ratio, and
the peak RSS of each worker process.

    python bench/pipeline.py                     # 10,000 subscribers, 3 runs
    python bench/pipeline.py --subscribers 1000 --runs 1
    python bench/pipeline.py --sender null       # DIGEST_SENDER=null: accept and discard, no SMTP
    python bench/pipeline.py --profile --runs 1  # where the in-process run spends its time

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
# The captured day's vectors (as the test suite uses them): most papers' embeddings are looked up, not computed.
KNOWN = ROOT / "tests" / "fixtures" / "embeddings" / "all-archives_2024-11-28.npz"
os.environ.setdefault("DIGEST_EMBEDDINGS_KNOWN", str(KNOWN))
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

    from digest import embeddings, features
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
        # What ingestion does after it commits (not timed): the papers' features and sentence embeddings.
        features.fill_missing(session, since=now - dt.timedelta(days=features.INGEST_DAYS))
    embeddings.fill_missing(session_factory(settings.database_url), since=now - dt.timedelta(days=features.INGEST_DAYS))


def reset_digests(url: str) -> None:
    from sqlalchemy import text

    from digest.db import get_engine

    with get_engine(url).begin() as conn:
        conn.execute(text("TRUNCATE digest_items, digests RESTART IDENTITY CASCADE"))


def count_sent(url: str) -> int:
    from sqlalchemy import text

    from digest.db import get_engine

    with get_engine(url).connect() as conn:
        return conn.execute(text("SELECT count(*) FROM digests WHERE state IN ('sent','skipped')")).scalar()


def storage(url: str) -> str:
    """pg_total_relation_size (rows, indexes, TOAST) of the delivery tables, scaled to 1,000,000 sent digests."""
    from sqlalchemy import text

    from digest.db import get_engine

    with get_engine(url).connect() as conn:
        sent = conn.execute(text("SELECT count(*) FROM digests WHERE state = 'sent'")).scalar()
        items = conn.execute(text("SELECT count(*) FROM digest_items")).scalar()
        sizes = {t: conn.execute(text(f"SELECT coalesce(pg_total_relation_size(to_regclass('{t}')), 0)")).scalar()
                 for t in ("digests", "digest_items", "sent_papers")}
    scale = 1_000_000 / max(sent, 1)
    parts = ", ".join(f"{t} {b * scale / 1e9:.2f} GB" for t, b in sizes.items())
    return (f"storage per 1,000,000 sent digests ({sent:,} sent, {items / max(sent, 1):.1f} items each): "
            f"{sum(sizes.values()) * scale / 1e9:.2f} GB ({parts})")


def pruned_storage(settings) -> str:
    """Prune every digest (DIGEST_KEEP_DAYS): what stays, sent_papers, per 1,000,000 sent digests."""
    from sqlalchemy import text

    from digest.db import get_engine
    from digest.jobs import prune_digests

    with get_engine(settings.database_url).connect() as conn:
        sent = conn.execute(text("SELECT count(*) FROM digests WHERE state = 'sent'")).scalar()
    prune_digests(settings, dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2), keep_days=1)
    with get_engine(settings.database_url).connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM sent_papers")).scalar()
        size = conn.execute(text("SELECT pg_total_relation_size('sent_papers')")).scalar()
    return (f"after pruning them all: sent_papers {rows:,} rows, {size * 1_000_000 / max(sent, 1) / 1e9:.2f} GB "
            "per 1,000,000 sent digests")


def start_sink():
    from aiosmtpd.controller import Controller

    class Discard:
        count = 0

        async def handle_DATA(self, server, session, envelope):
            self.count += 1
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


PROFILED = {"mark sent": ("bulk_mark_sent", "mark_sent"), "select picks": ("select_picks",),
            "build cards/content": ("build_content",), "message bytes": ("message_bytes",),
            "compose (incl. items insert)": ("_compose",), "claim": ("bulk_claim",), "send": ("_send",)}


def print_profile(profiler, elapsed: float, n: int) -> None:
    import pstats

    stats = pstats.Stats(profiler).stats
    print(f"profile: {elapsed / n * 1000:.2f} ms per digest under cProfile")
    for label, names in PROFILED.items():
        # the outermost of the names (mark_sent calls bulk_mark_sent): cumulative times must not add up twice
        spent = max(sum(v[3] for (path, _, func), v in stats.items() if func == name and "digest" in path)
                    for name in names)
        print(f"  {label:<30} {spent:7.2f}s  {spent / elapsed:5.1%}")


def run_inline(settings, n: int, profile: bool = False, null: bool = False) -> float:
    import cProfile

    from digest.jobs import send_due

    sender = None
    if null:
        from digest.delivery.senders import NullSender

        sender = NullSender()
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    report = send_due(settings, dt.datetime.now(dt.timezone.utc), respect_hour=False, sender=sender)
    elapsed = time.perf_counter() - started
    if profiler:
        profiler.disable()
        print_profile(profiler, elapsed, n)
    assert report.counts["sent"] + report.counts["skipped"] == n, report.summary()
    return elapsed


def count_rows(url: str) -> tuple[int, int]:
    """(rows sent, rows sent or skipped)."""
    from sqlalchemy import text

    from digest.db import get_engine

    with get_engine(url).connect() as conn:
        return tuple(conn.execute(text("SELECT count(*) FILTER (WHERE state = 'sent'), "
                                       "count(*) FILTER (WHERE state IN ('sent', 'skipped')) FROM digests")).one())


def celery_run(env: dict, settings, n: int, sender: str, workers: int, sink) -> tuple[float, str]:
    """One run through `workers` worker processes; the time and a line with the checks (duplicates, missing)."""
    reset_digests(settings.database_url)
    sink.count = 0
    run_env = {**env, "DIGEST_SENDER": "null"} if sender == "null" else env
    elapsed, rss = run_celery(run_env, settings, n, workers)
    time.sleep(0.5)  # the sink counts the last messages
    sent, done = count_rows(settings.database_url)
    relayed = f", sink got {sink.count:,} (duplicates {sink.count - sent})" if sender == "smtp" else ""
    return elapsed, (f"celery {sender} x{workers}: {elapsed:.1f}s ({n / elapsed:.0f}/s, "
                     f"{elapsed / n * 1000 * min(workers, os.cpu_count() or 1):.2f} ms per digest per core), "
                     f"missing {n - done}{relayed}, peak RSS " + ", ".join(f"{r:.0f} MB" for r in rss))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--papers", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", default="2", help="worker processes; several, comma-separated: 1,2,4")
    parser.add_argument("--sender", default="smtp",
                        help="smtp: the aiosmtpd sink (default); null: DIGEST_SENDER=null; or both: null,smtp")
    parser.add_argument("--mode", choices=("both", "celery", "inline"), default="both")
    parser.add_argument("--profile", action="store_true", help="profile the in-process run (cProfile)")
    args = parser.parse_args()
    workers, senders = [int(w) for w in args.workers.split(",")], args.sender.split(",")
    sys.path.insert(0, str(ROOT))
    from digest.config import load_settings

    name, url = create_db()
    controller, port = start_sink()
    tmp = tempfile.mkdtemp(prefix="digest-bench-")
    env = {"DIGEST_DATABASE_URL": url, "DIGEST_SMTP_URL": f"smtp://127.0.0.1:{port}", "DIGEST_BROKER_URL": REDIS,
           "DIGEST_QUEUE": f"digest-bench-{uuid.uuid4().hex[:6]}", "DIGEST_DATA_DIR": tmp,
           "DIGEST_SECRET_KEY": "bench-secret-key-0123456789", "DIGEST_FROM": "Digest <digest@bench.example.org>",
           "DIGEST_BATCH_SIZE": "100", "PYTHONPATH": str(ROOT)}
    env.update({k: v for k, v in os.environ.items() if k == "DIGEST_MARK_EVERY"})
    settings = load_settings(env, read_dotenv=False)
    try:
        populate(settings, args.subscribers, args.papers, dt.datetime.now(dt.timezone.utc))
        n = args.subscribers
        print(f"{n:,} subscribers × {args.papers:,} papers, batch 100, sent rows marked every "
              f"{getattr(settings, 'mark_every', 1)}", flush=True)
        times: dict[str, list[float]] = {}
        for run in range(1, args.runs + 1):
            if args.mode != "celery":
                reset_digests(url)
                times.setdefault("in-process", []).append(run_inline(settings, n, args.profile, senders[0] == "null"))
                print(f"run {run}: in-process {senders[0]} {times['in-process'][-1]:.1f}s "
                      f"({n / times['in-process'][-1]:.0f}/s)", flush=True)
            for sender in senders if args.mode != "inline" else ():
                for count in workers:
                    elapsed, line = celery_run(env, settings, n, sender, count, controller.handler)
                    times.setdefault(f"celery {sender} x{count}", []).append(elapsed)
                    print(f"run {run}: {line}", flush=True)
        print(storage(url))
        print(pruned_storage(settings))
        inline = statistics.median(times["in-process"]) if "in-process" in times else None
        for label, values in times.items():
            median = statistics.median(values)
            ratio = f", in-process/this {inline / median:.2f}" if inline and label != "in-process" else ""
            print(f"median {label}: {median:.1f}s = {n / median:.0f} digests/s{ratio}")
    finally:
        controller.stop()
        from digest.db import get_engine

        get_engine(url).dispose()
        drop_db(name)


if __name__ == "__main__":
    main()
