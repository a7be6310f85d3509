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
import re
import secrets
from dataclasses import dataclass, field, replace

from markupsafe import Markup

from digest.email.cards import (ABSTRACT_CHARS, PaperCard, author_keysets, author_line, follow_keys, mark_followed,
                                after_lead, paper_card, paper_link, shorten_authors, trim)
from digest.email.markup import Piece, ascii_html, css, environment, inline_css

__all__ = ["ABSTRACT_CHARS", "HTML_BUDGET", "Card", "DigestContent", "EditionRenderer", "PaperCard", "Rendered",
           "edition_label", "paper_card", "paper_link", "render_digest", "shorten_authors", "trim"]
HTML_BUDGET = 90_000  # Gmail clips HTML bodies above ~102 KB, hiding the unsubscribe footer: stay well under
ABSTRACT_LEVELS = (ABSTRACT_CHARS, 200, 0)  # abstract lengths tried in turn when over budget (0: no abstract)
TEXT_WIDTH = 72
INDENT = "   "  # the text part's cards: everything under the title
MAX_CACHED = 50_000  # filled cards and small texts kept per edition


@dataclass(frozen=True)
class Card:
    """One pick in one subscriber's digest: the shared paper card, why it was picked, and the reader's
    signed "More like this" / "Less like this" links (none when empty)."""

    paper: PaperCard
    reason: str
    topic: str | None = None
    more_url: str = ""
    less_url: str = ""
    key_sentence: str = ""  # the abstract's sentence closest to why this reader gets the paper, shown in bold


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
    view_url: str = ""  # this edition as a web page ("View in browser"); none in a preview
    view_label: str = "View in browser"
    followed: tuple[str, ...] = ()  # the reader's followed authors, highlighted in the author lines


@dataclass
class Rendered:
    subject: str
    text: str
    html: str  # ASCII: non-ASCII characters are character references
    paper_ids: list[int] = field(default_factory=list)  # the cards that fit the size budget, in order


_NOBODY: frozenset[int] = frozenset()  # no followed author on a card
UPDATED = object()  # the group of the "Updated" block, after the topics' groups (never a topic)


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


