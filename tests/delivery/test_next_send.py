"""The stored next send (subscribers.next_send_at): set from the profile, moved on by the tick, read by index."""

from __future__ import annotations

import datetime as dt

import pytest
from freezegun import freeze_time
from sqlalchemy import select, update

from digest import jobs
from digest.db import session_factory, utcnow
from digest.delivery.senders import MemorySender
from digest.models import Digest, Subscriber
from digest.schedule import get_next_send
from digest.subscriptions import (confirm, get_subscriber, subscribe, unsubscribe, update_subscriber,
                                  validate_preferences)

UTC = dt.timezone.utc


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def add(settings, email, tz, hour, since, cadence="daily"):
    prefs = validate_preferences(topics=["x"], timezone=tz, send_hour=hour, cadence=cadence)
    with session_factory(settings.database_url).begin() as session:
        subscribe(session, email, prefs, at(since))


def tick(settings, when: str) -> list[tuple[str, str]]:
    """One scheduler tick at `when`, its digests delivered; the (email, edition) pairs it planned."""
    with freeze_time(when):
        ids = [i for batch in jobs.plan_tick(settings, utcnow()) for i in batch]
        if ids:
            jobs.deliver_ids(settings, ids, utcnow(), sender=MemorySender())
    return editions(settings, ids)


def editions(settings, ids=None) -> list[tuple[str, str]]:
    query = select(Subscriber.email, Digest.edition_date).join(Subscriber).order_by(Digest.id)
    if ids is not None:
        query = query.where(Digest.id.in_(ids))
    with session_factory(settings.database_url)() as session:
        return [(email, date.isoformat()) for email, date in session.execute(query)]


def next_send(settings, email) -> dt.datetime:
    with session_factory(settings.database_url)() as session:
        return get_subscriber(session, email).next_send_at


def test_next_send_is_the_first_moment_the_local_hour_is_reached():
    # 02:00 does not exist in New York on 2026-03-08: the clock jumps from 01:59 EST to 03:00 EDT at 07:00 UTC.
    assert get_next_send("America/New_York", 2, "daily", dt.date(2026, 3, 8)) == at("2026-03-08T07:00:00Z")
    # 01:00 happens twice on 2026-11-01: the first time (EDT) counts.
    assert get_next_send("America/New_York", 1, "daily", dt.date(2026, 11, 1)) == at("2026-11-01T05:00:00Z")
    assert get_next_send("Asia/Kolkata", 7, "daily", dt.date(2026, 6, 15)) == at("2026-06-15T01:30:00Z")
    assert get_next_send("Pacific/Chatham", 7, "daily", dt.date(2026, 1, 10)) == at("2026-01-09T17:15:00Z")
    # Weekly: the next Monday (2026-11-30) from a Sunday.
    assert get_next_send("Europe/Berlin", 8, "weekly", dt.date(2026, 11, 29)) == at("2026-11-30T07:00:00Z")


@pytest.mark.parametrize("zone, first, sends", [
    # Caracas moved from -04:30 to -04:00 on 2016-05-01 at 02:30: 07:00 comes half an hour earlier in UTC.
    ("America/Caracas", "2016-04-30", ("2016-04-30T11:30:00Z", "2016-05-01T11:00:00Z")),
    # Moscow moved from +04:00 to +03:00 on 2014-10-26 at 02:00: 07:00 comes an hour later in UTC.
    ("Europe/Moscow", "2014-10-25", ("2014-10-25T03:00:00Z", "2014-10-26T04:00:00Z")),
])
def test_a_change_of_offset_by_law_between_two_sends_moves_the_utc_send_time(settings, zone, first, sends):
    add(settings, "reader@example.org", zone, 7, since=f"{first}T00:00:00Z")
    one_minute = dt.timedelta(minutes=1)
    for send in sends:
        when = at(send)
        assert tick(settings, (when - one_minute).isoformat()) == []
        date = (when + dt.timedelta(hours=12)).date().isoformat()
        assert tick(settings, send) == [("reader@example.org", date)]
        assert tick(settings, (when + one_minute).isoformat()) == []  # finished: the next send is stored
    assert next_send(settings, "reader@example.org") > at(sends[1])


def test_a_day_the_zone_skips_is_no_edition_and_the_next_day_comes_on_time(settings):
    # Samoa went from Thursday 2011-12-29 to Saturday 2011-12-31 (UTC-10 to UTC+14).
    add(settings, "apia@example.org", "Pacific/Apia", 7, since="2011-12-28T00:00:00Z")
    assert tick(settings, "2011-12-29T17:00:00Z") == [("apia@example.org", "2011-12-29")]
    assert tick(settings, "2011-12-29T17:05:00Z") == []
    assert next_send(settings, "apia@example.org") == at("2011-12-30T17:00:00Z")  # 07:00 on the 31st, +14
    assert tick(settings, "2011-12-30T16:59:00Z") == []
    assert tick(settings, "2011-12-30T17:00:00Z") == [("apia@example.org", "2011-12-31")]


