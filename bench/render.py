"""Rendering benchmark: the once-per-edition card build and the per-subscriber message build.

Prints, as the median of --runs:
- the edition build: template shell + 2,000 paper cards (LaTeX conversion and CSS inlining), in seconds;
- the per-subscriber cost of the final message bytes for a 20-paper digest
  (content + assembly + MIME, no ranking, no SMTP), in milliseconds;
- for comparison, the stdlib `EmailMessage` MIME build of the same content, and premailer per message.

    python bench/render.py
    python bench/render.py --papers 500 --subscribers 100 --runs 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import time
from email.message import EmailMessage
from types import SimpleNamespace

from digest.email import message, render
from digest.email.compose import feedback_urls
from digest.config import load_settings
from digest.subscriptions import make_token
from digest.tokens import make_edition_token

from benchdata import SEEDS, require
TOPICS = ["LLM quantization", "efficient attention", "sparse matrices"]
NOW = dt.datetime(2026, 11, 28, 7, tzinfo=dt.timezone.utc)
LATEX = [r" in $O(n^2)$ time", r" with $\alpha$-divergence", r" for Schr\"odinger operators", ""]


def bench_settings():
    return load_settings({"DIGEST_SECRET_KEY": "bench-secret-key-0123456789",
                          "DIGEST_FROM": "Paper Digest <digest@digest.example.org>",
                          "DIGEST_BASE_URL": "https://digest.example.org"}, read_dotenv=False)


CATEGORIES = [["cs.LG", "cs.AI", "stat.ML"], ["math-ph", "math.AP", "math.MP"], ["cs.CL"], ["quant-ph", "cs.ET"]]


def papers(n: int) -> list[SimpleNamespace]:
    """n paper rows cycled from the bundled seeds, a quarter of them with LaTeX in the title; arXiv ids,
    categories, dates, and now and then a comment, a journal reference, upvotes and stars."""
    seeds = json.loads(require([SEEDS], "seed papers")[0].read_text())
    rows = []
    for i in range(n):
        seed = seeds[i % len(seeds)]
        categories = CATEGORIES[i % 4]
        extra = {"primary_category": categories[0], "announce_type": "cross" if i % 7 == 0 else "new",
                 "comment": "24 pages, 5 figures" if i % 3 == 0 else None,
                 "journal_ref": "NeurIPS 2024" if i % 11 == 0 else None}
        if i % 5 == 0:
            extra["github_repo"] = "org/repo"
        rows.append(SimpleNamespace(
            id=i + 1, key=f"arxiv:2411.{i:05d}", version=1 + i % 3, title=seed["title"] + LATEX[i % 4],
            abstract=seed["abstract"], content_hash=str(i), authors=[f"Author {k}" for k in range(2 + i % 9)],
            url=f"https://arxiv.org/abs/2411.{i:05d}", pdf_url=f"https://arxiv.org/pdf/2411.{i:05d}", extra=extra,
            categories=categories, announced_at=NOW - dt.timedelta(hours=11), upvotes=(i * 7) % 40 if i % 4 == 0 else 0,
            github_stars=(i * 131) % 3000 if i % 5 == 0 else 0))
    return rows


def edition_build(rows) -> tuple[float, render.EditionRenderer]:
    start = time.perf_counter()
    edition = render.EditionRenderer()
    edition.prepare([edition.card_for(row) for row in rows])
    return time.perf_counter() - start, edition


def digest_bytes(settings, edition, rows, subscriber_id: int, picks) -> bytes:
    """What delivery does per subscriber after ranking: content (with each card's signed feedback links and
    the edition's web page link; one reader in ten follows two authors), assembly, headers, MIME."""
    key = settings.signing_key()
    content = render.DigestContent(
        email=f"user{subscriber_id}@example.org", edition_date=NOW.date(), topics=TOPICS,
        view_url=f"{settings.base_url}/edition/{make_edition_token(key, subscriber_id + 1, NOW.date())}",
        followed=("Author 3", "A. 7") if subscriber_id % 10 == 0 else (),
        cards=[render.Card(edition.card_for(rows[i]), f"matches “{TOPICS[i % 3]}”", TOPICS[i % 3],
                           *feedback_urls(settings.base_url, key, subscriber_id + 1, rows[i].id)) for i in picks],
        unsubscribe_url=f"{settings.base_url}/unsubscribe/{make_token(key, 'unsubscribe', subscriber_id)}",
        preferences_url=f"{settings.base_url}/preferences/{make_token(key, 'preferences', subscriber_id)}")
    rendered = edition.assemble(content)
    envelope = message.Envelope(
        sender=settings.from_address, to=message.safe_address(content.email, "Reader"),
        message_id=f"<digest.{subscriber_id}.2026-11-28@digest.example.org>", date=NOW,
        list_id="<digest.digest.example.org>", unsubscribe_url=content.unsubscribe_url, edition=NOW.date())
    return message.build_bytes(rendered, envelope)


def stdlib_bytes(rendered: render.Rendered) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Paper Digest <digest@digest.example.org>", "u@example.org", rendered.subject
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg.as_bytes()


def per_message(fn, count: int) -> float:
    start = time.perf_counter()
    for n in range(count):
        fn(n)
    return (time.perf_counter() - start) / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--papers", type=int, default=2000)
    parser.add_argument("--subscribers", type=int, default=300)
    parser.add_argument("--cards", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    settings = bench_settings()
    rows = papers(args.papers)
    rng = random.Random(7)
    picks = [rng.sample(range(len(rows)), args.cards) for _ in range(args.subscribers)]

    edition_times, ours, stdlib, sizes = [], [], [], []
    for _ in range(args.runs):
        seconds, edition = edition_build(rows)
        edition_times.append(seconds)
        ours.append(per_message(lambda n: digest_bytes(settings, edition, rows, n, picks[n]), args.subscribers))
        sizes.append(len(digest_bytes(settings, edition, rows, 0, picks[0])))
        rendered = [edition.assemble(render.DigestContent(
            email="u@example.org", edition_date=NOW.date(), topics=TOPICS,
            cards=[render.Card(edition.cards[rows[i].id], "r") for i in p])) for p in picks[:50]]
        stdlib.append(per_message(lambda n: stdlib_bytes(rendered[n]), len(rendered)))
    premailer = per_message(lambda n: render.inline_css(rendered[n].html), 5)

    print(f"edition build, {args.papers} papers (shell + cards, LaTeX + premailer once): "
          f"{statistics.median(edition_times):.2f} s  (runs: {', '.join(f'{t:.2f}' for t in edition_times)})")
    print(f"per subscriber, {args.cards}-paper digest to final bytes (content + assembly + MIME): "
          f"{statistics.median(ours):.3f} ms  (runs: {', '.join(f'{t:.3f}' for t in ours)}); "
          f"message {statistics.median(sizes) / 1000:.1f} kB")
    print(f"  for comparison, stdlib EmailMessage MIME build alone: {statistics.median(stdlib):.2f} ms; "
          f"premailer per message: {premailer:.1f} ms")


if __name__ == "__main__":
    main()