class EditionRenderer:
    """Inlines the shell and each paper card once per edition; assembles each subscriber's email cheaply.

    `web=True`: the edition as a web page: the same pieces styled by the stylesheet alone (no premailer),
    and a footer without the reader's address or their preferences and unsubscribe links.
    """

    def __init__(self, budget: int = HTML_BUDGET, web: bool = False):
        self.budget = budget
        self.web = web
        # A random marker: feed text cannot forge a hole or a section boundary.
        self._nonce = "z" + secrets.token_hex(8)
        self._holes = re.compile(f"{self._nonce}([a-z0-9_]+?){self._nonce}")  # holes may touch
        self._sections = re.compile(f"{self._nonce}begin_([a-z0-9_]+){self._nonce}(.*?){self._nonce}end{self._nonce}",
                                    re.S)
        self.cards: dict[int, PaperCard] = {}  # inlined, by paper id
        self._papers: dict[int, PaperCard] = {}  # converted from paper rows, by paper id
        self._html: dict[str, Piece] = {}
        self._text: dict[str, Piece] = {}
        self._abstracts: dict[tuple, tuple[str, str]] = {}
        self._small: dict[tuple, str] = {}
        self._filled: dict[tuple, tuple[str, ...]] = {}  # cards cut around each reader's values (`_shared`)
        self._keysets: dict[tuple, tuple] = {}  # each card's author match keys, computed for followers only
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

    def _styled(self, html: str) -> str:
        return html if self.web else inline_css(html)

    def _shell(self) -> None:
        names = ("title", "headline", "view", "cards", "email", "preferences_url", "unsubscribe_url")
        holes = {n: self._hole(n) for n in names}
        self._html["shell"] = Piece(self._styled(self._render("body.html", web=self.web, **holes)), self._holes,
                                    ascii_only=True)
        self._text["shell"] = Piece(self._render("body.txt", **holes), self._holes)
        self._text["topic"] = Piece(self._render("topic.txt", topic=self._hole("topic")), self._holes)
        self._text["updated"] = Piece(self._render("updated.txt"), self._holes)
        self._inline([], fragments=True)

    def _inline(self, cards: list[PaperCard], fragments: bool = False) -> None:
        html = self._styled(self._render("parts.html", cards=cards, fragments=fragments))
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
            self._text[f"card_{card.paper_id}"] = Piece(self._render("card.txt", card=card, meta=_meta_text(card)),
                                                        self._holes)
        self.cards.update(new)
        for card in new.values():
            self._abstract(card, ABSTRACT_LEVELS[0])  # wrapping text is edition work, not per subscriber

    def _scrub(self, card: PaperCard) -> PaperCard:
        if self._nonce not in repr(card):
            return card

        def clean(value):
            if isinstance(value, str):
                return value.replace(self._nonce, "")
            return tuple(map(clean, value)) if isinstance(value, tuple) else value

        return replace(card, **{name: clean(getattr(card, name)) for name in card.__dataclass_fields__})

    def _abstract(self, card: PaperCard, limit: int, key_sentence: str = "") -> tuple[str, str]:
        """(html, text) of the abstract trimmed to `limit`, cached per paper and level; when the key sentence
        (shown in bold above it) is the abstract's first, the abstract starts after it."""
        key = (card.paper_id, card.version, limit, key_sentence)
        if key not in self._abstracts:
            rest = after_lead(card.abstract, key_sentence) if key_sentence else None
            short = trim(card.abstract if rest is None else rest, limit)
            self._abstracts[key] = (
                self._html["abstract"].fill({"text": ascii_html(short)}) if short else "",
                _wrap(short) if short else "",
            )
        return self._abstracts[key]

    def _followed(self, card: PaperCard, follows: frozenset[str]) -> frozenset[int]:
        """Which of the card's authors this reader follows (most readers follow none: nothing to do)."""
        if not follows or not card.author_list:
            return frozenset()
        key = (card.paper_id, card.version)
        keysets = self._keysets.get(key)
        if keysets is None:
            keysets = self._keysets[key] = author_keysets(card)
        return mark_followed(keysets, follows)

    def _authors_html(self, card: PaperCard, marked: frozenset[int]) -> str:
        """The author line, the followed authors in bold."""
        if not marked:
            return ascii_html(card.authors)
        strong = self._html["followed"]
        return author_line([ascii_html(n) for n in card.author_list], marked, lambda n: strong.fill({"name": n}),
                           ascii_html("…"))

    @staticmethod
    def _authors_text(card: PaperCard, marked: frozenset[int]) -> str:
        """The text part's author line, the followed authors *starred*; "" for a paper without authors."""
        if not card.author_list:
            return ""
        return f"   {author_line(card.author_list, marked, lambda n: f'*{n}*') if marked else card.authors}\n"

    def _cards_html(self, groups, limit: int, follows: frozenset[str]) -> list[tuple[str, str]]:
        """(topic heading html, card html) per card, at one abstract level."""
        out = []
        for topic, cards in groups:
            heading = (self._html["updated"].fill({}) if topic is UPDATED
                       else self._html["topic"].fill({"topic": ascii_html(topic)}) if topic else "")
            for card in cards:
                out.append((heading, self._card_html(card, limit, follows)))
                heading = ""
        return out

    def _shared(self, part: str, card: Card, limit: int, follows: frozenset[str]) -> tuple[str, ...]:
        """The card as every reader given this paper with the same reason and key sentence sees it, in the
        "html" or "text" part: filled once per edition, cut where this reader's own values go."""
        marked = self._followed(card.paper, follows) if follows else _NOBODY
        key = (part, card.paper.paper_id, card.paper.version, card.reason, limit, marked, card.key_sentence)
        shared = self._filled.get(key)
        if shared is None:
            if len(self._filled) > MAX_CACHED:
                self._filled.clear()
            fill = self._fill_html if part == "html" else self._fill_text
            shared = self._filled[key] = fill(card, limit, marked)
        return shared

    def _fill_html(self, card: Card, limit: int, marked: frozenset[int]) -> tuple[str, str]:
        """The HTML card cut around the hole of the reader's feedback links (its last hole)."""
        marker = f"{self._nonce}feedback{self._nonce}"
        head, _, tail = self._html[f"card_{card.paper.paper_id}"].fill(
            {"reason": ascii_html(card.reason), "abstract": self._abstract(card.paper, limit, card.key_sentence)[0],
             "authors": self._authors_html(card.paper, marked),
             "key": self._html["key"].fill({"text": ascii_html(card.key_sentence)}) if card.key_sentence else "",
             "feedback": marker}).rpartition(marker)
        return head, tail

    def _fill_text(self, card: Card, limit: int, marked: frozenset[int]) -> tuple[str, str, str]:
        """The text card cut around the reader's rank (its first hole) and feedback links (its last)."""
        rank, feedback = f"{self._nonce}rank{self._nonce}", f"{self._nonce}feedback{self._nonce}"
        filled = self._text[f"card_{card.paper.paper_id}"].fill(
            {"rank": rank, "reason": card.reason, "abstract": self._abstract(card.paper, limit, card.key_sentence)[1],
             "authors": self._authors_text(card.paper, marked), "feedback": feedback,
             "key": _wrap(f"*{card.key_sentence}*") if card.key_sentence else ""})
        head, _, rest = filled.partition(rank)
        middle, _, tail = rest.rpartition(feedback)
        return head, middle, tail

    def _card_html(self, card: Card, limit: int, follows: frozenset[str]) -> str:
        """A filled card: the shared part around this reader's feedback links."""
        head, tail = self._shared("html", card, limit, follows)
        if not card.more_url:
            return head + tail
        links = self._html["feedback"].fill({"more": ascii_html(card.more_url), "less": ascii_html(card.less_url)})
        return head + links + tail

    def _fit(self, groups, fixed: int, follows: frozenset[str]) -> tuple[list[str], int]:
        """The card HTML that fits the budget: shorter abstracts first, then fewer cards."""
        for limit in ABSTRACT_LEVELS:
            blocks = [h + c for h, c in self._cards_html(groups, limit, follows)]
            sizes = [len(b) for b in blocks]
            if fixed + sum(sizes) <= self.budget:
                return blocks, limit
        more = self._html["more"].size + 8
        while blocks and fixed + more + sum(sizes) > self.budget:
            blocks.pop()
            sizes.pop()
        return blocks, limit

    def _groups(self, content: DigestContent) -> tuple[list, frozenset[str]]:
        """The cards (prepared) grouped under their topics, then the Updated block; the reader's follow keys."""
        self.prepare(c.paper for c in (*content.cards, *content.updated))
        groups = group_cards(content.cards, content.topics) + ([(UPDATED, content.updated)] if content.updated else [])
        return groups, follow_keys(content.followed) if content.followed else frozenset()

    def cards_html(self, content: DigestContent) -> str:
        """Only the cards, with their topic headings and the longest abstracts (an entry of the web feed)."""
        groups, follows = self._groups(content)
        return "\n".join(h + c for h, c in self._cards_html(groups, ABSTRACT_LEVELS[0], follows))

    def assemble(self, content: DigestContent) -> Rendered:
        """Subject, text and inlined HTML for one subscriber, from the cached pieces."""
        groups, follows = self._groups(content)
        label = edition_label(content.edition_date)
        count = len(content.cards)
        headline = self._text_of(self._headline, edition_label=label, count=count, topics=bool(content.topics),
                                 updated=len(content.updated))
        subject = self._text_of(self._subject, edition_label=label, count=count, topics=tuple(content.topics[:2]))
        count += len(content.updated)
        view = (self._html["view"].fill({"url": ascii_html(content.view_url), "label": ascii_html(content.view_label)})
                if content.view_url else "")
        values = {"title": ascii_html(label), "headline": ascii_html(headline), "email": ascii_html(content.email),
                  "preferences_url": ascii_html(content.preferences_url), "view": view,
                  "unsubscribe_url": ascii_html(content.unsubscribe_url)}
        fixed = self._html["shell"].size + sum(map(len, values.values()))
        blocks, limit = self._fit(groups, fixed, follows)
        shown = len(blocks)
        if shown < count:
            blocks.append(self._html["more"].fill({"count": str(count - shown)}))
            groups = _first(groups, shown)
        html = self._html["shell"].fill({**values, "cards": "\n".join(blocks)})
        text = self._text["shell"].fill({"title": label, "headline": headline, "email": content.email,
                                         "preferences_url": content.preferences_url,
                                         "unsubscribe_url": content.unsubscribe_url,
                                         "view": f"{content.view_label}: {content.view_url}\n" if view else "",
                                         "cards": self._cards_text(groups, limit, follows)})
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

    def _cards_text(self, groups, limit: int, follows: frozenset[str]) -> str:
        out, rank = [], 0
        for topic, cards in groups:
            if topic is UPDATED:
                out.append(self._text["updated"].fill({}))
            elif topic:
                out.append(self._text["topic"].fill({"topic": topic}))
            for card in cards:
                rank += 1
                head, middle, tail = self._shared("text", card, limit, follows)
                links = (f"   More like this: {card.more_url}\n   Less like this: {card.less_url}\n"
                         if card.more_url else "")
                out += (head, str(rank), middle, links, tail)
        return "".join(out)


