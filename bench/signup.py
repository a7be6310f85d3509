"""Sign-up timing: the public form answering a new address against an already active one.

The app runs on a SQLite file with its confirmation mail going to an aiosmtpd
sink in its own process (bench/smtp.py), and Redis for the rate limit (raised
out of the way). Requests alternate new / known; prints the median and the
quartiles of each over --requests.

    python bench/signup.py
    python bench/signup.py --requests 200
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from smtp import free_port, start_sink  # noqa: E402  (bench/smtp.py)

from digest import subscriptions as subs  # noqa: E402
from digest.config import load_settings  # noqa: E402
from digest.db import session_factory  # noqa: E402
from digest.web import create_app  # noqa: E402

FORM = {"topics": "graphs", "categories": "", "exclude": "", "authors": "", "timezone": "UTC", "send_hour": "7",
        "cadence": "daily", "max_papers": "10"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    port = free_port()
    sink = start_sink(port)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings({"DIGEST_DATA_DIR": tmp, "DIGEST_SECRET_KEY": "bench-secret-key-0123456789",
                                      "DIGEST_SMTP_URL": f"smtp://127.0.0.1:{port}", "DIGEST_BROKER_URL": args.redis},
                                     read_dotenv=False)
            app = create_app(settings)
            app.extensions["digest"].limiter.prefix = f"digest-bench:{time.time_ns()}"
            app.config["RATE_LIMITS"] = {"ip": (10**6, 3600), "address": (10**6, 3600)}
            now = dt.datetime.now(dt.timezone.utc)
            with session_factory(settings.database_url).begin() as session:
                for n in range(args.requests + 1):
                    subs.subscribe(session, f"known{n}@example.org", subs.validate_preferences(topics=["graphs"]), now)
            client = app.test_client()
            token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)
            client.post("/", data={**FORM, "email": "known-warmup@example.org", "csrf_token": token})
            times: dict[str, list[float]] = {"new": [], "known": []}
            for n in range(args.requests):
                for kind in ("new", "known") if n % 2 else ("known", "new"):
                    start = time.perf_counter()
                    page = client.post("/", data={**FORM, "email": f"{kind}{n}@example.org", "csrf_token": token})
                    times[kind].append(time.perf_counter() - start)
                    assert page.status_code == 200, page.text
    finally:
        sink.terminate()
    for kind, values in times.items():
        q1, median, q3 = statistics.quantiles([v * 1000 for v in values], n=4)
        print(f"{kind:>5} address: median {median:.1f} ms (quartiles {q1:.1f}-{q3:.1f} ms) over {len(values)} requests")


if __name__ == "__main__":
    main()
