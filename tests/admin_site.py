"""An installation as the operator dashboard sees it, written straight into the tables.

`seed_dashboard(settings, now)` writes subscribers in every status and cadence,
30 days of digests ending `now` (today's spelled out row by row, the older
ones by `old_state`), failures with the relay's reply, bounces and
complaints, a healthy and a failing source, and papers first seen over the
last days. What it wrote, in plain Python, is what the figures must show.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from digest.db import session_factory
from digest.models import Digest, InboundMessage, Paper, Source, Subscriber

UTC = dt.timezone.utc
# (email, status, cadence)
PEOPLE = [(f"reader{n}@example.org", "active", "daily") for n in range(8)] + [
    ("weekly0@example.org", "active", "weekly"), ("weekly1@example.org", "active", "weekly"),
    ("gone@example.org", "unsubscribed", "daily"), ("bounced@example.org", "bounced", "daily"),
    ("new@example.org", "pending", "weekly"), ("spam@example.org", "complained", "daily")]
REFUSED = "550 5.1.1 <reader4@example.org>: Recipient address rejected: User unknown in virtual mailbox table"
POLICY = "554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org"
# Today's digests: (email, state, reason, failure class, relay reply)
TODAY = [("reader0@example.org", "sent", None, None, None),
         ("reader1@example.org", "sent", None, None, None),
         ("reader2@example.org", "skipped", "nothing relevant today (best 0.12 < 0.30)", None, None),
         ("reader3@example.org", "skipped", "no new papers today (arXiv does not announce on Saturdays)", None,
          None),
         ("reader4@example.org", "failed", "refused by the recipient's server", "recipient", REFUSED),
         ("reader5@example.org", "pending", None, None, None),
         ("reader6@example.org", "sending", None, None, None),
         ("weekly0@example.org", "failed", "refused: our sending is blocked", "sender", POLICY),
         ("gone@example.org", "suppressed", "subscriber is unsubscribed", None, None),
         ("bounced@example.org", "suppressed", "subscriber is bounced", None, None)]
DAILY = [p[0] for p in PEOPLE if p[1] == "active" and p[2] == "daily"]
# New papers per day (days ago -> count) from each source; older papers count for nothing in the window.
PAPERS = {"arxiv-cs-lg": {0: 5, 1: 40, 2: 35, 3: 0, 4: 38, 10: 20, 29: 12, 31: 50}, "openreview": {0: 3, 1: 9, 5: 2}}


def old_state(days_ago: int, n: int) -> tuple[str, str | None]:
    """An older edition's outcome for the n-th daily reader: mostly sent, weekend-like empty days, a failure."""
    if days_ago % 7 == 3:
        return "skipped", "no new papers today"
    if n == 7:
        return "skipped", "nothing relevant today"
    if n == 6 and days_ago % 5 == 0:
        return "failed", "gave up after 5 tries"
    return "sent", None


@dataclass
class Seeded:
    today: dt.date
    ids: dict[str, int]


def seed_dashboard(settings, now: dt.datetime) -> Seeded:
    factory = session_factory(settings.database_url)
    today = now.date()
    with factory.begin() as session:
        people = {}
        for email, status, cadence in PEOPLE:
            people[email] = Subscriber(email=email, email_key=email, status=status, cadence=cadence,
                                       topics=["graph neural networks"], created_at=now - dt.timedelta(days=60))
        session.add_all(people.values())
        session.flush()
        for email, state, reason, blame, reply in TODAY:
            session.add(_digest(people[email].id, today, state, now, reason, blame, reply))
        for days_ago in range(1, 30):
            for n, email in enumerate(DAILY):
                state, reason = old_state(days_ago, n)
                session.add(_digest(people[email].id, today - dt.timedelta(days=days_ago), state,
                                    now - dt.timedelta(days=days_ago), reason, "unknown" if state == "failed" else None,
                                    "421 4.4.2 connection dropped" if state == "failed" else None))
        _seed_returned(session, people, now)
        _seed_sources(session, now)
        return Seeded(today, {e: s.id for e, s in people.items()})


def _digest(sid, date, state, when, reason=None, blame=None, reply=None) -> Digest:
    return Digest(subscriber_id=sid, edition_date=date, state=state, reason=reason, failure_class=blame,
                  last_error=reply, attempts=1 if state in ("sent", "failed") else 0, created_at=when,
                  updated_at=when, sent_at=when if state == "sent" else None, paper_count=3 if state == "sent" else 0)


def _seed_returned(session, people, now) -> None:
    rows = [("bounce", "MAILER-DAEMON@mx.example.org", "5.1.1", "recipient", "bounced@example.org", 2),
            ("bounce", "postmaster@example.net", "4.2.2", "transient", "reader3@example.org", 30),
            ("complaint", "arf@feedback.example.com", "abuse", None, "spam@example.org", 5),
            ("bounce", "MAILER-DAEMON@old.example.org", "5.1.1", "recipient", None, 24 * 40)]  # too old
    for n, (kind, sender, status, blame, who, hours) in enumerate(rows):
        session.add(InboundMessage(message_id=f"<r{n}@example.org>", rcpt="bounces@digest.example.org", via="pipe",
                                   received_at=now - dt.timedelta(hours=hours), kind=kind, sender=sender,
                                   subject="Undelivered Mail Returned to Sender", status=status, blame=blame,
                                   outcome=f"{kind}: marked {who or 'nobody'}",
                                   subscriber_id=people[who].id if who else None, size=2000))


def _seed_sources(session, now) -> None:
    session.add(Source(name="arxiv-cs-lg", url="https://rss.arxiv.org/rss/cs.LG", kind="arxiv-rss",
                       last_success_at=now - dt.timedelta(hours=1), last_status="ok", consecutive_failures=0,
                       last_counts={"new": 5, "updated": 2, "unchanged": 300, "problems": 1},
                       created_at=now - dt.timedelta(days=60)))
    session.add(Source(name="openreview", url="https://openreview.net/feed", kind="rss",
                       last_success_at=now - dt.timedelta(days=2), last_error="HTTP 503 Service Unavailable",
                       last_error_at=now - dt.timedelta(hours=2), last_status="error", consecutive_failures=3,
                       last_counts={"new": 3}, created_at=now - dt.timedelta(days=60)))
    n = 0
    for source, per_day in PAPERS.items():
        for days_ago, count in per_day.items():
            seen = now - dt.timedelta(days=days_ago)
            for _ in range(count):
                n += 1
                session.add(Paper(key=f"test:{n}", title=f"Paper {n}", source_names=[source], first_seen_at=seen,
                                  updated_at=seen, content_hash=str(n)))
