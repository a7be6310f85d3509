"""The pages: subscribe, confirm, preferences, unsubscribe, and the health check; `ROUTES` lists them
(with the "More / Less like this" pages of `digest.web.likes` and the past digests of `digest.web.archive`)."""

from __future__ import annotations

import calendar
import logging
from functools import lru_cache
from zoneinfo import available_timezones

from flask import abort, current_app, redirect, render_template, request
from sqlalchemy import text

from digest import subscriptions as subs
from digest.delivery import WEEKLY_DAY
from digest.delivery.confirmations import send_confirmation
from digest.email.confirmation import build_confirmation
from digest.web import archive, likes
from digest.web.context import check_csrf, client_ip, link_to, message, now, state
from digest.web.limits import LimiterUnavailable

log = logging.getLogger("digest.web")

DEFAULT_MAX_PAPERS = 10


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
                "max_papers", "updates")
        return {k: source.get(k, "")[:4000] for k in keys}
    if subscriber is not None:
        return {"email": subscriber.email, "topics": "\n".join(subscriber.topics or []),
                "categories": ", ".join(subscriber.categories or []), "exclude": "\n".join(subscriber.exclude or []),
                "authors": "\n".join(subscriber.authors or []), "timezone": subscriber.timezone,
                "send_hour": str(subscriber.send_hour), "cadence": subscriber.cadence,
                "max_papers": str(subscriber.max_papers), "updates": "on" if subscriber.updates else ""}
    return {"email": "", "topics": "", "categories": "", "exclude": "", "authors": "", "timezone": "",
            "send_hour": str(settings.default_hour), "cadence": "daily", "max_papers": str(DEFAULT_MAX_PAPERS),
            "updates": ""}


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
        cadence=form["cadence"], min_score=min_score, updates=form.get("updates") == "on",
    )


def _page(template: str, status: int = 200, **context):
    return render_template(template, timezones=timezone_names(), **context), status


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
            subscriber, needs_confirmation = subs.request_subscription(db, address, prefs, now())
            data = build_confirmation(web.settings, subscriber, web.secret, needs_confirmation, now())
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
            subs.confirm_link(db, subscriber, nonce, now())
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
                   "can be made at any time.", link=(link_to("preferences", subscriber), "Manage preferences"))


def _used_link_page(subscriber):
    if subscriber.status == "active":
        return message(200, "You're subscribed", "This confirmation link has already been used; "
                       f"your digest goes to {subscriber.email}.",
                       link=(link_to("preferences", subscriber), "Manage preferences"))
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
    if prefs.updates:
        rows.append(("Updated", "new versions of older papers on your topics, in their own block"))
    return rows


def preferences_page(token: str):
    """Change topics, categories, hour, time zone, cadence, max papers; see the last digests."""
    web = state()
    with web.factory.begin() as db:
        subscriber = _token_subscriber(db, "preferences", token)
        form, error, status = form_values(subscriber=subscriber), None, 200
        if request.method == "POST":
            check_csrf()
            if request.form.get("action") == "remove_feedback":
                return likes.remove_rated(db, subscriber)
            if request.form.get("action") == "resubscribe":
                if subscriber.status == "unsubscribed":
                    subs.confirm(db, subscriber, now())
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
                     unsubscribe_url=link_to("unsubscribe", subscriber), archive_url=link_to("archive", subscriber),
                     feed_url=link_to("feed", subscriber), **likes.rated_lists(db, subscriber))


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
            subs.unsubscribe(db, subscriber, now())
        if subscriber.status == "unsubscribed":
            return message(200, "You're unsubscribed", f"No more digests will be sent to {subscriber.email}.",
                           "Changed your mind? You can subscribe again from your preferences page.",
                           link=(link_to("preferences", subscriber), "Preferences"))
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
    *likes.ROUTES,
    *archive.ROUTES,
]
