"""When a paper was first announced, and whether an edition's window counts it as new."""

from __future__ import annotations

import datetime as dt

import pytest

from digest.sources import announcements as ann

UTC = dt.timezone.utc
THU = dt.datetime(2024, 11, 28, 5, 0, tzinfo=UTC)  # the all-archives capture's announcement
SINCE = THU - dt.timedelta(days=3)


@pytest.mark.parametrize("key, month", [
    ("arxiv:2411.17730", dt.datetime(2024, 11, 1, tzinfo=UTC)),   # new style, five digits (2015 on)
    ("arxiv:0704.0001", dt.datetime(2007, 4, 1, tzinfo=UTC)),     # the first new-style id
    ("arxiv:hep-th/9901001", dt.datetime(1999, 1, 1, tzinfo=UTC)),
    ("arxiv:math.PR/0601001", dt.datetime(2006, 1, 1, tzinfo=UTC)),
    ("arxiv:quant-ph/0201082", dt.datetime(2002, 1, 1, tzinfo=UTC)),
    ("arxiv:2413.00001", None),   # no month 13
    ("doi:10.1101/2024.11.01.1", None), ("url:example.org/paper", None), (None, None),
])
def test_an_arxiv_id_tells_the_month_the_paper_was_submitted_in(key, month):
    assert ann.id_month(key) == month


def test_the_api_v1_date_is_the_first_announcement_whatever_else_is_known():
    published = dt.datetime(2017, 7, 27, 8, 18, tzinfo=UTC)
    assert ann.first_announced("arxiv:1707.08567", None, None, published, THU) == published
    assert ann.published({"published": "2017-07-27T08:18:33+00:00"}) == dt.datetime(2017, 7, 27, 8, 18, 33, tzinfo=UTC)
    assert ann.published({"published": "not a date"}) is None and ann.published(None) is None
    # v2 of a paper first announced in 2017: not new in a window of 2024, whatever the source says of it.
    assert ann.is_before_window(None, published, SINCE)


def test_a_new_or_cross_announcement_is_the_first_one_in_its_listing():
    assert ann.first_announced("arxiv:2411.17730", "new", THU, None, THU + dt.timedelta(hours=1)) == THU
    assert ann.first_announced("arxiv:2202.06515", "cross", None, None, THU) == THU  # read time without a date
    # A cross-list of a 2022 paper is new to the category it joins, once.
    assert not ann.is_before_window("cross", ann.first_announced("arxiv:2202.06515", "cross", THU, None, THU), SINCE)


def test_a_replacement_was_announced_before_unless_its_id_month_began_inside_the_window():
    old = ann.first_announced("arxiv:hep-th/9901001", "replace", THU, None, THU)
    assert old == dt.datetime(1999, 1, 1, tzinfo=UTC) and ann.is_before_window("replace", old, SINCE)
    this_month = ann.first_announced("arxiv:2411.15785", "replace-cross", THU, None, THU)
    assert this_month == dt.datetime(2024, 11, 1, tzinfo=UTC) and ann.is_before_window("replace", this_month, SINCE)
    # 3 December: a replacement of a December paper was first announced on the 1st or later, inside the window.
    tuesday = dt.datetime(2024, 12, 3, 5, 0, tzinfo=UTC)
    december = ann.first_announced("arxiv:2412.00100", "replace", tuesday, None, tuesday)
    assert not ann.is_before_window("replace", december, tuesday - dt.timedelta(days=3))
    # No id, no date: earlier, by its own word.
    assert ann.first_announced("doi:10.1/x", "replace", THU, None, THU) is None
    assert ann.is_before_window("replace", None, SINCE)


def test_a_source_that_does_not_say_is_new_unless_the_id_proves_it_old():
    hf_old = ann.first_announced("arxiv:2310.06825", None, None, None, THU)
    assert hf_old == dt.datetime(2023, 10, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert ann.is_before_window(None, hf_old, SINCE)
    assert ann.first_announced("arxiv:2411.17730", None, None, None, THU) == THU
    assert not ann.is_before_window(None, THU, SINCE)
    assert ann.first_announced("url:example.org/a-post", None, None, None, THU) == THU
    # Submitted on the last day of October, announced on Sunday 3 November: still new on the 4th.
    monday = dt.datetime(2024, 11, 4, 12, 0, tzinfo=UTC)
    end_of_october = ann.first_announced("arxiv:2410.24999", None, None, None, monday)
    assert not ann.is_before_window(None, end_of_october, monday - dt.timedelta(days=3))
    # Unknown is never taken for old when the source says nothing.
    assert not ann.is_before_window(None, None, SINCE)
