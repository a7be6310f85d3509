"""Pure rendering: Jinja2 templates + CSS inlining, once per edition; cheap per-subscriber assembly.

premailer costs tens of milliseconds per email, so it never runs per
subscriber. An `EditionRenderer` renders the template shell and every paper
card once, with named holes (random markers) where per-subscriber values go,
inlines the CSS of that one document, and cuts it into `Piece`s. Each
subscriber's email is then string joins of those pieces and escaped values.

Every value from a feed or a subscriber is HTML-escaped before it lands in a
piece or a hole (autoescape in the templates, `escape` in `assemble`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import textwrap
from dataclasses import dataclass, field, replace
from functools import lru_cache
from urllib.parse import quote_plus

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from digest.latex import readable
from digest.resources import resource_dir

ABSTRACT_CHARS = 480
HTML_BUDGET = 90_000  # Gmail clips HTML bodies above ~102 KB, hiding the unsubscribe footer: stay well under
ABSTRACT_LEVELS = (ABSTRACT_CHARS, 200, 0)  # abstract lengths tried in turn when over budget (0: no abstract)
TEXT_WIDTH = 72
MAX_CACHED = 50_000  # filled cards and small texts kept per edition


@dataclass(frozen=True)
class PaperCard:
    """A paper as every subscriber's email shows it: plain Unicode text, escaped by the templates."""

    paper_id: int
    title: str
    authors: str
    abstract: str
    url: str
    links: tuple[tuple[str, str], ...] = ()
    version: str | None = None  # the paper's content hash: a changed paper gets a fresh card


@dataclass(frozen=True)
class Card:
    """One pick in one subscriber's digest: the shared paper card, why it was picked, and the reader's
    signed "More like this" / "Less like this" links (none when empty)."""

    paper: PaperCard
    reason: str
    topic: str | None = None
    more_url: str = ""
    less_url: str = ""


@dataclass
class DigestContent:
    """Everything one subscriber's email needs."""

    email: str
    edition_date: dt.date
    cards: list[Card]
    topics: list[str] = field(default_factory=list)
    unsubscribe_url: str = ""
    updated: list[Card] = field(default_factory=list)  # the "Updated" block: new versions of earlier papers
    preferences_url: str = ""


@dataclass
class Rendered:
    subject: str
    text: str
    html: str  # ASCII: non-ASCII characters are character references
    paper_ids: list[int] = field(default_factory=list)  # the cards that fit the size budget, in order


UPDATED = object()  # the group of the "Updated" block, after the topics' groups (never a topic)


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
def css() -> Markup:
    """The bundled stylesheet; trusted, so autoescape must not touch it (quotes, comments)."""
    return Markup((resource_dir("templates") / "email" / "style.css").read_text(encoding="utf-8"))


def shorten_authors(authors: list[str], keep: int = 3) -> str:
    """First three … last for long author lists."""
    if len(authors) <= keep + 1:
        return ", ".join(authors)
    return ", ".join(authors[:keep]) + ", … " + authors[-1]


def trim(text: str, limit: int = ABSTRACT_CHARS) -> str:
    """Cut at a word boundary and add an ellipsis."""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:.")
    return cut + "…"


def paper_link(url: str | None, title: str) -> str:
    """The paper's page, else a title search on arXiv (listing papers have no link)."""
    return url or f"https://arxiv.org/search/?query={quote_plus(title)}&searchtype=title"


def _safe_url(url) -> str | None:
    """Only http(s) links reach an href; anything else (javascript:, data:) is dropped."""
    if isinstance(url, str) and re.match(r"https?://[^\s<>\"']+$", url.strip()):
        return url.strip()
    return None


