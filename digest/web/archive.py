"""A reader's digests on the web: each edition as a page ("View in browser"), the archive, the Atom feed.

Every link is signed for one subscriber (`digest.tokens`): an edition link for
one subscriber and one day, the archive and feed links for one subscriber and
that purpose only. A tampered link is refused with 400 and shows nothing; a
day without a digest is a 404. The feed link goes into a feed reader, so it
opens the digests and nothing else (no preferences, no unsubscribe).

The edition page is the email itself, from the same cards (`shared_edition(web=True)`:
the stylesheet in a <style> element the Content-Security-Policy allows by its hash).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import threading
from dataclasses import replace
from functools import lru_cache
from urllib.parse import urlsplit

from flask import abort, g, render_template, request

from digest import history
from digest.email.compose import build_content, shared_edition
from digest.latex import readable
from digest.email.render import css, edition_label, paper_link
from digest.models import Subscriber
from digest.ranking import Pick
from digest.tokens import TokenError, make_edition_token, read_edition_token, read_token
from digest.web.context import link_to, message, state

FEED_ENTRIES = 20
INVALID = "This link is not valid. Check that it was copied whole."
_RENDER = threading.Lock()  # the shared renderer's caches are filled by one request at a time
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@lru_cache(maxsize=1)
def style_hash() -> str:
    """The CSP source of the digest stylesheet, as the page's <style> element holds it."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(str(css()).encode()).digest()).decode() + "'"


def edition_url(subscriber_id: int, edition_date: dt.date) -> str:
    return f"{state().settings.base_url}/edition/{make_edition_token(state().secret, subscriber_id, edition_date)}"


def _subscriber(db, purpose: str, token: str) -> Subscriber:
    try:
        subscriber = db.get(Subscriber, read_token(state().secret, purpose, token))
    except TokenError:
        subscriber = None
    if subscriber is None:
        abort(400, INVALID)
    return subscriber


def _content(subscriber: Subscriber, past: history.PastDigest, edition):
    """The edition as its email showed it (same cards, key sentences, reasons, feedback links), topped by a link to
    the archive; an item sent before key sentences were kept shows its card without one."""
    def picks(items):
        return [Pick(paper_id=i.paper_id, score=i.score, reason=i.reason, topic=i.topic, sentence=i.sentence or "")
                for i in items]

    content = build_content(state().settings, subscriber, past.edition_date, picks(past.picks), past.papers,
                            edition, picks(past.updated))
    topics = list(dict.fromkeys([*content.topics, *(i.topic for i in past.picks if i.topic)]))  # topics since renamed
    return replace(content, topics=topics, view_url=link_to("archive", subscriber), view_label="All your digests")


def edition_page(token: str):
    """One edition as a web page, or in words why there was none that day."""
    web = state()
    try:
        subscriber_id, day = read_edition_token(web.secret, token)
    except TokenError:
        abort(400, INVALID)
    with web.factory() as db:
        subscriber = db.get(Subscriber, subscriber_id)
        if subscriber is None:
            abort(400, INVALID)
        past = history.get_digest(db, subscriber.id, day)
        if past is None:
            abort(404, f"There is no digest for {day:%a %d %b %Y}.")
        if past.state != "sent":
            return message(200, f"No digest on {day:%a %d %b %Y}", history.reader_status(past),
                           link=(link_to("archive", subscriber), "All your digests"))
        with _RENDER:
            edition = shared_edition(web=True)
            html = edition.assemble(_content(subscriber, past, edition)).html
    g.style_sources = (style_hash(),)
    return html


def archive_page(token: str):
    """Past editions, newest first: the papers of each sent one, and why the others had none."""
    web = state()
    before = _before(request.args.get("before"))
    with web.factory() as db:
        subscriber = _subscriber(db, "archive", token)
        rows = history.get_history(db, subscriber.id, before, history.PAGE + 1)
        shown = rows[:history.PAGE]
        editions = [{"label": f"{p.edition_date:%a %d %b %Y}", "status": history.reader_status(p),
                     "url": edition_url(subscriber.id, p.edition_date) if p.state == "sent" else None,
                     "papers": [(readable(p.papers[i.paper_id].title or ""),
                                 paper_link(p.papers[i.paper_id].url, p.papers[i.paper_id].title or ""))
                                for i in p.items],
                     "updated": len(p.updated)} for p in shown]
        older = f"{request.path}?before={shown[-1].edition_date.isoformat()}" if len(rows) > len(shown) else None
        return render_template("archive.html", title="Your digests", editions=editions, older=older,
                               email=subscriber.email, feed_url=link_to("feed", subscriber),
                               preferences_url=link_to("preferences", subscriber), first_page=before is None)


def _before(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        abort(400, "This page address is not valid: ?before= takes a date such as 2026-11-28.")


def feed(token: str):
    """The subscriber's sent digests as an Atom feed, newest first (for a feed reader)."""
    web = state()
    with web.factory() as db:
        subscriber = _subscriber(db, "feed", token)
        past = history.get_history(db, subscriber.id, limit=FEED_ENTRIES, sent_only=True)
        host = urlsplit(web.settings.base_url).hostname or "localhost"
        entries = []
        with _RENDER:
            edition = shared_edition(web=True)
            for p in past:
                content = _content(subscriber, p, edition)
                when = _stamp(p.sent_at) or f"{p.edition_date.isoformat()}T00:00:00Z"
                entries.append({"id": f"tag:{host},{p.edition_date.isoformat()}:digest-{p.id}", "updated": when,
                                "title": edition.assemble(content).subject, "url": edition_url(subscriber.id,
                                                                                                p.edition_date),
                                "summary": edition_label(p.edition_date), "html": edition.cards_html(content)})
        created = _stamp(subscriber.created_at) or "2000-01-01T00:00:00Z"
        xml = render_template("feed.xml", entries=entries, self_url=web.settings.base_url + request.path,
                              archive_url=link_to("archive", subscriber), updated=max(
                                  [e["updated"] for e in entries], default=created),
                              feed_id=f"tag:{host},{created[:10]}:feed-{subscriber.id}")
    return _NOT_XML.sub("", xml), 200, {"Content-Type": "application/atom+xml; charset=utf-8"}


def _stamp(when: dt.datetime | None) -> str | None:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


ROUTES = [
    ("/edition/<token>", edition_page, ["GET"]),
    ("/archive/<token>", archive_page, ["GET"]),
    ("/feed/<token>", feed, ["GET"]),
]
