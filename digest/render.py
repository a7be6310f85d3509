"""Pure rendering: Jinja2 templates + CSS inlining → `email.message.EmailMessage`."""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import lru_cache
from urllib.parse import quote_plus

from jinja2 import Environment, FileSystemLoader, select_autoescape

from digest.resources import resource_dir

ABSTRACT_CHARS = 480
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


@dataclass
class Card:
    """One paper as the email shows it (plain text; escaping is the template's job)."""

    rank: int
    title: str
    authors: str
    abstract: str
    reason: str
    url: str
    pdf_url: str | None = None
    topic: str | None = None


@dataclass
class DigestContent:
    """Everything one subscriber's email needs."""

    email: str
    edition_date: dt.date
    cards: list[Card]
    topics: list[str] = field(default_factory=list)
    unsubscribe_url: str = ""
    preferences_url: str = ""


@dataclass
class Rendered:
    subject: str
    text: str
    html: str


@lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(resource_dir("templates"))),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


@lru_cache(maxsize=1)
def css() -> str:
    return (resource_dir("templates") / "email" / "style.css").read_text(encoding="utf-8")


def shorten_authors(authors: list[str], keep: int = 3) -> str:
    """First three … last for long author lists."""
    if len(authors) <= keep + 1:
        return ", ".join(authors)
    return ", ".join(authors[:keep]) + ", … " + authors[-1]


def trim(text: str, limit: int = ABSTRACT_CHARS) -> str:
    """Cut at a word boundary and add an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:.")
    return cut + "…"


def paper_link(url: str | None, title: str) -> str:
    """The paper's page, else a title search on arXiv (listing papers have no link)."""
    return url or f"https://arxiv.org/search/?query={quote_plus(title)}&searchtype=title"


def header_text(value: str, limit: int = 200) -> str:
    """Header-safe text: CR/LF and control characters removed, length capped."""
    return " ".join(_HEADER_UNSAFE.sub(" ", value).split())[:limit]


def group_cards(cards: list[Card], topics: list[str]) -> list[dict]:
    """Cards grouped by the subscriber's topics, in topic order; the rest last."""
    order = {t: i for i, t in enumerate(topics)}
    groups: dict[str | None, list[Card]] = {}
    for card in cards:
        groups.setdefault(card.topic if card.topic in order else None, []).append(card)
    keys = sorted(groups, key=lambda t: order.get(t, len(order)))
    return [{"topic": t if len(keys) > 1 or t else None, "cards": groups[t]} for t in keys]


def edition_label(edition_date: dt.date) -> str:
    return f"Paper digest for {edition_date.strftime('%a %d %b %Y')}"


def render_digest(content: DigestContent) -> Rendered:
    """Subject, text and inlined HTML for one subscriber."""
    env = environment()
    context = {
        "email": content.email,
        "edition_label": edition_label(content.edition_date),
        "count": len(content.cards),
        "topics": content.topics,
        "groups": group_cards(content.cards, content.topics),
        "unsubscribe_url": content.unsubscribe_url,
        "preferences_url": content.preferences_url,
        "css": css(),
    }
    subject = header_text(env.get_template("email/digest/subject.txt").render(context))
    text = env.get_template("email/digest/body.txt").render(context)
    html = inline_css(env.get_template("email/digest/body.html").render(context))
    return Rendered(subject, text, html)


def inline_css(html: str) -> str:
    """Inline the stylesheet with premailer; never fetch anything external."""
    import premailer

    logging.getLogger("premailer").setLevel(logging.ERROR)
    return premailer.Premailer(
        html,
        allow_network=False,
        keep_style_tags=True,
        strip_important=False,
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
    ).transform()


def build_message(rendered: Rendered, *, sender: Address, to: str, message_id: str, date: dt.datetime,
                  unsubscribe_url: str, list_id: str, edition: dt.date | None = None) -> EmailMessage:
    """multipart/alternative, text first, with list and one-click unsubscribe headers."""
    local, _, domain = to.rpartition("@")
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = Address(username=local, domain=domain)
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    msg["List-Id"] = list_id
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    if edition is not None:
        msg["X-Digest-Edition"] = edition.isoformat()
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg
