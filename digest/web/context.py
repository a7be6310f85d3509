"""What every page of the web app shares: the app's state, the clock, plain message pages, the CSRF token."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import abort, current_app, render_template, request, session
from sqlalchemy.orm import sessionmaker

from digest.config import Settings
from digest.tokens import make_token
from digest.web.limits import RateLimiter


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def local_today(when: dt.datetime) -> dt.date:
    """The date in the installation's zone (DIGEST_DEFAULT_TIMEZONE): the edition date the dashboard calls today."""
    return when.astimezone(ZoneInfo(state().settings.default_timezone)).date()


@dataclass
class WebState:
    settings: Settings
    factory: sessionmaker
    limiter: RateLimiter
    secret: str


def state() -> WebState:
    return current_app.extensions["digest"]


def link_to(purpose: str, subscriber) -> str:
    """The subscriber's signed page of this purpose (preferences, unsubscribe)."""
    return f"{state().settings.base_url}/{purpose}/{make_token(state().secret, purpose, subscriber.id)}"


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