def test_a_worker_down_for_hours_or_days_sends_once_when_it_comes_back(settings):
    add(settings, "ny@example.org", "America/New_York", 7, since="2026-03-01T00:00:00Z")
    # Due at 12:00 UTC; the first tick comes at 20:00 (15:00 EST), then the beat catches up.
    sent = [e for when in ("2026-03-02T20:00:00Z", "2026-03-02T20:00:30Z", "2026-03-02T21:00:00Z")
            for e in tick(settings, when)]
    assert sent == [("ny@example.org", "2026-03-02")]
    assert next_send(settings, "ny@example.org") == at("2026-03-03T12:00:00Z")
    # Down three days: one edition for the day it comes back, none for the days it missed.
    assert tick(settings, "2026-03-06T13:00:00Z") == [("ny@example.org", "2026-03-06")]
    assert tick(settings, "2026-03-06T13:01:00Z") == []
    assert editions(settings) == [("ny@example.org", "2026-03-02"), ("ny@example.org", "2026-03-06")]


def test_a_manual_send_before_the_hour_is_today_s_edition_and_tomorrow_comes_as_usual(settings):
    add(settings, "berlin@example.org", "Europe/Berlin", 8, since="2026-11-20T00:00:00Z")
    with freeze_time("2026-11-26T05:00:00Z"):  # 06:00 in Berlin
        jobs.send_due(settings, utcnow(), respect_hour=False, emails=["berlin@example.org"], sender=MemorySender())
    assert editions(settings) == [("berlin@example.org", "2026-11-26")]
    assert tick(settings, "2026-11-26T07:00:00Z") == []  # 08:00: today's edition went out by hand
    assert next_send(settings, "berlin@example.org") == at("2026-11-27T07:00:00Z")
    assert tick(settings, "2026-11-27T07:00:00Z") == [("berlin@example.org", "2026-11-27")]


def test_a_manual_send_of_another_date_or_a_forced_resend_leaves_the_schedule_alone(settings):
    add(settings, "berlin@example.org", "Europe/Berlin", 8, since="2026-11-20T00:00:00Z")
    with freeze_time("2026-11-26T05:00:00Z"):
        jobs.send_due(settings, utcnow(), respect_hour=False, emails=["berlin@example.org"],
                      edition_date=dt.date(2026, 11, 20), sender=MemorySender())
    assert tick(settings, "2026-11-26T07:00:00Z") == [("berlin@example.org", "2026-11-26")]
    with freeze_time("2026-11-26T09:00:00Z"):
        forced = MemorySender()
        jobs.send_due(settings, utcnow(), respect_hour=False, emails=["berlin@example.org"], force=True,
                      sender=forced)
    assert tick(settings, "2026-11-26T10:00:00Z") == []
    assert tick(settings, "2026-11-27T07:00:00Z") == [("berlin@example.org", "2026-11-27")]


def test_a_changed_profile_takes_effect_from_the_next_edition(settings):
    add(settings, "weekly@example.org", "Europe/Berlin", 8, since="2026-11-25T09:00:00Z", cadence="weekly")
    assert next_send(settings, "weekly@example.org") == at("2026-11-30T07:00:00Z")  # Wednesday: next Monday
    assert tick(settings, "2026-11-25T10:00:00Z") == []
    with session_factory(settings.database_url).begin() as session:
        update_subscriber(session, get_subscriber(session, "weekly@example.org"), {"cadence": "daily"},
                          now=at("2026-11-25T10:30:00Z"))
    # Daily from today: today's 08:00 has passed, so today's edition goes at once, then tomorrow's.
    assert tick(settings, "2026-11-25T11:00:00Z") == [("weekly@example.org", "2026-11-25")]
    with session_factory(settings.database_url).begin() as session:
        update_subscriber(session, get_subscriber(session, "weekly@example.org"), {"send_hour": 13},
                          now=at("2026-11-25T11:30:00Z"))
    assert tick(settings, "2026-11-25T12:00:00Z") == []  # a later hour the same day: today is already sent
    assert next_send(settings, "weekly@example.org") == at("2026-11-26T12:00:00Z")
    assert tick(settings, "2026-11-26T12:00:00Z") == [("weekly@example.org", "2026-11-26")]


def test_a_reader_who_comes_back_is_scheduled_from_that_day(settings):
    add(settings, "back@example.org", "Asia/Kolkata", 7, since="2026-06-01T00:00:00Z")
    with session_factory(settings.database_url).begin() as session:
        unsubscribe(session, get_subscriber(session, "back@example.org"), at("2026-06-02T00:00:00Z"))
    assert tick(settings, "2026-06-10T02:00:00Z") == []
    with session_factory(settings.database_url).begin() as session:
        confirm(session, get_subscriber(session, "back@example.org"), at("2026-06-15T00:00:00Z"))
    assert next_send(settings, "back@example.org") == at("2026-06-15T01:30:00Z")
    assert tick(settings, "2026-06-15T01:30:00Z") == [("back@example.org", "2026-06-15")]


def test_a_row_written_without_a_next_send_is_scheduled_by_the_tick(settings):
    add(settings, "raw@example.org", "UTC", 6, since="2026-11-20T00:00:00Z")
    with session_factory(settings.database_url).begin() as session:
        session.execute(update(Subscriber).values(next_send_at=None))
    assert tick(settings, "2026-11-26T05:59:00Z") == []
    assert next_send(settings, "raw@example.org") == at("2026-11-26T06:00:00Z")
    assert tick(settings, "2026-11-26T06:00:00Z") == [("raw@example.org", "2026-11-26")]
