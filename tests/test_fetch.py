"""digest.fetch against a real HTTP server on loopback (pytest-httpserver)."""

from __future__ import annotations

import gzip
import socket
import time

import pytest
from werkzeug import Response

from digest.fetch import USER_AGENT, FetchError, fetch, retry_after_seconds
from faultproxy import TrickleServer


class Sleeps(list):
    """Records the waits instead of sleeping them."""

    def __call__(self, seconds):
        self.append(seconds)


def test_get_sends_a_user_agent_naming_the_product_and_returns_validators(httpserver):
    httpserver.expect_request("/feed", headers={"User-Agent": USER_AGENT}).respond_with_data(
        b"<rss/>", headers={"ETag": '"v1"', "Last-Modified": "Thu, 28 Nov 2024 17:00:00 GMT"})
    result = fetch(httpserver.url_for("/feed"))
    assert (result.status, result.body, result.etag) == (200, b"<rss/>", '"v1"')
    assert result.last_modified == "Thu, 28 Nov 2024 17:00:00 GMT"
    assert USER_AGENT.startswith("digest/")


def test_conditional_get_304_costs_one_request_and_no_body(httpserver):
    httpserver.expect_ordered_request(
        "/feed", headers={"If-None-Match": '"v1"', "If-Modified-Since": "Thu, 28 Nov 2024 17:00:00 GMT"}
    ).respond_with_data(b"", status=304)
    result = fetch(httpserver.url_for("/feed"), etag='"v1"', last_modified="Thu, 28 Nov 2024 17:00:00 GMT")
    assert result.not_modified and result.body == b"" and result.etag == '"v1"'
    assert len(httpserver.log) == 1


def test_429_honours_retry_after(httpserver):
    httpserver.expect_ordered_request("/feed").respond_with_data("slow down", status=429, headers={"Retry-After": "7"})
    httpserver.expect_ordered_request("/feed").respond_with_data(b"ok")
    sleeps = Sleeps()
    result = fetch(httpserver.url_for("/feed"), sleep=sleeps)
    assert result.body == b"ok" and result.attempts == 2
    assert sleeps == [7.0]


def test_5xx_is_retried_with_growing_backoff_then_succeeds(httpserver):
    for status in (503, 502):
        httpserver.expect_ordered_request("/feed").respond_with_data("busy", status=status)
    httpserver.expect_ordered_request("/feed").respond_with_data(b"ok")
    sleeps = Sleeps()
    assert fetch(httpserver.url_for("/feed"), backoff=1.0, sleep=sleeps).body == b"ok"
    assert len(sleeps) == 2 and 1.0 <= sleeps[0] < 1.3 and 2.0 <= sleeps[1] < 2.3


def test_5xx_gives_up_with_a_one_line_error(httpserver):
    httpserver.expect_request("/feed").respond_with_data("down", status=500)
    with pytest.raises(FetchError) as caught:
        fetch(httpserver.url_for("/feed"), retries=2, sleep=Sleeps())
    assert "HTTP 500" in str(caught.value) and "after 3 attempts" in str(caught.value)
    assert "\n" not in str(caught.value) and len(httpserver.log) == 3


def test_client_errors_are_not_retried(httpserver):
    httpserver.expect_request("/feed").respond_with_data("no", status=404)
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(httpserver.url_for("/feed"), sleep=Sleeps())
    assert len(httpserver.log) == 1


def test_body_over_the_size_cap_is_refused(httpserver):
    httpserver.expect_request("/big").respond_with_data(b"x" * 5000)
    with pytest.raises(FetchError, match="exceeds the 1,000-byte limit"):
        fetch(httpserver.url_for("/big"), max_bytes=1000)


def test_streamed_body_without_length_is_capped_too(httpserver):
    httpserver.expect_request("/stream").respond_with_response(
        Response((b"x" * 1000 for _ in range(50)), direct_passthrough=True))
    with pytest.raises(FetchError, match="exceeds"):
        fetch(httpserver.url_for("/stream"), max_bytes=10_000)


def test_gzip_is_accepted_and_the_cap_counts_expanded_bytes(httpserver):
    bomb = gzip.compress(b"\0" * 200_000)
    httpserver.expect_request("/gz").respond_with_data(bomb, headers={"Content-Encoding": "gzip"})
    with pytest.raises(FetchError, match="exceeds"):
        fetch(httpserver.url_for("/gz"), max_bytes=50_000)
    httpserver.clear()
    httpserver.expect_request("/gz").respond_with_data(gzip.compress(b"<rss/>"), headers={"Content-Encoding": "gzip"})
    assert fetch(httpserver.url_for("/gz")).body == b"<rss/>"


def test_read_timeout_is_a_one_line_error(httpserver):
    def slow(request):
        time.sleep(0.6)
        return Response("late")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out"):
        fetch(httpserver.url_for("/slow"), read_timeout=0.2, retries=0)
    assert time.monotonic() - started < 0.6


def test_unreachable_host_is_a_one_line_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nobody listens here once closed
    sleeps = Sleeps()
    with pytest.raises(FetchError, match="connection refused") as caught:
        fetch(f"http://127.0.0.1:{port}/feed", retries=3, sleep=sleeps)
    assert "\n" not in str(caught.value) and sleeps == []  # refused is not overload: no retry


def test_retry_after_accepts_seconds_and_http_dates():
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds("Thu, 28 Nov 2024 17:00:10 GMT", now=1732813200.0) == 10.0
    assert retry_after_seconds("soon") is None


BODY = b"<rss>" + b"x" * 10_000 + b"</rss>"


@pytest.mark.parametrize("payload", [
    b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000 + b"\r\n\r\n",  # headers trickle
    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY,  # body trickles (headers too, briefly)
], ids=["headers", "body"])
def test_a_trickling_server_cannot_hold_a_fetch_past_its_deadline(payload):
    """Each byte arrives well within the read timeout, yet the whole fetch ends at its total deadline."""
    server = TrickleServer(payload, every=0.05)
    try:
        started = time.monotonic()
        with pytest.raises(FetchError, match="deadline") as caught:
            fetch(server.url, read_timeout=5.0, deadline=1.5, retries=3, sleep=Sleeps())
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert elapsed < 3.0, elapsed  # 1.5 s deadline for the whole fetch, retries included
    assert "\n" not in str(caught.value)


def test_redirects_are_followed_and_the_final_url_is_returned(httpserver):
    httpserver.expect_request("/old").respond_with_data("", status=301, headers={"Location": "/mid"})
    httpserver.expect_request("/mid").respond_with_data("", status=302, headers={"Location": httpserver.url_for("/new")})
    httpserver.expect_request("/new").respond_with_data(b"<rss/>")
    result = fetch(httpserver.url_for("/old"))
    assert (result.status, result.body) == (200, b"<rss/>")
    assert result.url == httpserver.url_for("/new")


def test_more_than_five_redirects_is_a_one_line_error(httpserver):
    for n in range(7):
        httpserver.expect_request(f"/r{n}").respond_with_data("", status=302, headers={"Location": f"/r{n + 1}"})
    with pytest.raises(FetchError, match="more than 5 redirects"):
        fetch(httpserver.url_for("/r0"), sleep=Sleeps())


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://example.org/feed", "javascript:alert(1)"])
def test_redirects_to_other_schemes_are_refused(httpserver, location):
    httpserver.expect_request("/feed").respond_with_data("", status=302, headers={"Location": location})
    with pytest.raises(FetchError, match="non-HTTP"):
        fetch(httpserver.url_for("/feed"), sleep=Sleeps())
