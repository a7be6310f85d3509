"""The operator's pages: the dashboard (/admin), one subscriber (/admin/subscribers), /metrics.

Read-only: nothing here changes a subscriber or a digest (the one exception is
the login cookie). Figures come from `digest.dashboard` (aggregate SQL); charts
are SVG drawn here (`digest.web.charts`); the digest preview is the dry run's
(`digest.delivery.preview.render_preview`). Who may look: `digest.web.admin_auth`.
"""

from __future__ import annotations

import datetime as dt

from flask import abort, g, redirect, render_template, request

from digest import history
from digest import subscriptions as subs
from digest.dashboard import figures, ticks
from digest.dashboard.sources import get_source_health
from digest.latex import readable
from digest.delivery.preview import render_preview
from digest.models import Subscriber
from digest.tokens import MAX_ID
from digest.web import admin_auth, metrics
from digest.web.admin_auth import operator_only
from digest.web.charts import SERIES, bar_chart, day_values, sparkline
from digest.web.context import local_today, now, state

DAYS = 30
FAILURES_DAYS = 7
# The digest preview is an email: inline styles, no script, shown only inside the dashboard's frame.
PREVIEW_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'none'; "
               "form-action 'none'; frame-ancestors 'self'; base-uri 'none'")


@operator_only
def dashboard():
    """Today's editions, the last 30 days, sources, subscribers, failures, bounces and complaints."""
    web, moment = state(), now()
    today = local_today(moment)
    with web.factory() as db:
        days = figures.get_days(db, today - dt.timedelta(days=DAYS - 1), today)
        utc_today = moment.date()
        sources = get_source_health(db, utc_today - dt.timedelta(days=DAYS - 1), utc_today)
        context = {
            "today": days[-1], "days": days, "chart": bar_chart(days), "series": SERIES,
            "totals": {key: sum(day_values(d)[key] for d in days) for key, _, _ in SERIES},
            "sources": [(s, sparkline(s.per_day, f"{utc_today - dt.timedelta(days=DAYS - 1):%d %b}"))
                        for s in sources],
            "subscribers": figures.by_status(figures.get_subscribers(db)),
            "failures": figures.get_failures(db, today - dt.timedelta(days=FAILURES_DAYS - 1)),
            "returned_counts": figures.get_returned_counts(db, moment - dt.timedelta(days=DAYS)),
            "returned": figures.get_returned(db, moment - dt.timedelta(days=DAYS)),
        }
    context.update(tick=ticks.get_last_tick(web.settings.broker_url, web.settings.queue),
                   queue_depth=ticks.get_queue_depth(web.settings.broker_url, web.settings.queue))
    return render_template("admin/dashboard.html", title="Operator dashboard", states=figures.STATES,
                           cadences=("daily", "weekly"), zone=web.settings.default_timezone, days_shown=DAYS,
                           failures_days=FAILURES_DAYS, **context)


@operator_only
def find_subscriber():
    """Search by email address: straight to the subscriber's page, or say nobody has that address."""
    email = request.args.get("email", "").strip()[:320]
    if not email:
        return redirect("/admin", 303)
    with state().factory() as db:
        subscriber = subs.get_subscriber(db, email)
        if subscriber is None:
            return render_template("admin/subscriber.html", title="No such subscriber", subscriber=None,
                                   email=email), 404
        return redirect(f"/admin/subscribers/{subscriber.id}", 303)


def _subscriber(db, subscriber_id: int) -> Subscriber:
    """The subscriber with this id, or 404 (an id past the column's range included)."""
    subscriber = db.get(Subscriber, subscriber_id) if subscriber_id <= MAX_ID else None
    if subscriber is None:
        abort(404, "There is no subscriber with this id.")
    return subscriber


@operator_only
def subscriber_page(subscriber_id: int):
    """One subscriber: profile, last editions with picks and skip reasons, and today's digest as a preview."""
    web = state()
    with web.factory() as db:
        subscriber = _subscriber(db, subscriber_id)
        past = history.get_history(db, subscriber.id, limit=10)
        rendered, count, skip = render_preview(web.settings, db, subscriber, now())
        db.rollback()  # a preview writes nothing
        g.csp_extra = "; frame-src 'self'"
        return render_template("admin/subscriber.html", title=subscriber.email, subscriber=subscriber,
                               past=past, preview=rendered, preview_count=count, preview_skip=skip,
                               status_text=history.reader_status, readable=readable)


@operator_only
def preview_page(subscriber_id: int):
    """Today's digest for this subscriber as it would be sent now (the email's HTML), for the dashboard's frame."""
    web = state()
    with web.factory() as db:
        subscriber = _subscriber(db, subscriber_id)
        rendered, _, _ = render_preview(web.settings, db, subscriber, now())
        db.rollback()
    g.csp, g.frame_options = PREVIEW_CSP, "SAMEORIGIN"
    return rendered.html


ROUTES = [
    ("/admin", dashboard, ["GET"]),
    ("/admin/login", admin_auth.login, ["GET", "POST"]),
    ("/admin/logout", admin_auth.logout, ["POST"]),
    ("/admin/subscribers", find_subscriber, ["GET"]),
    ("/admin/subscribers/<int:subscriber_id>", subscriber_page, ["GET"]),
    ("/admin/subscribers/<int:subscriber_id>/preview", preview_page, ["GET"]),
    ("/metrics", metrics.metrics, ["GET"]),
]
