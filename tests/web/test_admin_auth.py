"""Who may open /admin and /metrics: the token as a Bearer header, or the login form's signed cookie."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from freezegun import freeze_time

from digest.config import ConfigError, load_settings
from digest.tokens import ADMIN_SESSION_SECONDS, make_admin_session
from digest.web import create_app
from helpers import make_env

TOKEN = "operator-token-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
HTML = {"Accept": "text/html,application/xhtml+xml"}
PAGES = ["/admin", "/admin/subscribers?email=a@example.org", "/admin/subscribers/1", "/admin/subscribers/1/preview"]


def _app(tmp_path, url, **env):
    app = create_app(load_settings(make_env(tmp_path, url, **env), read_dotenv=False))
    app.config["RATE_LIMITS"] = dict(app.config["RATE_LIMITS"])
    app.extensions["digest"].limiter.prefix = f"digest-test:{uuid.uuid4().hex}"  # this test's counters only
    return app


@pytest.fixture
def app(tmp_path, sqlite_url):
    return _app(tmp_path, sqlite_url, DIGEST_ADMIN_TOKEN=TOKEN)


def _login(client, token=TOKEN, next_path="/admin"):
    page = client.get("/admin/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post("/admin/login", data={"csrf_token": csrf, "token": token, "next": next_path})


@pytest.mark.parametrize("path", PAGES + ["/metrics", "/admin/login"])
def test_without_the_setting_every_admin_page_is_off(tmp_path, sqlite_url, path):
    client = _app(tmp_path, sqlite_url).test_client()
    response = client.get(path, headers=BEARER)
    assert response.status_code == 404
    assert "set DIGEST_ADMIN_TOKEN to turn it on" in response.get_data(as_text=True)
    assert client.post("/admin/logout").status_code == 404


@pytest.mark.parametrize("path", PAGES)
def test_a_browser_without_credentials_gets_the_login_form_with_401(app, path):
    response = app.test_client().get(path, headers=HTML)
    assert response.status_code == 401
    body = response.get_data(as_text=True)
    assert 'name="token"' in body and 'type="password"' in body
    assert "Operator dashboard" not in body and "reader" not in body


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer wrong-token-0123456789abcdef"},
                                     {"Authorization": f"Basic {TOKEN}"}, {"Authorization": f"Bearer {TOKEN}x"},
                                     {"Authorization": "Bearer "}, {"Accept": "application/json"}])
@pytest.mark.parametrize("path", ["/admin", "/metrics"])
def test_a_client_with_a_wrong_token_or_none_gets_a_plain_401(app, headers, path):
    response = app.test_client().get(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="digest"'
    assert b"<form" not in response.data


def test_metrics_answers_401_to_a_browser_too(app):
    response = app.test_client().get("/metrics", headers=HTML)
    assert response.status_code == 401 and b"<form" not in response.data


def test_the_bearer_token_opens_the_dashboard_and_the_metrics(app):
    client = app.test_client()
    assert client.get("/admin", headers=BEARER).status_code == 200
    metrics = client.get("/metrics", headers=BEARER)
    assert metrics.status_code == 200 and metrics.headers["Content-Type"].startswith("text/plain; version=0.0.4")


def test_logging_in_sets_a_strict_httponly_cookie_that_opens_the_dashboard(app):
    client = app.test_client()
    response = _login(client, next_path="/admin/subscribers?email=x@example.org")
    assert response.status_code == 303 and response.location == "/admin/subscribers?email=x@example.org"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("digest_admin=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" in cookie  # the test settings' base URL is https://
    assert f"Max-Age={ADMIN_SESSION_SECONDS}" in cookie
    assert client.get("/admin").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_over_plain_http_the_cookie_is_not_secure(tmp_path, sqlite_url):
    app = _app(tmp_path, sqlite_url, DIGEST_ADMIN_TOKEN=TOKEN, DIGEST_BASE_URL="http://localhost:8000")
    assert "Secure" not in _login(app.test_client()).headers["Set-Cookie"]


def test_a_wrong_token_in_the_form_sets_no_cookie(app):
    client = app.test_client()
    response = _login(client, token="not-the-token-0123456789")
    assert response.status_code == 401 and "Set-Cookie" not in response.headers
    assert "That is not the admin token." in response.get_data(as_text=True)
    assert client.get("/admin", headers=HTML).status_code == 401


def test_login_without_the_forms_csrf_token_is_refused(app):
    response = app.test_client().post("/admin/login", data={"token": TOKEN})
    assert response.status_code == 400 and "Set-Cookie" not in response.headers


def test_a_next_address_off_the_dashboard_leads_to_the_dashboard(app):
    for target in ("https://evil.example/admin", "//evil.example/admin", "/preferences/1.x", "/admin\\..\\x"):
        assert _login(app.test_client(), next_path=target).location == "/admin"


def test_a_tampered_cookie_is_refused(app):
    client = app.test_client()
    value = make_admin_session(app.extensions["digest"].secret, TOKEN)
    client.set_cookie("digest_admin", value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert client.get("/admin", headers=HTML).status_code == 401
    assert client.get("/metrics").status_code == 401


def test_a_cookie_signed_for_another_token_or_key_is_refused(app):
    client = app.test_client()
    client.set_cookie("digest_admin", make_admin_session(app.extensions["digest"].secret, "an-older-token-0123456789"))
    assert client.get("/admin", headers=HTML).status_code == 401
    client.set_cookie("digest_admin", make_admin_session("another-secret-key-0123456789", TOKEN))
    assert client.get("/admin", headers=HTML).status_code == 401


def test_an_expired_cookie_asks_to_log_in_again(app):
    client = app.test_client()
    issued = dt.datetime(2026, 12, 1, 8, tzinfo=dt.timezone.utc)
    with freeze_time(issued):
        client.set_cookie("digest_admin", make_admin_session(app.extensions["digest"].secret, TOKEN))
    with freeze_time(issued + dt.timedelta(seconds=ADMIN_SESSION_SECONDS - 60)):
        assert client.get("/admin").status_code == 200
    with freeze_time(issued + dt.timedelta(seconds=ADMIN_SESSION_SECONDS + 60)):
        response = client.get("/admin", headers=HTML)
        assert response.status_code == 401
        assert "Your session has expired" in response.get_data(as_text=True)


def test_logout_is_a_post_with_the_forms_csrf_token(app):
    client = app.test_client()
    _login(client)
    assert client.get("/admin/logout").status_code == 405
    assert client.post("/admin/logout").status_code == 400  # no CSRF token: still logged in
    assert client.get("/admin").status_code == 200
    page = client.get("/admin").get_data(as_text=True)
    csrf = re.search(r'action="/admin/logout"><input type="hidden" name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/admin/logout", data={"csrf_token": csrf})
    assert response.status_code == 303 and "digest_admin=;" in response.headers["Set-Cookie"]
    assert client.get("/admin", headers=HTML).status_code == 401


def test_login_attempts_are_limited_per_client(app):
    app.config["ADMIN_LOGIN_LIMIT"] = (3, 900)
    client = app.test_client()
    assert [_login(client, token=f"guess-{n}-0123456789abcdef").status_code for n in range(3)] == [401] * 3
    assert _login(client).status_code == 429  # even the right token, once over the limit


def test_a_short_admin_token_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigError, match="DIGEST_ADMIN_TOKEN: needs at least 16"):
        load_settings(make_env(tmp_path, DIGEST_ADMIN_TOKEN="short"), read_dotenv=False)
