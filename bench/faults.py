"""The fault pass, repeatable: each fault against real parts, then who got how many copies.

A real aiosmtpd server counts what arrives per subscriber; between it and the
sender sits the loopback proxy of tests/faultproxy.py (drops the reply to
DATA, refuses, trickles, dies). The in-process faults run the delivery job as
the scheduler would (again 2, 13, 24 ... minutes later, until nothing waits);
the process faults run real Celery workers and beat on a private Redis
(`redis-server` on a free port; skipped when it is not installed). Prints per
fault: subscribers, messages received, duplicates, unknown outcomes (where a
duplicate is allowed), losses (a subscriber neither served nor refused with a
reply) and the time it took.

    python bench/faults.py                      # 40 subscribers on the machine's PostgreSQL
    python bench/faults.py --subscribers 30 --lease 10    # a shorter lease: a quicker killed-worker row
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from aiosmtpd.controller import Controller  # noqa: E402
from sqlalchemy import delete, func, select, update  # noqa: E402

from conftest import SmtpHandler, free_port  # noqa: E402  (tests/conftest.py: the suite's SMTP handler)
from faultproxy import DatabaseLosingHandler, FaultProxy  # noqa: E402
from procs import Proc, start_beat, start_worker, wait_until  # noqa: E402

from digest import ingest, jobs  # noqa: E402
from digest.config import load_settings  # noqa: E402
from digest.db import ensure_schema, get_engine, session_factory  # noqa: E402
from digest.models import Digest, DigestItem, Subscriber  # noqa: E402
from digest.delivery.outcomes import REFUSED, unknown_outcomes  # noqa: E402
from digest.subscriptions import subscribe, validate_preferences  # noqa: E402

TOPICS = ["LLM quantization", "efficient attention", "sparse matrices", "quantum algorithms", "graph neural networks"]
RUNS_AT = [0, 2, 13, 24, 35, 46, 57, 68]  # minutes: the scheduler's later runs, past every retry time
FINAL = ("sent", "skipped", "failed", "suppressed")


@dataclass
class Row:
    fault: str
    subscribers: int
    received: int = 0
    duplicates: int = 0
    unknown: int = 0
    lost: int = 0
    refused: int = 0
    seconds: float = 0.0
    note: str = ""


class Bench:
    """One database with seeds and N subscribers; each fault starts from no digests."""

    def __init__(self, database_url: str, subscribers: int, lease: int, tmp: Path):
        self.url, self.n, self.lease, self.tmp = database_url, subscribers, lease, tmp
        ensure_schema(database_url)
        self.now = dt.datetime.now(dt.timezone.utc)
        jobs.run_ingest(self.settings(1), [ingest.seeds_spec()], self.now)
        with session_factory(database_url).begin() as session:
            for i in range(subscribers):
                prefs = validate_preferences(topics=[TOPICS[i % len(TOPICS)]], send_hour=0, max_papers=3)
                subscribe(session, f"reader{i}@example.org", prefs, self.now)

    def env(self, smtp_port: int, **extra) -> dict:
        env = {"DIGEST_DATABASE_URL": self.url, "DIGEST_DATA_DIR": str(self.tmp / "data"),
               "DIGEST_SECRET_KEY": "bench-secret-key-0123456789", "DIGEST_FROM": "Digest <digest@digest.example.org>",
               "DIGEST_BASE_URL": "https://digest.example.org", "DIGEST_LEASE_SECONDS": str(self.lease),
               "DIGEST_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}?timeout=3"}
        return {**env, **{k: str(v) for k, v in extra.items()}}

    def settings(self, smtp_port: int, **extra):
        return load_settings(self.env(smtp_port, **extra), read_dotenv=False)

    def reset(self) -> None:
        with session_factory(self.url).begin() as session:
            session.execute(delete(DigestItem))
            session.execute(delete(Digest))
            session.execute(update(Subscriber).values(status="active", permanent_failures=0))

    def drive(self, settings, until_done: bool = True) -> None:
        """Run the delivery job at each of RUNS_AT (minutes after now) until no digest waits."""
        for minutes in RUNS_AT:
            jobs.send_due(settings, self.now + dt.timedelta(minutes=minutes), respect_hour=False)
            if until_done and not self.unfinished():
                return

    def unfinished(self) -> int:
        with session_factory(self.url)() as session:
            return session.scalar(select(func.count()).where(Digest.state.notin_(FINAL))) or 0

    def tally(self, fault: str, handler, started: float, note: str = "") -> Row:
        counts = Counter(r for _, rcpts, _ in handler.messages for r in rcpts)
        with session_factory(self.url)() as session:
            digests = session.execute(select(Subscriber.email, Digest.state, Digest.reason, Digest.failure_class)
                                      .join(Subscriber)).all()
        refused = {email for email, state, reason, _ in digests if state == "failed" and reason in REFUSED.values()}
        everyone = [f"reader{i}@example.org" for i in range(self.n)]
        return Row(fault, self.n, sum(counts.values()), sum(c - 1 for c in counts.values() if c > 1),
                   sum(unknown_outcomes(reason) for _, _, reason, _ in digests),
                   sum(1 for e in everyone if not counts[e] and e not in refused), len(refused),
                   time.monotonic() - started, note)


class Relay:
    """A real SMTP server on loopback (aiosmtpd) counting what it accepts."""

    def __init__(self, handler: SmtpHandler | None = None):
        self.handler = handler or SmtpHandler()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=free_port())
        self.controller.start()
        self.port = self.controller.port

    def stop(self) -> None:
        self.controller.stop()


def _in_process(bench: Bench, fault: str, run, note: str = "") -> Row:
    """Reset, start a relay, let `run(bench, relay)` inflict the fault and drive delivery, then count."""
    bench.reset()
    relay = Relay()
    started = time.monotonic()
    try:
        run(bench, relay)
    finally:
        relay.stop()
    return bench.tally(fault, relay.handler, started, note)


def fault_drop_after_data(bench: Bench, rate: float = 0.2) -> Row:
    def run(bench, relay):
        proxy = FaultProxy(relay.port, mode="drop-after-data", drop_rate=rate, seed=7)
        try:
            bench.drive(bench.settings(proxy.port))
        finally:
            proxy.kill()

    return _in_process(bench, f"relay drops the reply to DATA ({rate:.0%})", run)


def fault_refused_relay(bench: Bench) -> Row:
    def run(bench, relay):
        proxy = FaultProxy(relay.port, mode="refuse")
        try:
            settings = bench.settings(proxy.port)
            for minutes in (0, 11, 22):
                jobs.send_due(settings, bench.now + dt.timedelta(minutes=minutes), respect_hour=False)
            proxy.mode = "pass"
            bench.drive(settings)
        finally:
            proxy.kill()

    return _in_process(bench, "relay refuses connections for 3 runs", run)


def fault_trickle(bench: Bench) -> Row:
    def run(bench, relay):
        proxy = FaultProxy(relay.port, mode="trickle", delay=0.002)
        try:
            bench.drive(bench.settings(proxy.port))
        finally:
            proxy.kill()

    return _in_process(bench, "slow relay (replies trickle, 2 ms a byte)", run)


def fault_proxy_killed(bench: Bench) -> Row:
    def run(bench, relay):
        relay.handler.delay = 0.02
        proxy = FaultProxy(relay.port)

        def kill_at_a_third():
            while len(relay.handler.messages) < bench.n // 3:
                time.sleep(0.002)
            proxy.kill()

        threading.Thread(target=kill_at_a_third, daemon=True).start()
        jobs.send_due(bench.settings(proxy.port), bench.now, respect_hour=False)
        relay.handler.delay = 0
        bench.drive(bench.settings(relay.port))

    return _in_process(bench, "connection to the relay dies mid-batch", run)


def fault_replies(bench: Bench) -> Row:
    def run(bench, relay):
        relay.handler.replies = ["451 4.3.0 Try again later", "421 4.7.0 Too busy, closing"] * 3
        relay.handler.rcpt_replies = {"reader3@example.org": "550 5.1.1 User unknown",
                                      "reader8@example.org": "550 5.7.1 Rejected as spam"}
        relay.handler.drop_in_data = 2  # the relay itself hangs up after the end of DATA, twice
        bench.drive(bench.settings(relay.port))

    return _in_process(bench, "relay replies 451/421/550, hangs up in DATA", run, "refused = 550 replies")


def fault_database_lost(bench: Bench, admin_url: str) -> Row:
    def run(bench, relay):
        hook = DatabaseLosingHandler(relay.handler, admin_url, bench.url.rsplit("/", 1)[1], after=bench.n // 3,
                                     outage=1.0)
        hook.install()
        try:
            bench.drive(bench.settings(relay.port))
        finally:
            hook.allow(True)

    return _in_process(bench, "database lost 1 s between a 250 and its commit", run)


# --- real worker processes ----------------------------------------------------------------------


class PrivateRedis:
    """redis-server on a free port, keeping nothing on disk; restart() keeps the port."""

    def __init__(self, tmp: Path):
        self.port, self.tmp = free_port(), tmp
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: Proc | None = None
        self.start()

    def start(self) -> None:
        self.proc = Proc(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no"], {}, self.tmp / f"redis-{time.monotonic_ns()}.log")
        import redis

        wait_until(lambda: _pings(redis.Redis.from_url(self.url)), 20, what="private redis up")

    def restart(self) -> None:
        self.proc.stop()
        self.start()

    def stop(self) -> None:
        self.proc.stop()


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001 - not up yet
        return False


def _with_workers(bench: Bench, fault: str, broker_url: str, act, note: str = "") -> Row:
    """Reset, a slow relay, a worker and a beat on `broker_url`; `act(spawn, relay)` inflicts the fault."""
    bench.reset()
    relay = Relay()
    relay.handler.delay = 0.05
    env = bench.env(relay.port, DIGEST_BROKER_URL=broker_url, DIGEST_QUEUE=f"faults-{uuid.uuid4().hex[:8]}",
                    DIGEST_TICK_SECONDS=2, DIGEST_SWEEP_SECONDS=2, DIGEST_STALE_SECONDS=4, DIGEST_BATCH_SIZE=10)
    procs: list[Proc] = []

    def spawn(kind: str) -> Proc:
        start = start_beat if kind == "beat" else start_worker
        procs.append(start({**env, "DIGEST_DATA_DIR": str(bench.tmp / f"{kind}-{len(procs)}")},
                           bench.tmp / f"{kind}-{len(procs)}.log"))
        return procs[-1]

    started = time.monotonic()
    try:
        act(spawn, relay)
        wait_until(lambda: not bench.unfinished() and len(relay.handler.messages) >= 1, bench.lease + 90,
                   interval=0.5, what="every digest finished")
    finally:
        for proc in procs:
            proc.stop()
        relay.stop()
    return bench.tally(fault, relay.handler, started, note)


def fault_worker_killed(bench: Bench, broker_url: str) -> Row:
    def act(spawn, relay):
        victim = spawn("worker")
        spawn("beat")
        wait_until(lambda: len(relay.handler.messages) >= bench.n // 3, 60, what="the batch under way")
        victim.kill()  # SIGKILL to the worker and its pool child, mid-batch
        relay.handler.delay = 0
        spawn("worker")

    row = _with_workers(bench, f"worker killed (kill -9) mid-batch, lease {bench.lease} s", broker_url, act,
                        "unknown outcomes count the message in the relay's hands when the worker died")
    row.unknown += 1  # it may have had the 250 without the commit: resent after the lease, same Message-ID
    return row


def fault_redis_restart(bench: Bench, redis: PrivateRedis) -> Row:
    def act(spawn, relay):
        spawn("worker")
        spawn("beat")
        wait_until(lambda: len(relay.handler.messages) >= bench.n // 3, 60, what="the run under way")
        redis.restart()
        relay.handler.delay = 0

    return _with_workers(bench, "Redis restarted mid-run (queued tasks lost)", redis.url, act)


def print_table(rows: list[Row]) -> None:
    head = ["fault", "subscribers", "received", "duplicates", "unknown outcomes", "lost", "refused (5xx)", "seconds"]
    cells = [[r.fault, r.subscribers, r.received, r.duplicates, r.unknown, r.lost, r.refused, f"{r.seconds:.1f}"]
             for r in rows]
    widths = [max(len(str(x)) for x in column) for column in zip(head, *cells)]
    for line in [head, ["-" * w for w in widths], *cells]:
        print("  ".join(str(x).ljust(w) if i == 0 else str(x).rjust(w) for i, (x, w) in enumerate(zip(line, widths))))
    for r in rows:
        if r.note:
            print(f"  {r.fault}: {r.note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=40)
    parser.add_argument("--lease", type=int, default=60, help="DIGEST_LEASE_SECONDS (default 60, as shipped)")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test", help="an admin URL")
    args = parser.parse_args()
    import psycopg

    name = f"digest_faults_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = args.pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
    tmp = Path(tempfile.mkdtemp(prefix="digest-faults-"))
    redis = PrivateRedis(tmp) if shutil.which("redis-server") else None
    try:
        bench = Bench(url, args.subscribers, args.lease, tmp)
        rows = [fault_drop_after_data(bench), fault_refused_relay(bench), fault_trickle(bench),
                fault_proxy_killed(bench), fault_replies(bench), fault_database_lost(bench, args.pg)]
        if redis is not None:
            rows += [fault_worker_killed(bench, redis.url), fault_redis_restart(bench, redis)]
        print_table(rows)
        if redis is None:
            print("skipped: killed worker and Redis restart (redis-server is not on the PATH)")
    finally:
        if redis is not None:
            redis.stop()
        get_engine(url).dispose()
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