_KEEP_TOGETHER = re.compile(r"(?<![,·]) ")


_SPACES = re.compile(r"[ \t\n\r\f\v]+")  # ASCII white space: a no-break space keeps its neighbours together


def _wrap(text: str) -> str:
    """A paragraph of the text part: indented under the card's title, in lines of at most TEXT_WIDTH, ending in
    a newline. Lines break at spaces only: a hyphenated word or a link is never cut (one longer than a line
    gets a line of its own). Cut at the last space that fits, not word by word as textwrap does: a key
    sentence is wrapped for each paper a reader gets, and textwrap cost more than the rest of the text part."""
    text, lines, room = " ".join(_SPACES.split(text.strip())), [], TEXT_WIDTH - len(INDENT)
    while len(text) > room:
        cut = text.rfind(" ", 0, room + 1)
        if cut < 0:
            cut = text.find(" ", room)
            if cut < 0:
                break
        lines.append(text[:cut])
        text = text[cut + 1:]
    lines.append(text)
    return INDENT + ("\n" + INDENT).join(lines) + "\n" if text else "\n"


def _meta_text(card: PaperCard) -> str:
    """The text part's lines of what the paper is (id, categories, date, badges; comments, journal ref)."""
    # Lines break after a separator, never inside an item ("announced 28 Nov 2024", "cross-list from math-ph").
    items = " · ".join((*card.facts, *card.badges))
    lines = [_wrap(_KEEP_TOGETHER.sub("\u00a0", items)).replace("\u00a0", " ")] if items else []
    return "".join(lines + [_wrap(f"{label}: {text}") for label, text in card.notes])


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
