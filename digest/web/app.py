"""The Flask app: settings, secret, session cookie, security headers and the routes of `digest.web.pages`."""

from __future__ import annotations

import calendar
import secrets

from flask import Flask, g, request
from werkzeug.exceptions import HTTPException

from digest.config import ConfigError, Settings, load_settings
from digest.db import ensure_schema, get_engine, session_factory
from digest.delivery import WEEKLY_DAY
from digest.resources import resource_dir
from digest.web.context import WebState, csrf_token, message
from digest.web.limits import MAX_FORM_BYTES, RATE_LIMITS, RateLimiter, cap_streamed_body
from digest.web.admin import ROUTES as ADMIN_ROUTES
from digest.web.pages import ROUTES


def create_app(settings: Settings | None = None, *, dev: bool = False) -> Flask:
    """The WSGI app; with no settings, read them from the environment.

    Signed links and forms need DIGEST_SECRET_KEY, shared by every process that
    makes or reads links; only `dev=True` (`digest serve`) falls back to the
    key kept in the data folder.
    """
    settings = settings or load_settings()
    if not settings.secret_key and not dev:
        raise ConfigError("DIGEST_SECRET_KEY: required by the web app (it signs links and forms)")
    ensure_schema(settings.database_url)
    get_engine(settings.database_url).dispose()  # no pooled connection crosses a gunicorn --preload fork
    secret = settings.signing_key()
    app = Flask("digest.web", template_folder=str(resource_dir("templates") / "web"), static_folder=None)
    app.secret_key = secret
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_FORM_BYTES,
        SESSION_COOKIE_NAME="digest_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        RATE_LIMITS=dict(RATE_LIMITS),
    )
    app.jinja_env.trim_blocks = app.jinja_env.lstrip_blocks = True
    app.extensions["digest"] = WebState(settings, session_factory(settings.database_url),
                                        RateLimiter(settings.broker_url, secret, local=dev), secret)
    if settings.proxy_hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops)
    app.before_request(_set_nonce)
    app.before_request(cap_streamed_body)
    app.after_request(_secure_headers)
    app.context_processor(lambda: {"csp_nonce": g.get("nonce", ""), "csrf_token": csrf_token,
                                   "default_timezone": settings.default_timezone,
                                   "weekly_day": f"{calendar.day_name[WEEKLY_DAY]}s"})
    app.register_error_handler(HTTPException, _http_error)
    for rule, view, methods in (*ROUTES, *ADMIN_ROUTES):
        app.add_url_rule(rule, view.__name__, view, methods=methods)
    return app


def _set_nonce() -> None:
    g.nonce = secrets.token_urlsafe(16)


def _secure_headers(response):
    nonce = g.get("nonce", "")
    styles = " ".join((f"'nonce-{nonce}'", *g.get("style_sources", ())))  # the web edition's stylesheet, by hash
    # A page may widen the policy for itself (the operator's digest preview: an email's inline styles, framed
    # by the dashboard), never the others.
    response.headers["Content-Security-Policy"] = g.get("csp") or (
        f"default-src 'none'; style-src {styles}; script-src 'nonce-{nonce}'; img-src 'self'; "
        f"form-action 'self'; frame-ancestors 'none'; base-uri 'none'{g.get('csp_extra', '')}"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = g.get("frame_options", "DENY")
    # Token links are capabilities: never leak them in a Referer or a cache.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    if request.path != "/":
        response.headers["X-Robots-Tag"] = "noindex"
    return response


def _http_error(exc: HTTPException):
    return message(exc.code or 500, "Something went wrong" if (exc.code or 500) >= 500 else exc.name,
                   exc.description or "")
