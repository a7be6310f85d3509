"""Composing one subscriber's email: shared cards, signed links, headers and MIME bytes.

Pure apart from the process-wide edition cache: the database rows come in,
bytes go out.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING

from digest import ranking
from digest.config import Settings
from digest.email import message, render
from digest.tokens import make_edition_token, make_paper_token, make_token

if TYPE_CHECKING:  # the rows are only read, never queried: email/ stays free of the database layer
    from digest.models import Digest, Paper, Subscriber


def message_id(digest: Digest, settings: Settings) -> str:
    """Stable across retries: the one the row keeps (a forced resend gets a new one), else derived from the row."""
    return digest.message_id or f"<digest.{digest.id}.{digest.edition_date.isoformat()}@{settings.from_address.domain}>"


def build_content(settings: Settings, subscriber: Subscriber, edition_date: dt.date, picks: list[ranking.Pick],
                  papers: dict[int, Paper], edition: render.EditionRenderer | None = None,
                  updated: list[ranking.Pick] = ()) -> render.DigestContent:
    """What the subscriber's email shows: shared paper cards, their reasons, the Updated block, signed links
    (the edition's web page, feedback, preferences, unsubscribe)."""
    key = settings.signing_key()
    card = edition.card_for if edition is not None else render.paper_card
    return render.DigestContent(
        email=subscriber.email, edition_date=edition_date, topics=list(subscriber.topics or []),
        followed=tuple(getattr(subscriber, "authors", None) or ()),
        view_url=f"{settings.base_url}/edition/{make_edition_token(key, subscriber.id, edition_date)}",
        cards=[render.Card(card(papers[p.paper_id]), _without(p.reason, getattr(p, "sentence", "")), p.topic,
                           *feedback_urls(settings.base_url, key, subscriber.id, p.paper_id),
                           key_sentence=getattr(p, "sentence", "")) for p in picks],
        updated=[render.Card(card(papers[p.paper_id]), p.reason) for p in updated],
        unsubscribe_url=f"{settings.base_url}/unsubscribe/{make_token(key, 'unsubscribe', subscriber.id)}",
        preferences_url=f"{settings.base_url}/preferences/{make_token(key, 'preferences', subscriber.id)}",
    )


def feedback_urls(base_url: str, key: str, subscriber_id: int, paper_id: int) -> tuple[str, str]:
    """The reader's "More like this" and "Less like this" pages for one paper: one signed token, two choices."""
    token = make_paper_token(key, subscriber_id, paper_id)
    return f"{base_url}/more/{token}", f"{base_url}/less/{token}"


def unsubscribe_mailto(settings: Settings, content: render.DigestContent) -> str | None:
    """mailto: for List-Unsubscribe when configured; the subject carries the signed token."""
    if not settings.unsubscribe_mailto:
        return None
    return f"mailto:{settings.unsubscribe_mailto}?subject=unsubscribe%20{content.unsubscribe_url.rsplit('/', 1)[-1]}"


def message_bytes(settings: Settings, digest: Digest, subscriber: Subscriber, content: render.DigestContent,
                  rendered: render.Rendered, now: dt.datetime) -> bytes:
    """Headers + MIME (+ DKIM) for one rendered digest; ValueError if the address is unsafe."""
    envelope = message.Envelope(
        sender=settings.from_address, to=message.safe_address(subscriber.email, subscriber.name or ""),
        message_id=message_id(digest, settings), date=now, list_id=f"<digest.{settings.from_address.domain}>",
        unsubscribe_url=content.unsubscribe_url, unsubscribe_mailto=unsubscribe_mailto(settings, content),
        edition=digest.edition_date,
    )
    return message.build_bytes(rendered, envelope, settings.dkim)


_EDITIONS: dict[bool, tuple[float, render.EditionRenderer]] = {}  # by web
EDITION_MAX_AGE = 3600.0
EDITION_MAX_CARDS = 20_000
WEB_BUDGET = 10**9  # a web page is not clipped like a mail: every card, whole abstracts


def shared_edition(web: bool = False) -> render.EditionRenderer:
    """The process's edition renderer: batches in one worker share the inlined shell and cards.

    Cards are keyed by paper id and checked against the paper's content hash,
    so an edited paper is re-rendered; the cache is dropped hourly or when large.
    `web=True`: the web edition's renderer (a stylesheet, no inlining, no size budget).
    """
    now = time.monotonic()
    kept = _EDITIONS.get(web)
    if kept is None or now - kept[0] > EDITION_MAX_AGE or len(kept[1].cards) > EDITION_MAX_CARDS:
        kept = _EDITIONS[web] = (now, render.EditionRenderer(budget=WEB_BUDGET, web=True) if web else
                                 render.EditionRenderer())
    return kept[1]


def _without(reason: str, sentence: str) -> str:
    """The reason, minus the sentence it quotes when the card shows that sentence already (in bold, above)."""
    return reason.replace(f": “{sentence}”", "", 1) if sentence else reason