def paper_card(paper) -> PaperCard:
    """The shared card of a paper row (any object with the Paper attributes): LaTeX made readable."""
    title = readable(paper.title or "")
    extra = paper.extra or {}
    page = _safe_url(paper.url)
    url = page or paper_link(None, title)
    links = [("Abstract" if page else "Find on arXiv", url)]
    for label, value in (("PDF", paper.pdf_url), ("Hugging Face", extra.get("hf_url")),
                         ("Code", extra.get("github_repo") or extra.get("code_url"))):
        value = _safe_url(value)
        if value is None and label == "Code" and isinstance(extra.get("github_repo"), str):
            value = _safe_url(f"https://github.com/{extra['github_repo'].strip('/')}")
        if value:
            links.append((label, value))
    return PaperCard(
        paper_id=paper.id, title=title,
        authors=shorten_authors([readable(a) for a in paper.authors or ()]),
        abstract=trim(readable(paper.abstract or ""), ABSTRACT_CHARS), url=url, links=tuple(links),
        version=getattr(paper, "content_hash", None),
    )


def group_cards(cards: list[Card], topics: list[str]) -> list[tuple[str | None, list[Card]]]:
    """Cards grouped by the subscriber's topics, in topic order; the rest last (no heading if alone)."""
    order = {t: i for i, t in enumerate(topics)}
    groups: dict[str | None, list[Card]] = {}
    for card in cards:
        groups.setdefault(card.topic if card.topic in order else None, []).append(card)
    keys = sorted(groups, key=lambda t: order.get(t, len(order)))
    return [(t if len(keys) > 1 or t else None, groups[t]) for t in keys]


def edition_label(edition_date: dt.date) -> str:
    return f"Paper digest for {edition_date.strftime('%a %d %b %Y')}"


def ascii_html(value) -> str:
    """HTML-escaped, non-ASCII as character references: the bytes sent are the characters counted."""
    return str(escape(value)).encode("ascii", "xmlcharrefreplace").decode("ascii")


class Piece:
    """Markup with named holes, kept as a format string: `fill` is one C-level `format_map`.

    HTML pieces are kept ASCII (see `ascii_html`); `size` counts the literal part.
    """

    __slots__ = ("template", "size")

    def __init__(self, text: str, holes: re.Pattern, ascii_only: bool = False):
        if ascii_only:
            text = text.encode("ascii", "xmlcharrefreplace").decode("ascii")
        chunks = holes.split(text)
        literals = chunks[0::2]
        self.size = sum(map(len, literals))
        self.template = holes.sub(lambda m: "{" + m.group(1) + "}", text.replace("{", "{{").replace("}", "}}"))

    def fill(self, values: dict[str, str]) -> str:
        return self.template.format_map(values)


