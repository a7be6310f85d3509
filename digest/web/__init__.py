"""Thin HTTP layer over `subscriptions.py`: subscribe, confirm, preferences, unsubscribe.

Invariants (DESIGN.md, FIELD-NOTES.md):
- GET never changes subscription state; every change is a POST carrying a
  signed token (link scanners follow GET links);
- the RFC 8058 one-click POST needs no cookie and no CSRF field, is answered
  200 without a redirect, and takes effect before the next send;
- the subscribe form answers a new and an already active address alike, so
  it cannot be used to find out who subscribes.

Serve with gunicorn (`digest.web:create_app()`) or `digest serve` for development.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import hmac
import io
import logging
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import available_timezones

from flask import Flask, abort, current_app, g, redirect, render_template, request, session
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker
from werkzeug.exceptions import HTTPException

from digest import subscriptions as subs
from digest.config import ConfigError, Settings, load_settings
from digest.delivery.confirmations import send_confirmation
from digest.email.confirmation import build_confirmation
from digest.db import ensure_schema, get_engine, session_factory
from digest.delivery import WEEKLY_DAY
from digest.resources import resource_dir

log = logging.getLogger(__name__)

# Per client IP, every POST to the form counts; per address, only accepted
# sign-ups do, and past the limit the page looks the same but no mail goes out
# (nobody can use the form to flood someone's inbox).
RATE_LIMITS = {"ip": (10, 3600), "address": (3, 3600)}
MAX_FORM_BYTES = 64 * 1024
DEFAULT_MAX_PAPERS = 10


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# --- rate limit -----------------------------------------------------------------------


class LimiterUnavailable(Exception):
    """The shared counters cannot be reached; sign-ups wait rather than run unlimited."""


class RateLimiter:
    """Fixed-window counters in Redis, shared by every gunicorn worker.

    Counters kept per process would multiply the limit by the number of
    workers, so while Redis is unreachable `allow` raises LimiterUnavailable
    and the form answers 503. Only `local=True` (`digest serve`, one process)
    counts in memory when no Redis is configured.
    """

    def __init__(self, url: str, secret: str, prefix: str = "digest:ratelimit", local: bool = False):
        import redis

        self._errors = (redis.RedisError, OSError)
        self.redis = (redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
                      if url.startswith(("redis://", "rediss://")) else None)
        self.secret = secret.encode()
        self.prefix = prefix
        self.local = local
        self.memory: dict[str, int] = {}

    def allow(self, kind: str, value: str, limit: int, window: int) -> bool:
        """Count one hit for `value`; False once it is over `limit` in this window."""
        # Keys hold a keyed hash, never the address or IP itself.
        digest = hmac.new(self.secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]
        key = f"{self.prefix}:{kind}:{digest}:{int(time.time() // window)}"
        if self.redis is None:
            if not self.local:
                raise LimiterUnavailable("DIGEST_BROKER_URL is not a redis:// URL")
            if len(self.memory) > 10000:
                self.memory.clear()
            count = self.memory[key] = self.memory.get(key, 0) + 1
            return count <= limit
        try:
            pipe = self.redis.pipeline()
            pipe.incr(key)
            pipe.expire(key, window + 1)
            count = pipe.execute()[0]
        except self._errors as exc:
            log.warning("sign-ups paused: the rate limit's Redis (DIGEST_BROKER_URL) is unreachable: %s", exc)
            raise LimiterUnavailable(str(exc)) from None
        return count <= limit


# --- app ------------------------------------------------------------------------------


@dataclass
class WebState:
    settings: Settings
    factory: sessionmaker
    limiter: RateLimiter
    secret: str


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
    app = Flask(__name__, template_folder=str(resource_dir("templates") / "web"), static_folder=None)
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
    app.before_request(_cap_streamed_body)
    app.after_request(_secure_headers)
    app.context_processor(lambda: {"csp_nonce": g.get("nonce", ""), "csrf_token": csrf_token,
                                   "default_timezone": settings.default_timezone,
                                   "weekly_day": f"{calendar.day_name[WEEKLY_DAY]}s"})
    app.register_error_handler(HTTPException, _http_error)
    for rule, view, methods in ROUTES:
        app.add_url_rule(rule, view.__name__, view, methods=methods)
    return app


def state() -> WebState:
    return current_app.extensions["digest"]


def _set_nonce() -> None:
    g.nonce = secrets.token_urlsafe(16)


def _cap_streamed_body() -> None:
    """Hold a body sent without Content-Length (chunked) to MAX_FORM_BYTES like one with it, or answer 413.

    Werkzeug checks MAX_CONTENT_LENGTH against Content-Length, but a chunked
    body it reads for the form may be cut short silently instead; so it is read
    here, at most one byte past the cap, and handed on with its length.
    """
    environ = request.environ
    if request.content_length is not None or not environ.get("wsgi.input_terminated"):
        return  # a declared length is checked by werkzeug; without one and unterminated, werkzeug reads nothing
    data = environ["wsgi.input"].read(MAX_FORM_BYTES + 1)
    if len(data) > MAX_FORM_BYTES:
        abort(413)
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    environ.update({"wsgi.input": io.BytesIO(data), "CONTENT_LENGTH": str(len(data))})


def _secure_headers(response):
    nonce = g.get("nonce", "")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    # Token links are capabilities: never leak them in a Referer or a cache.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    if request.path != "/":
        response.headers["X-Robots-Tag"] = "noindex"
    return response


def _http_error(exc: HTTPException):
    return message(exc.code or 500, "Something went wrong" if (exc.code or 500) >= 500 else exc.name,
                   exc.description or "")


def message(status: int, title: str, *paragraphs: str, link: tuple[str, str] | None = None):
    """A plain page with a heading, some sentences and an optional link."""
    return render_template("message.html", title=title, paragraphs=paragraphs, link=link), status


# --- CSRF: a random value in the (signed) session cookie, echoed by each form ----------


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(24)
    return token


def check_csrf() -> None:
    expected = session.get("csrf")
    sent = request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(400, "This form has expired or was sent from another site. Reload the page and try again.")


def client_ip() -> str:
    return request.remote_addr or "unknown"


# --- forms ----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def timezone_names() -> tuple[str, ...]:
    skip = ("posix", "right/", "Factory", "localtime")
    return tuple(sorted(z for z in available_timezones() if not z.startswith(skip)))


def form_values(source=None, subscriber=None) -> dict:
    """What the preference fields show: the submitted form, else the row, else defaults."""
    settings = state().settings
    if source is not None:
        keys = ("email", "topics", "categories", "exclude", "authors", "timezone", "send_hour", "cadence",
                "max_papers")
        return {k: source.get(k, "")[:4000] for k in keys}
    if subscriber is not None:
        return {"email": subscriber.email, "topics": "\n".join(subscriber.topics or []),
                "categories": ", ".join(subscriber.categories or []), "exclude": "\n".join(subscriber.exclude or []),
                "authors": "\n".join(subscriber.authors or []), "timezone": subscriber.timezone,
                "send_hour": str(subscriber.send_hour), "cadence": subscriber.cadence,
                "max_papers": str(subscriber.max_papers)}
    return {"email": "", "topics": "", "categories": "", "exclude": "", "authors": "", "timezone": "",
            "send_hour": str(settings.default_hour), "cadence": "daily", "max_papers": str(DEFAULT_MAX_PAPERS)}


def _whole(value: str, what: str) -> int:
    try:
        return int(value.strip())
    except (ValueError, AttributeError):
        raise subs.SubscriptionError(f"{what} must be a whole number, got {value[:40]!r}") from None


def parse_preferences(form: dict, min_score: float = 0.0) -> subs.Preferences:
    """Form fields -> validated Preferences, or SubscriptionError with a one-line message."""
    # No topics and no categories is a valid profile: the day's trending papers.
    return subs.validate_preferences(
        topics=subs.split_lines(form["topics"]), categories=subs.split_categories(form["categories"]), exclude=subs.split_lines(form["exclude"]),
        authors=subs.split_lines(form["authors"]), timezone=form["timezone"] or state().settings.default_timezone,
        send_hour=_whole(form["send_hour"], "send hour"), max_papers=_whole(form["max_papers"], "max papers"),
        cadence=form["cadence"], min_score=min_score,
    )


def _page(template: str, status: int = 200, **context):
    return render_template(template, timezones=timezone_names(), **context), status


def _link(purpose: str, subscriber) -> str:
    return f"{state().settings.base_url}/{purpose}/{subs.make_token(state().secret, purpose, subscriber.id)}"


# --- views ----------------------------------------------------------------------------


def subscribe_page():
    """GET (and HEAD) shows the form; POST asks for a confirmation (or quietly does nothing)."""
    if request.method != "POST":
        return _page("subscribe.html", form=form_values(), browser_timezone=True)
    check_csrf()
    try:
        return _sign_up()
    except LimiterUnavailable:
        return message(503, "Sign-ups are paused", "We cannot take new sign-ups for a moment. "
                       "Please try again in a few minutes; nothing was saved and no mail was sent.")


def _sign_up():
    """The sign-up itself, once the CSRF token is checked; LimiterUnavailable while Redis is down."""
    web, limits = state(), current_app.config["RATE_LIMITS"]
    if not web.limiter.allow("ip", client_ip(), *limits["ip"]):
        return message(429, "Too many sign-ups", "Too many sign-ups came from your network. Please try again later.")
    form = form_values(request.form)
    if request.form.get("website"):  # the honeypot: people never see this field, bots fill it
        log.info("honeypot filled from %s", client_ip())
        return _sent_page(form["email"])
    try:
        # Our relay connection does not speak SMTPUTF8: accents before the @ are refused here.
        address = subs.normalise_email(form["email"], ascii_only=True)
        prefs = parse_preferences(form)
    except subs.SubscriptionError as exc:
        return _page("subscribe.html", 400, form=form, error=str(exc))
    if web.limiter.allow("address", subs.email_key(address), *limits["address"]):
        with web.factory.begin() as db:
            subscriber, needs_confirmation = subs.request_subscription(db, address, prefs, _now())
            data = build_confirmation(web.settings, subscriber, web.secret, needs_confirmation, _now())
        send_confirmation(web.settings, subscriber.email, data)
    return _sent_page(address)


def _sent_page(address: str):
    # The same words whether the address is new, pending, active or a bot's.
    return message(200, "Check your inbox",
                   f"If {address} can receive mail, a message is on its way to it. "
                   "Open the link inside to confirm your subscription.",
                   f"The link works for {state().settings.pending_days} days. "
                   "Nothing is sent to you until you confirm.")


def confirm_page(token: str):
    """GET shows the settings the link confirms and a button; only the POST confirms, once."""
    web = state()
    with web.factory.begin() as db:
        subscriber, nonce = _confirm_subscriber(db, token)
        if request.method == "POST":
            check_csrf()
        link = subs.get_link_state(subscriber, nonce)
        if link == "live" and request.method == "POST":
            subs.confirm_link(db, subscriber, nonce, _now())
            return _subscribed_page(subscriber)
        if link == "superseded":
            return message(410, "This link was replaced",
                           "This link was replaced by a newer confirmation email. Open the link in the newest "
                           "email instead; nothing was changed.")
        if link == "used":
            return _used_link_page(subscriber)
        return _page("action.html", title="Confirm your subscription", action_label="Confirm my subscription",
                     text=f"Confirm that {subscriber.email} should receive the paper digest with these settings:",
                     details=describe_settings(subs.get_pending_preferences(subscriber)))


def _subscribed_page(subscriber):
    return message(200, "You're subscribed",
                   f"Your digest goes to {subscriber.email}. Changes to your topics, hour and cadence "
                   "can be made at any time.", link=(_link("preferences", subscriber), "Manage preferences"))


def _used_link_page(subscriber):
    if subscriber.status == "active":
        return message(200, "You're subscribed", "This confirmation link has already been used; "
                       f"your digest goes to {subscriber.email}.",
                       link=(_link("preferences", subscriber), "Manage preferences"))
    return message(410, "This link is no longer valid",
                   "This confirmation link was already used or cancelled by an unsubscribe, so nothing was "
                   "changed. Sign up again to get a fresh one.")


def describe_settings(prefs: subs.Preferences) -> list[tuple[str, str]]:
    """(label, value) rows of what a confirmation confirms, for the confirm page."""
    rows = [("Topics", "; ".join(prefs.topics) if prefs.topics or prefs.categories
             else "none: the day's trending papers")]
    for label, values in (("arXiv categories", prefs.categories), ("Exclude", prefs.exclude),
                          ("Authors", prefs.authors)):
        if values:
            rows.append((label, ", ".join(values)))
    when = "Daily" if prefs.cadence == "daily" else f"Weekly ({calendar.day_name[WEEKLY_DAY]}s)"
    rows.append(("When", f"{when} at {prefs.send_hour:02d}:00 {prefs.timezone}, up to {prefs.max_papers} papers"))
    return rows


def preferences_page(token: str):
    """Change topics, categories, hour, time zone, cadence, max papers; see the last digests."""
    web = state()
    with web.factory.begin() as db:
        subscriber = _token_subscriber(db, "preferences", token)
        form, error, status = form_values(subscriber=subscriber), None, 200
        if request.method == "POST":
            check_csrf()
            if request.form.get("action") == "resubscribe":
                if subscriber.status == "unsubscribed":
                    subs.confirm(db, subscriber, _now())
                return redirect(request.path + "?saved=resubscribed", 303)
            form = form_values(request.form)
            try:
                subs.apply_preferences(subscriber, parse_preferences(form, subscriber.min_score or 0.0))
                return redirect(request.path + "?saved=1", 303)
            except subs.SubscriptionError as exc:
                error, status = str(exc), 400
        form["email"] = subscriber.email
        return _page("preferences.html", status, form=form, error=error, subscriber=subscriber,
                     saved=request.args.get("saved"), editions=subs.get_recent_editions(db, subscriber.id),
                     unsubscribe_url=_link("unsubscribe", subscriber))


def unsubscribe_page(token: str):
    """GET shows a button; POST (RFC 8058 one-click, or that button) unsubscribes at once."""
    web = state()
    with web.factory.begin() as db:
        subscriber = _token_subscriber(db, "unsubscribe", token)
        if request.method == "POST":
            # Authenticated by the signed token alone: mailbox providers post
            # without cookies, so there is no CSRF check here (RFC 8058).
            if request.form.get("List-Unsubscribe") != "One-Click":
                abort(400, "Expected List-Unsubscribe=One-Click.")
            subs.unsubscribe(db, subscriber, _now())
        if subscriber.status == "unsubscribed":
            return message(200, "You're unsubscribed", f"No more digests will be sent to {subscriber.email}.",
                           "Changed your mind? You can subscribe again from your preferences page.",
                           link=(_link("preferences", subscriber), "Preferences"))
        return _page("action.html", title="Unsubscribe", action_label="Unsubscribe", one_click=True,
                     text=f"Stop sending the paper digest to {subscriber.email}?", csrf=False)


def _token_subscriber(db, purpose: str, token: str):
    try:
        return subs.get_token_subscriber(db, state().secret, purpose, token)
    except subs.TokenError:
        abort(400, "This link is not valid. Check that it was copied whole.")


def _confirm_subscriber(db, token: str):
    web = state()
    try:
        return subs.get_confirm_subscriber(db, web.secret, token, web.settings.pending_days)
    except subs.TokenExpired:
        abort(410, "This link has expired. Sign up again to get a fresh one.")
    except subs.TokenError:
        abort(400, "This link is not valid. Check that it was copied whole.")


def healthz():
    try:
        with state().factory() as db:
            db.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
        log.warning("health check failed: %s", exc)
        return "database unreachable\n", 503, {"Content-Type": "text/plain"}
    return "ok\n", 200, {"Content-Type": "text/plain"}


ROUTES = [
    ("/", subscribe_page, ["GET", "POST"]),
    ("/confirm/<token>", confirm_page, ["GET", "POST"]),
    ("/preferences/<token>", preferences_page, ["GET", "POST"]),
    ("/unsubscribe/<token>", unsubscribe_page, ["GET", "POST"]),
    ("/healthz", healthz, ["GET"]),
]
