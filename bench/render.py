"""Rendering benchmark: the once-per-edition card build and the per-subscriber message build.

Prints, as the median of --runs (wall clock; CPU time beside it):
- the edition build: template shell + 2,000 paper cards (LaTeX conversion and CSS inlining), in seconds;
- the per-subscriber cost of the final message bytes for a 20-paper digest, as delivery builds it after ranking
  (`compose.build_content` from picks that carry a reason and a key sentence, as ranking writes them;
  assembly; `compose.message_bytes`: headers + MIME; no ranking, no SMTP), in milliseconds;
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

from digest.email import compose, render
from digest.config import load_settings
from digest.latex import readable
from digest.ranking import Pick
from digest.ranking.quotes import closest_sentence

from benchdata import SEEDS, require
TOPICS = ["LLM quantization", "efficient attention", "sparse matrices"]
NOW = dt.datetime(2026, 11, 28, 7, tzinfo=dt.timezone.utc)
LATEX = [r" in $O(n^2)$ time", r" with $\alpha$-divergence", r" for Schr\"odinger operators", ""]


def bench_settings():
    return load_settings({"DIGEST_SECRET_KEY": "bench-secret-key-0123456789",
                          "DIGEST_FROM": "Paper Digest <digest@digest.example.org>",
                          "DIGEST_BASE_URL": "https://digest.example.org"}, read_dotenv=False)


CATEGORIES = [["cs.LG", "cs.AI", "stat.ML"], ["math-ph", "math.AP", "math.MP"], ["cs.CL"], ["quant-ph", "cs.ET"]]


def paper_rows(n: int) -> list[SimpleNamespace]:
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


def ranked(rows, picks: list[list[int]]) -> list[list[Pick]]:
    """Each reader's picks as ranking hands them to delivery: under one of the reader's topics, with its key
    sentence (the abstract sentence closest to the topic, as ranking finds it without stored vectors) and a
    reason; by meaning, the reason quotes that sentence (the card shows it once, in bold). Ranking's work:
    written once per (topic, paper), before the clock starts."""
    written: dict[tuple[int, str], Pick] = {}
    out = []
    for chosen in picks:
        mine = []
        for rank, i in enumerate(chosen):
            topic = TOPICS[i % 3]
            pick = written.get((i, topic))
            if pick is None:
                sentence = closest_sentence(readable(rows[i].abstract), None, topic)
                reason = (f"Close to your topic “{topic}”: “{sentence}”" if i % 2 else
                          f"Matches your topic “{topic}” on: “{topic.split()[0]}”")
                pick = written[i, topic] = Pick(rows[i].id, 0.0, reason, topic, [], sentence)
            mine.append(Pick(pick.paper_id, 1.0 - rank / 100, pick.reason, topic, [], pick.sentence))
        out.append(mine)
    return out


def digest_bytes(settings, edition, papers: dict, subscriber_id: int, picks: list[Pick]) -> bytes:
    """What delivery does per subscriber after ranking (digest.delivery.batch): content (each card's key
    sentence, signed feedback links, the edition's web page link; one reader in ten follows two authors),
    assembly, headers, MIME."""
    reader = SimpleNamespace(id=subscriber_id + 1, email=f"user{subscriber_id}@example.org", name="Reader",
                             topics=TOPICS, authors=["Author 3", "A. 7"] if subscriber_id % 10 == 0 else [])
    row = SimpleNamespace(id=subscriber_id + 1, edition_date=NOW.date(), message_id=None)
    content = compose.build_content(settings, reader, NOW.date(), picks, papers, edition)
    return compose.message_bytes(settings, row, reader, content, edition.assemble(content), NOW)


def stdlib_bytes(rendered: render.Rendered) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Paper Digest <digest@digest.example.org>", "u@example.org", rendered.subject
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg.as_bytes()


def per_message(fn, count: int) -> tuple[float, float]:
    """(wall clock, CPU time) per call, in milliseconds."""
    start, cpu = time.perf_counter(), time.process_time()
    for n in range(count):
        fn(n)
    return (time.perf_counter() - start) / count * 1000, (time.process_time() - cpu) / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--papers", type=int, default=2000)
    parser.add_argument("--subscribers", type=int, default=300)
    parser.add_argument("--cards", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    settings = bench_settings()
    rows = paper_rows(args.papers)
    rng = random.Random(7)
    picks = ranked(rows, [rng.sample(range(len(rows)), args.cards) for _ in range(args.subscribers)])
    papers = {row.id: row for row in rows}

    edition_times, ours, cpu, stdlib, sizes, assembly = [], [], [], [], [], []
    for _ in range(args.runs):
        seconds, edition = edition_build(rows)
        edition_times.append(seconds)
        contents = [compose.build_content(settings, SimpleNamespace(id=n, email=f"u{n}@example.org", topics=TOPICS,
                                                                    authors=[]), NOW.date(), picks[n], papers, edition)
                    for n in range(args.subscribers)]
        assembly.append(per_message(lambda n: edition.assemble(contents[n]), args.subscribers)[0])
        seconds, edition = edition_build(rows)  # the whole path below starts from empty card caches again
        wall, used = per_message(lambda n: digest_bytes(settings, edition, papers, n, picks[n]), args.subscribers)
        ours.append(wall)
        cpu.append(used)
        data = digest_bytes(settings, edition, papers, 0, picks[0])
        assert data.count(b'class="key"') == args.cards, "every card shows its key sentence"
        sizes.append(len(data))
        rendered = [edition.assemble(compose.build_content(settings, SimpleNamespace(
            id=1, email="u@example.org", topics=TOPICS, authors=[]), NOW.date(), p, papers, edition))
            for p in picks[:50]]
        stdlib.append(per_message(lambda n: stdlib_bytes(rendered[n]), len(rendered))[0])
    premailer = per_message(lambda n: render.inline_css(rendered[n].html), 5)[0]

    print(f"edition build, {args.papers} papers (shell + cards, LaTeX + premailer once): "
          f"{statistics.median(edition_times):.2f} s  (runs: {', '.join(f'{t:.2f}' for t in edition_times)})")
    print(f"per subscriber, {args.cards}-paper digest with key sentences to final bytes (content + assembly + MIME), "
          f"wall clock: {statistics.median(ours):.3f} ms  (runs: {', '.join(f'{t:.3f}' for t in ours)}); "
          f"CPU {statistics.median(cpu):.3f} ms; message {statistics.median(sizes) / 1000:.1f} kB")
    print(f"  of which assembly alone (EditionRenderer.assemble: cards, text part, HTML part; first use of each "
          f"card included): {statistics.median(assembly):.3f} ms  (runs: {', '.join(f'{t:.3f}' for t in assembly)})")
    print(f"  for comparison, stdlib EmailMessage MIME build alone: {statistics.median(stdlib):.2f} ms; "
          f"premailer per message: {premailer:.1f} ms")


if __name__ == "__main__":
    main()
