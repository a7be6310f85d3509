"""A paper as a digest card shows it: what the paper is at a glance, in plain Unicode text.

`paper_card` reads a paper row (or any object with its attributes; missing
ones count as absent) once per edition: title, authors and abstract made
readable, then what a reader of arXiv's own lists scans for: the arXiv id,
the primary category and cross-lists, the announcement date, the submitter's
comments and journal reference, Hugging Face upvotes and GitHub stars. A paper
from a feed without these fields simply has fewer of them: never an empty line.

`mark_followed` picks out the authors a reader follows (matched like ranking
matches them); `author_line` shows them even where a long list is shortened.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

from digest.latex import readable
from digest.ranking.text import author_keys, follow_key

ABSTRACT_CHARS = 480
NOTE_CHARS = 160  # a submitter's comment can run to a paragraph; the card keeps its start
ARXIV_ZONE = ZoneInfo("America/New_York")  # arXiv's lists are dated in US Eastern time
CROSS_TYPES = ("cross", "replace-cross")
# arXiv lists some categories under two names; a paper carries both, a reader needs one.
ALIASES = {"math.MP": "math-ph", "cs.NA": "math.NA", "cs.SY": "eess.SY", "math.IT": "cs.IT", "stat.TH": "math.ST",
           "q-fin.EC": "econ.GN"}
ALIASES.update({b: a for a, b in list(ALIASES.items())})
SHOWN_CATEGORIES = 4


@dataclass(frozen=True)
class PaperCard:
    """A paper as every subscriber's email shows it: plain Unicode text, escaped by the templates."""

    paper_id: int
    title: str
    authors: str  # the shortened author line ("first three, … last")
    abstract: str
    url: str
    links: tuple[tuple[str, str], ...] = ()
    version: str | None = None  # the paper's content hash: a changed paper gets a fresh card
    facts: tuple[str, ...] = ()  # "arXiv:2411.17730", "math.AP · cross-list from math-ph", "announced 28 Nov 2024"
    notes: tuple[tuple[str, str], ...] = ()  # ("Comments", "24 pages, 5 figures"), ("Journal ref", "NeurIPS 2024")
    badges: tuple[str, ...] = ()  # "▲ 31 upvotes", "★ 1.2k stars"
    author_list: tuple[str, ...] = ()  # every author: a followed one is shown even where the short line has "…"


def shorten_authors(authors, keep: int = 3) -> str:
    """First three … last for long author lists."""
    if len(authors) <= keep + 1:
        return ", ".join(authors)
    return ", ".join(authors[:keep]) + ", … " + authors[-1]


def shown_authors(count: int, marked: frozenset[int] = frozenset(), keep: int = 3) -> list[int | None]:
    """Which authors an author line shows, by index, None for a gap ("…"): the first `keep`, the last, and
    every marked one."""
    if count <= keep + 1:
        return list(range(count))
    wanted = sorted({*range(keep), count - 1, *marked})
    out: list[int | None] = []
    for i in wanted:
        if out and out[-1] is not None and i != out[-1] + 1:
            out.append(None)
        out.append(i)
    return out


def author_line(names, marked: frozenset[int], wrap, gap_mark: str = "…") -> str:
    """The author line with the marked (followed) authors passed through `wrap`; `names` (and `gap_mark`)
    already escaped as the caller needs."""
    parts, gap = [], False
    for i in shown_authors(len(names), marked):
        if i is None:
            gap = True
            continue
        name = wrap(names[i]) if i in marked else names[i]
        parts.append(f"{gap_mark} {name}" if gap else name)
        gap = False
    return ", ".join(parts)


def author_keysets(card: PaperCard) -> tuple[frozenset[str], ...]:
    """Each author's match keys (full name, initial and surname), as ranking folds them."""
    return tuple(frozenset(k for k in author_keys(name) if k) for name in card.author_list)


def follow_keys(names) -> frozenset[str]:
    """A reader's followed authors as match keys (`Y. Bengio` matches by initial and surname)."""
    return frozenset(k for k in map(follow_key, names) if k)


def mark_followed(keysets: tuple[frozenset[str], ...], follows: frozenset[str]) -> frozenset[int]:
    """The indices of the authors a reader follows."""
    return frozenset(i for i, keys in enumerate(keysets) if keys & follows)


_SENTENCE_END = re.compile(r"[.!?](?:\s+|$)")


def after_lead(abstract: str, sentence: str) -> str | None:
    """The abstract after its first sentence when `sentence` (the card's key sentence, maybe cut short with
    an ellipsis) is that first sentence; None when it is not, and the abstract is shown whole."""
    lead = " ".join(sentence.rstrip("…").split())
    text = " ".join(abstract.split())
    if not lead or not text.startswith(lead):
        return None
    end = _SENTENCE_END.search(text, max(len(lead) - 1, 0))
    return text[end.end():] if end else ""


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


def safe_url(url) -> str | None:
    """Only http(s) links reach an href; anything else (javascript:, data:) is dropped."""
    if isinstance(url, str) and re.match(r"https?://[^\s<>\"']+$", url.strip()):
        return url.strip()
    return None


