"""Real Celery worker and beat processes for integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

CELERY = str(Path(sys.executable).with_name("celery"))
REDIS_START = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379", "--save", "",
               "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log"]


class Proc:
    """A child process in its own session, so kill() can take its pool children too."""

    def __init__(self, args: list[str], env: dict, log: Path):
        self.log = log
        self._fh = log.open("wb")
        self.popen = subprocess.Popen(args, env={**os.environ, **env}, stdout=self._fh, stderr=subprocess.STDOUT,
                                      start_new_session=True)

    def kill(self, sig=signal.SIGKILL) -> None:
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM (warm shutdown), then SIGKILL if it does not go."""
        if self.popen.poll() is None:
            self.kill(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                self.popen.wait(10)
        self.kill()  # leftover pool children
        self._fh.close()

    def output(self) -> str:
        self._fh.flush()
        return self.log.read_text(errors="replace")


def start_worker(env: dict, log: Path, concurrency: int = 1, name: str = "w") -> Proc:
    args = [CELERY, "-A", "scheduler", "worker", "--loglevel", "INFO", "--concurrency", str(concurrency),
            "-n", f"{name}-{os.getpid()}-{time.monotonic_ns()}@%h", "--without-gossip", "--without-mingle",
            "--without-heartbeat"]
    return Proc(args, env, log)


def start_beat(env: dict, log: Path) -> Proc:
    return Proc([CELERY, "-A", "scheduler", "beat", "--loglevel", "INFO"], env, log)


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def restart_redis() -> None:
    """Stop the machine's Redis (it keeps nothing on disk) and start it again."""
    subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"], capture_output=True, timeout=10)
    time.sleep(1.0)
    subprocess.run(REDIS_START, check=True, capture_output=True, timeout=20)
    wait_until(lambda: subprocess.run(["redis-cli", "-p", "6379", "ping"], capture_output=True,
                                      text=True).stdout.strip() == "PONG", 20, what="redis back")