class EditionRenderer:
    """Inlines the shell and each paper card once per edition; assembles each subscriber's email cheaply."""

    def __init__(self, budget: int = HTML_BUDGET):
        self.budget = budget
        # A random marker: feed text cannot forge a hole or a section boundary.
        self._nonce = "z" + secrets.token_hex(8)
        self._holes = re.compile(f"{self._nonce}([a-z0-9_]+){self._nonce}")
        self._sections = re.compile(f"{self._nonce}begin_([a-z0-9_]+){self._nonce}(.*?){self._nonce}end{self._nonce}",
                                    re.S)
        self.cards: dict[int, PaperCard] = {}  # inlined, by paper id
        self._papers: dict[int, PaperCard] = {}  # converted from paper rows, by paper id
        self._html: dict[str, Piece] = {}
        self._text: dict[str, Piece] = {}
        self._abstracts: dict[tuple, tuple[str, str]] = {}
        self._small: dict[tuple, str] = {}
        self._filled: dict[tuple, tuple[str, str]] = {}
        env = environment()
        self._headline = env.get_template("email/digest/headline.txt")
        self._subject = env.get_template("email/digest/subject.txt")
        self._shell()

    def _hole(self, name: str) -> Markup:
        return Markup(f"{self._nonce}{name}{self._nonce}")

    def _render(self, template: str, **context) -> str:
        context.update(hole=self._hole, begin=lambda key: self._hole(f"begin_{key}"),
                       end=lambda: self._hole("end"), css=css())
        return environment().get_template(f"email/digest/{template}").render(context)

    def _shell(self) -> None:
        names = ("title", "headline", "cards", "email", "preferences_url", "unsubscribe_url")
        holes = {n: self._hole(n) for n in names}
        self._html["shell"] = Piece(inline_css(self._render("body.html", **holes)), self._holes, ascii_only=True)
        self._text["shell"] = Piece(self._render("body.txt", **holes), self._holes)
        self._text["topic"] = Piece(self._render("topic.txt", topic=self._hole("topic")), self._holes)
        self._text["updated"] = Piece(self._render("updated.txt"), self._holes)
        self._inline([], fragments=True)

    def _inline(self, cards: list[PaperCard], fragments: bool = False) -> None:
        html = inline_css(self._render("parts.html", cards=cards, fragments=fragments))
        for key, body in self._sections.findall(html):
            self._html[key] = Piece(body.strip(), self._holes, ascii_only=True)

    def card_for(self, paper) -> PaperCard:
        """The paper's card, converted once per edition (LaTeX is the costly part)."""
        card = self._papers.get(paper.id)
        if card is None or card.version != getattr(paper, "content_hash", None):
            card = self._papers[paper.id] = paper_card(paper)
        return card

    def prepare(self, cards) -> None:
        """Inline every card not yet cached, all in one premailer run (keyed by paper id)."""
        new = {c.paper_id: c for c in cards if (old := self.cards.get(c.paper_id)) is not c and old != c}
        if not new:
            return
        # Per-subscriber values go in after the cut, but card text is cut too: it must not hold the marker.
        scrubbed = [self._scrub(c) for c in new.values()]
        self._inline(scrubbed)
        for card in scrubbed:
            self._text[f"card_{card.paper_id}"] = Piece(self._render("card.txt", card=card), self._holes)
        self.cards.update(new)
        for card in new.values():
            self._abstract(card, ABSTRACT_LEVELS[0])  # wrapping text is edition work, not per subscriber

    def _scrub(self, card: PaperCard) -> PaperCard:
        if self._nonce not in repr(card):
            return card
        clean = lambda text: text.replace(self._nonce, "")  # noqa: E731
        return replace(card, title=clean(card.title), authors=clean(card.authors), abstract=clean(card.abstract),
                       url=clean(card.url), links=tuple((clean(a), clean(b)) for a, b in card.links))

    def _abstract(self, card: PaperCard, limit: int) -> tuple[str, str]:
        """(html, text) of the abstract trimmed to `limit`, cached per paper and level."""
        key = (card.paper_id, card.version, limit)
        if key not in self._abstracts:
            short = trim(card.abstract, limit)
            self._abstracts[key] = (
                self._html["abstract"].fill({"text": ascii_html(short)}) if short else "",
                textwrap.fill(short, TEXT_WIDTH, initial_indent="   ", subsequent_indent="   ") if short else "",
            )
        return self._abstracts[key]

    def _cards_html(self, groups, limit: int) -> list[tuple[str, str]]:
        """(topic heading html, card html) per card, at one abstract level."""
        out = []
        for topic, cards in groups:
            heading = (self._html["updated"].fill({}) if topic is UPDATED
                       else self._html["topic"].fill({"topic": ascii_html(topic)}) if topic else "")
            for card in cards:
                out.append((heading, self._card_html(card, limit)))
                heading = ""
        return out

    def _card_html(self, card: Card, limit: int) -> str:
        """A filled card: the part many subscribers share (same paper, same reason) is cached around the hole
        where this reader's feedback links go."""
        key = (card.paper.paper_id, card.paper.version, card.reason, limit)
        shared = self._filled.get(key)
        if shared is None:
            if len(self._filled) > MAX_CACHED:
                self._filled.clear()
            marker = f"{self._nonce}feedback{self._nonce}"  # the last hole of the card: rpartition finds it
            head, _, tail = self._html[f"card_{card.paper.paper_id}"].fill(
                {"reason": ascii_html(card.reason), "abstract": self._abstract(card.paper, limit)[0],
                 "feedback": marker}).rpartition(marker)
            shared = self._filled[key] = (head, tail)
        if not card.more_url:
            return shared[0] + shared[1]
        links = self._html["feedback"].fill({"more": ascii_html(card.more_url), "less": ascii_html(card.less_url)})
        return shared[0] + links + shared[1]

    def _fit(self, groups, fixed: int) -> tuple[list[str], int]:
        """The card HTML that fits the budget: shorter abstracts first, then fewer cards."""
        for limit in ABSTRACT_LEVELS:
            blocks = [h + c for h, c in self._cards_html(groups, limit)]
            sizes = [len(b) for b in blocks]
            if fixed + sum(sizes) <= self.budget:
                return blocks, limit
        more = self._html["more"].size + 8
        while blocks and fixed + more + sum(sizes) > self.budget:
            blocks.pop()
            sizes.pop()
        return blocks, limit

    def assemble(self, content: DigestContent) -> Rendered:
        """Subject, text and inlined HTML for one subscriber, from the cached pieces."""
        self.prepare(c.paper for c in (*content.cards, *content.updated))
        label = edition_label(content.edition_date)
        count = len(content.cards)
        headline = self._text_of(self._headline, edition_label=label, count=count, topics=bool(content.topics),
                                 updated=len(content.updated))
        subject = self._text_of(self._subject, edition_label=label, count=count, topics=tuple(content.topics[:2]))
        groups = group_cards(content.cards, content.topics) + ([(UPDATED, content.updated)] if content.updated else [])
        count += len(content.updated)
        values = {"title": ascii_html(label), "headline": ascii_html(headline), "email": ascii_html(content.email),
                  "preferences_url": ascii_html(content.preferences_url),
                  "unsubscribe_url": ascii_html(content.unsubscribe_url)}
        fixed = self._html["shell"].size + sum(map(len, values.values()))
        blocks, limit = self._fit(groups, fixed)
        shown = len(blocks)
        if shown < count:
            blocks.append(self._html["more"].fill({"count": str(count - shown)}))
            groups = _first(groups, shown)
        html = self._html["shell"].fill({**values, "cards": "\n".join(blocks)})
        text = self._text["shell"].fill({"title": label, "headline": headline, "email": content.email,
                                         "preferences_url": content.preferences_url,
                                         "unsubscribe_url": content.unsubscribe_url,
                                         "cards": self._cards_text(groups, limit)})
        return Rendered(subject, text, html, [c.paper.paper_id for _, cards in groups for c in cards])

    def _text_of(self, template, **context) -> str:
        """A small template rendered once per distinct context (subscribers share labels, counts, topics)."""
        key = (template.name, *context.values())
        text = self._small.get(key)
        if text is None:
            if len(self._small) > MAX_CACHED:
                self._small.clear()
            text = self._small[key] = template.render(context)
        return text

    def _cards_text(self, groups, limit: int) -> str:
        out, rank = [], 0
        for topic, cards in groups:
            if topic is UPDATED:
                out.append(self._text["updated"].fill({}))
            elif topic:
                out.append(self._text["topic"].fill({"topic": topic}))
            for card in cards:
                rank += 1
                links = (f"   More like this: {card.more_url}\n   Less like this: {card.less_url}\n"
                         if card.more_url else "")
                out.append(self._text[f"card_{card.paper.paper_id}"].fill(
                    {"rank": str(rank), "reason": card.reason, "abstract": self._abstract(card.paper, limit)[1],
                     "feedback": links}))
        return "".join(out)


def _first(groups, n: int):
    """The groups holding only the first `n` cards."""
    out = []
    for topic, cards in groups:
        if n <= 0:
            break
        out.append((topic, cards[:n]))
        n -= len(cards)
    return out


def render_digest(content: DigestContent, edition: EditionRenderer | None = None) -> Rendered:
    """Subject, text and inlined HTML for one subscriber (a one-off edition if none is given)."""
    return (edition or EditionRenderer()).assemble(content)


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
