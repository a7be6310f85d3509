"""Who may see /admin and /metrics: the holder of DIGEST_ADMIN_TOKEN.

A client sends the token as `Authorization: Bearer <token>`; a browser logs in
once with a form and then carries a signed session cookie (HttpOnly,
SameSite=Strict, Secure over https, `digest.tokens.make_admin_session`) that
lasts ADMIN_SESSION_SECONDS. Tokens are compared in constant time. Without the
setting both are off (404, one line saying how to turn them on); without
credentials a browser gets the login form and any other client a plain 401.
"""

from __future__ import annotations

import hmac
from functools import wraps
from urllib.parse import urlsplit

from flask import abort, current_app, g, redirect, render_template, request

from digest.tokens import ADMIN_SESSION_SECONDS, TokenError, TokenExpired, check_admin_session, make_admin_session
from digest.web.context import check_csrf, client_ip, message, state
from digest.web.limits import LimiterUnavailable

COOKIE = "digest_admin"
OFF = "The operator dashboard is off: set DIGEST_ADMIN_TOKEN to turn it on."
LOGIN_LIMIT = (10, 900)  # wrong or right, per client IP: ten tries in fifteen minutes


def admin_token() -> str:
    """DIGEST_ADMIN_TOKEN, or 404 when it is unset (the dashboard is off)."""
    token = state().settings.admin_token
    if not token:
        abort(404, OFF)
    return token


def token_matches(sent: str) -> bool:
    """Whether `sent` is DIGEST_ADMIN_TOKEN, compared in constant time."""
    return hmac.compare_digest(sent.encode(), admin_token().encode())


def is_operator() -> bool:
    """The request carries the token (Bearer) or a live session cookie; notes an expired session in `g`."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        return scheme.lower() == "bearer" and token_matches(value.strip())
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return False
    try:
        check_admin_session(state().secret, cookie, admin_token())
    except TokenExpired:
        g.admin_expired = True
        return False
    except TokenError:
        return False
    return True


def unauthorised(plain: bool = False):
    """401: the login form for a browser, a plain line for a client that sent a token or wants no HTML."""
    if plain or "Authorization" in request.headers or not request.accept_mimetypes.accept_html:
        return ("401 Unauthorized: send Authorization: Bearer <DIGEST_ADMIN_TOKEN>\n", 401,
                {"Content-Type": "text/plain; charset=utf-8", "WWW-Authenticate": 'Bearer realm="digest"'})
    note = "Your session has expired; log in again." if g.get("admin_expired") else None
    return login_form(401, note=note, next_path=request.full_path.rstrip("?"))


def operator_only(view):
    """The view for operators only (see the module's docstring)."""
    @wraps(view)
    def guarded(*args, **kwargs):
        admin_token()
        if not is_operator():
            return unauthorised()
        return view(*args, **kwargs)
    return guarded


def login_form(status: int = 200, error: str | None = None, note: str | None = None, next_path: str = "/admin"):
    return render_template("admin/login.html", title="Operator login", error=error, note=note,
                           next_path=_safe_next(next_path)), status


def _safe_next(path: str | None) -> str:
    """Where to go after logging in: a path under /admin on this site, else the dashboard."""
    parts = urlsplit(path or "")
    if parts.scheme or parts.netloc or not (parts.path == "/admin" or parts.path.startswith("/admin/")):
        return "/admin"
    return path if not path.startswith("//") and "\\" not in path else "/admin"


def login():
    """GET shows the form; POST checks the token and sets the session cookie."""
    admin_token()
    if request.method != "POST":
        return redirect("/admin", 303) if is_operator() else login_form(next_path=request.args.get("next"))
    check_csrf()
    try:
        allowed = state().limiter.allow("admin-login", client_ip(), *current_app.config.get(
            "ADMIN_LOGIN_LIMIT", LOGIN_LIMIT))
    except LimiterUnavailable:
        return message(503, "Login paused", "The rate limit's Redis cannot be reached; try again in a minute, "
                       "or send the token as Authorization: Bearer.")
    if not allowed:
        return login_form(429, error="Too many attempts from your network. Wait a few minutes.")
    if not token_matches(request.form.get("token", "").strip()):
        return login_form(401, error="That is not the admin token.", next_path=request.form.get("next"))
    response = redirect(_safe_next(request.form.get("next")), 303)
    response.set_cookie(COOKIE, make_admin_session(state().secret, admin_token()), max_age=ADMIN_SESSION_SECONDS,
                        path="/", httponly=True, samesite="Strict", secure=_secure())
    return response


def logout():
    """POST (with the form's CSRF token) ends the session."""
    admin_token()
    check_csrf()
    response = redirect("/admin/login", 303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="Strict", secure=_secure())
    return response


def _secure() -> bool:
    return state().settings.base_url.startswith("https://") or request.is_secure