def paper_card(paper) -> PaperCard:
    """The shared card of a paper row (any object with the Paper attributes): LaTeX made readable."""
    title = readable(paper.title or "")
    extra = paper.extra if isinstance(getattr(paper, "extra", None), dict) else {}
    page = safe_url(paper.url)
    url = page or paper_link(None, title)
    links = [("Abstract" if page else "Find on arXiv", url)]
    for label, value in (("PDF", paper.pdf_url), ("Hugging Face", extra.get("hf_url")),
                         ("Code", extra.get("github_repo") or extra.get("code_url"))):
        value = safe_url(value)
        if value is None and label == "Code" and isinstance(extra.get("github_repo"), str):
            value = safe_url(f"https://github.com/{extra['github_repo'].strip('/')}")
        if value:
            links.append((label, value))
    names = tuple(name for name in (readable(a) for a in paper.authors or () if isinstance(a, str)) if name.strip())
    return PaperCard(
        paper_id=paper.id, title=title, authors=shorten_authors(names),
        abstract=trim(readable(paper.abstract or ""), ABSTRACT_CHARS), url=url, links=tuple(links),
        version=getattr(paper, "content_hash", None), facts=facts(paper, extra), notes=notes(extra),
        badges=badges(getattr(paper, "upvotes", 0), getattr(paper, "github_stars", 0)), author_list=names,
    )


def facts(paper, extra: dict) -> tuple[str, ...]:
    """What the paper is: arXiv id (with its version past v1), categories, date."""
    out = []
    key = getattr(paper, "key", None) or ""
    if key.startswith("arxiv:"):
        version = getattr(paper, "version", None)
        out.append(f"arXiv:{key[6:]}" + (f"v{version}" if isinstance(version, int) and version > 1 else ""))
    categories = getattr(paper, "categories", None) or ()
    line = subjects([c for c in categories if isinstance(c, str)], _text(extra.get("primary_category")),
                    _text(extra.get("announce_type")))
    if line:
        out.append(line)
    when = dated(getattr(paper, "announced_at", None), extra)
    if when:
        out.append(when)
    return tuple(out)


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def subjects(categories: list[str], primary: str = "", announce_type: str = "") -> str:
    """`cs.LG · also cs.AI, stat.ML`, or for a cross-list `math.AP · cross-list from math-ph`.

    The primary category is the feed's (else the first listed); an alias of a
    category already shown (math.MP of math-ph) is left out.
    """
    primary = primary or (categories[0] if categories else "")
    if not primary:
        return ""
    seen, others = {primary, ALIASES.get(primary)}, []
    for category in categories:
        if category not in seen:
            others.append(category)
            seen.update((category, ALIASES.get(category)))
    more = " …" if len(others) > SHOWN_CATEGORIES else ""
    listed = ", ".join(others[:SHOWN_CATEGORIES]) + more
    if announce_type in CROSS_TYPES:
        return f"{listed} · cross-list from {primary}" if others else f"cross-list from {primary}"
    return f"{primary} · also {listed}" if others else primary


def dated(announced_at, extra: dict) -> str:
    """`announced 28 Nov 2024` (non-breaking spaces) from an announcement feed (its US Eastern list date), `submitted …` from the
    arXiv API (v1's date), `published …` from any other dated feed; "" when the source gave no date."""
    if extra.get("announce_type") and isinstance(announced_at, dt.datetime):
        return f"announced\u00a0{_day(announced_at.astimezone(ARXIV_ZONE) if announced_at.tzinfo else announced_at)}"
    published = extra.get("published")
    if isinstance(published, str):
        try:
            return f"submitted\u00a0{_day(dt.datetime.fromisoformat(published))}"
        except ValueError:
            pass
    if isinstance(announced_at, dt.datetime):
        return f"published\u00a0{_day(announced_at)}"
    return ""


def _day(when: dt.datetime) -> str:
    return f"{when.day}\u00a0{when:%b}\u00a0{when:%Y}"  # a date never breaks across lines


def notes(extra: dict) -> tuple[tuple[str, str], ...]:
    """The submitter's comments and the journal reference, when the source gave them."""
    out = []
    for label, name in (("Comments", "comment"), ("Journal ref", "journal_ref")):
        value = extra.get(name)
        if isinstance(value, str) and value.strip():
            out.append((label, trim(" ".join(readable(value).split()), NOTE_CHARS)))
    return tuple(out)


def badges(upvotes, stars) -> tuple[str, ...]:
    """Small popularity badges: Hugging Face upvotes, GitHub stars (none when zero or unknown)."""
    out = []
    if isinstance(upvotes, int) and upvotes > 0:
        out.append(f"▲ {count(upvotes)} upvote{'s' if upvotes != 1 else ''}")
    if isinstance(stars, int) and stars > 0:
        out.append(f"★ {count(stars)} star{'s' if stars != 1 else ''}")
    return tuple(out)


def count(n: int) -> str:
    """950, 1.2k, 12k, 3.4M: a badge stays short."""
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= size:
            value = n / size
            return (f"{value:.1f}".rstrip("0").rstrip(".") if value < 10 else f"{value:.0f}") + suffix
    return str(n)
