"""When a subscriber's edition is due, in their own zone: the rule, and the next UTC moment it holds.

The rule (unchanged from the first scheduler): an active subscriber is due
once their local clock has reached their send hour on their local date;
weekly subscribers only on Mondays. The edition is that local date.

`get_next_send` turns the rule into one UTC instant to store
(subscribers.next_send_at), so a tick finds who is due through an index
instead of converting every subscriber's clock. The stored instant is never
later than the first moment the rule holds (it may be earlier: the tick then
checks the rule, finds the subscriber not due yet and stores a later one), so
the index never hides a due subscriber. Pure: zoneinfo and plain values.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc
WEEKLY_DAY = 0  # weekly subscribers get their roll-up on Monday, local time
_LOOKAHEAD_DAYS = 16  # more than a week, plus a day a zone may skip (Pacific/Apia, 2011-12-30)
# ZoneInfo keeps only 8 zones alive by itself; a tick goes through hundreds, and reading one from disk costs
# far more than converting a time with it.
_zone = lru_cache(maxsize=2048)(ZoneInfo)


def local_date(timezone: str, now: dt.datetime) -> dt.date:
    """The date on the subscriber's wall clock at `now`."""
    return now.astimezone(_zone(timezone)).date()


def get_due_edition(timezone: str, send_hour: int, cadence: str, now: dt.datetime) -> dt.date | None:
    """The local edition date the subscriber is due for at `now`, or None before their hour (or off their day)."""
    local = now.astimezone(_zone(timezone))
    if local.hour < send_hour or cadence == "weekly" and local.weekday() != WEEKLY_DAY:
        return None
    return local.date()


def get_next_send(timezone: str, send_hour: int, cadence: str, from_date: dt.date) -> dt.datetime:
    """The first UTC instant on a local date from `from_date` on at which the subscriber is due.

    That is `send_hour`:00 on the first date of their cadence. When that wall
    time does not exist (a spring-forward gap), fold=0 reads it with the offset
    before the change, which is the very instant the clock jumps past it: the
    first moment the local hour reaches `send_hour`. When it happens twice
    (fall back), fold=0 is the first time. A date a zone skips (Pacific/Apia
    went from 2011-12-29 to 2011-12-31) gives an instant on a later date and is
    passed over. Offsets come from the zone's rules for that date, so a change
    of law (America/Caracas, 2016-05-01) moves the instant with it.
    """
    zone = _zone(timezone)
    day = from_date
    for _ in range(_LOOKAHEAD_DAYS):
        if cadence != "weekly" or day.weekday() == WEEKLY_DAY:
            when = dt.datetime.combine(day, dt.time(send_hour), zone).astimezone(UTC)
            if when.astimezone(zone).date() <= day:
                return when
        day += dt.timedelta(days=1)
    raise ValueError(f"no send time for {timezone} {send_hour:02d}:00 {cadence} within {_LOOKAHEAD_DAYS} days "
                     f"of {from_date}")


def get_first_send(timezone: str, send_hour: int, cadence: str, now: dt.datetime) -> dt.datetime:
    """The next send of a profile that changed (or started) at `now`: from its local date today.

    It is in the past when today's hour has gone by: the subscriber is due at
    once unless today's edition is already finished, as it always was.
    """
    return get_next_send(timezone, send_hour, cadence, local_date(timezone, now))


def get_send_after(timezone: str, send_hour: int, cadence: str, edition: dt.date) -> dt.datetime:
    """The next send once the edition of local date `edition` is finished (sent, skipped, failed, suppressed)."""
    return get_next_send(timezone, send_hour, cadence, edition + dt.timedelta(days=1))
