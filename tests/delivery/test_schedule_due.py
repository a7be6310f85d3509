"""Who is due when: each subscriber at their local hour, across DST and odd offsets (frozen clocks)."""

from __future__ import annotations

import datetime as dt

import pytest
from freezegun import freeze_time

from digest import delivery
from digest.db import session_factory, utcnow
from digest.subscriptions import subscribe, validate_preferences

UTC = dt.timezone.utc


def add(session, email, tz, hour, cadence="daily"):
    prefs = validate_preferences(topics=["x"], timezone=tz, send_hour=hour, cadence=cadence)
    return subscribe(session, email, prefs, dt.datetime(2026, 1, 1, tzinfo=UTC))[0]


def due_emails(session, when: str) -> list[tuple[str, str]]:
    with freeze_time(when):
        return [(s.email, d.isoformat()) for s, d in delivery.get_due(session, utcnow(), respect_hour=True)]


@pytest.mark.parametrize("when, expected", [
    # New York springs forward on 2026-03-08: 02:00 EST becomes 03:00 EDT (UTC-4).
    ("2026-03-08T10:59:00Z", []),                                     # 06:59 EDT
    ("2026-03-08T11:00:00Z", [("ny@example.org", "2026-03-08")]),     # 07:00 EDT
    ("2026-03-07T11:59:00Z", []),                                     # 06:59 EST the day before
    ("2026-03-07T12:00:00Z", [("ny@example.org", "2026-03-07")]),     # 07:00 EST
    # ... and falls back on 2026-11-01: 07:00 EST is 12:00 UTC.
    ("2026-11-01T11:30:00Z", []),
    ("2026-11-01T12:00:00Z", [("ny@example.org", "2026-11-01")]),
])
def test_new_york_subscriber_is_due_at_seven_local_on_both_dst_transitions(sqlite_url, when, expected):
    with session_factory(sqlite_url)() as session:
        add(session, "ny@example.org", "America/New_York", 7)
        session.commit()
        assert due_emails(session, when) == expected


def test_send_hour_that_does_not_exist_on_spring_forward_day_is_still_due(sqlite_url):
    with session_factory(sqlite_url)() as session:
        add(session, "early@example.org", "America/New_York", 2)  # 02:00 does not exist on 2026-03-08
        session.commit()
        assert due_emails(session, "2026-03-08T06:59:00Z") == []  # 01:59 EST
        assert due_emails(session, "2026-03-08T07:00:00Z") == [("early@example.org", "2026-03-08")]  # 03:00 EDT


def test_half_and_quarter_hour_zones(sqlite_url):
    with session_factory(sqlite_url)() as session:
        add(session, "kolkata@example.org", "Asia/Kolkata", 7)      # UTC+05:30
        add(session, "chatham@example.org", "Pacific/Chatham", 7)   # UTC+13:45 in (southern) summer
        session.commit()
        # 07:00 in Kolkata on 2026-06-15 is 01:30 UTC.
        assert ("kolkata@example.org", "2026-06-15") not in due_emails(session, "2026-06-15T01:29:00Z")
        assert ("kolkata@example.org", "2026-06-15") in due_emails(session, "2026-06-15T01:30:00Z")
        # 07:00 in Chatham on 2026-01-10 (CHADT, +13:45) is 17:15 UTC on 2026-01-09.
        assert ("chatham@example.org", "2026-01-10") not in due_emails(session, "2026-01-09T17:14:00Z")
        assert ("chatham@example.org", "2026-01-10") in due_emails(session, "2026-01-09T17:15:00Z")
        # In July (CHAST, +12:45) the same hour is 18:15 UTC the day before.
        assert ("chatham@example.org", "2026-07-10") not in due_emails(session, "2026-07-09T18:14:00Z")
        assert ("chatham@example.org", "2026-07-10") in due_emails(session, "2026-07-09T18:15:00Z")


def test_finished_edition_is_not_due_again_on_the_repeated_fall_back_hour(sqlite_url):
    with session_factory(sqlite_url)() as session:
        add(session, "ny@example.org", "America/New_York", 1)
        session.commit()
        # 01:00-01:59 happens twice on 2026-11-01 (EDT then EST).
        with freeze_time("2026-11-01T05:30:00Z"):  # 01:30 EDT
            due = delivery.get_due(session, utcnow(), respect_hour=True)
            ids = delivery.bulk_plan(session, due, utcnow())
            assert len(ids) == 1
            delivery.claim(session, ids[0], utcnow(), 60)
            row = session.get(delivery.Digest, ids[0])
            row.state = "sent"
            session.commit()
        assert due_emails(session, "2026-11-01T06:30:00Z") == []  # 01:30 EST, the same local date


def test_weekly_subscriber_is_due_on_monday_only(sqlite_url):
    with session_factory(sqlite_url)() as session:
        add(session, "weekly@example.org", "Europe/Berlin", 8, cadence="weekly")
        session.commit()
        assert due_emails(session, "2026-11-29T09:00:00Z") == []  # Sunday 10:00 in Berlin
        assert due_emails(session, "2026-11-30T07:00:00Z") == [("weekly@example.org", "2026-11-30")]  # Monday 08:00
