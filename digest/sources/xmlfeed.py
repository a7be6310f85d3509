"""Feed XML (RSS 1.0/2.0, Atom) to plain item records: fast when well-formed, lenient when not.

arXiv's all-archives feed has ~1,500 items a day; feedparser needs ~1 s for
that, expat ~50 ms. So a document without a DTD goes through ElementTree
(expat): with no DTD there are no entities to expand, local or external.
Anything else — a DTD, a truncated capture, undecodable bytes — goes through
feedparser, which never raises, neutralises DTDs and keeps the good entries;
the reason is kept in `Feed.bozo` so the caller records it as a problem.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import feedparser

# Never let feedparser resolve relative URIs or fetch anything.
feedparser.RESOLVE_RELATIVE_URIS = 0

_PREFIXES = {
    "http://arxiv.org/schemas/atom": "arxiv",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://prismstandard.org/namespaces/basic/2.0/": "prism",
    "http://purl.org/rss/1.0/modules/prism/": "prism",
    "http://a9.com/-/spec/opensearch/1.1/": "opensearch",
}
_ITEM_TAGS = {"item", "entry"}
_SKIP_TEXT = {"script", "style"}
_FIELDS = ("arxiv_", "dc_", "prism_")
# Markup in a title or summary is a few levels deep; thousands of levels is an attack on the reader's stack.
MAX_DEPTH = 64


@dataclass
class Item:
    """One feed item, its text still raw (markup and entities as the feed had them)."""

    title: str = ""
    link: str = ""
    guid: str = ""
    summary: str = ""
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    published: str = ""
    updated: str = ""
    links: list[dict] = field(default_factory=list)
    # namespaced extras, named as feedparser names them: arxiv_comment, dc_identifier, prism_doi ...
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class Feed:
    """The channel and its items; `bozo` says why the document was not well-formed."""

    format: str = ""  # rss | atom | rdf | "" (not a feed)
    title: str = ""
    description: str = ""
    date: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    items: list[Item] = field(default_factory=list)
    bozo: str | None = None
    skipped: list[str] = field(default_factory=list)  # items that could not be read at all, with the reason

    def problems(self) -> list[str]:
        """The document's problems as one line each: why it was malformed, which items were skipped."""
        return ([f"malformed feed: {self.bozo}"] if self.bozo else []) + self.skipped


def read_feed(data: bytes) -> Feed:
    """Read feed bytes; never raises."""
    if b"<!DOCTYPE" not in data[:4096] and b"<!ENTITY" not in data:
        try:
            return _from_tree(ET.fromstring(data))
        except (ET.ParseError, ValueError, LookupError):
            pass
    return _from_feedparser(data)


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        uri, local = tag[1:].split("}", 1)
        return uri, local
    return "", tag


def _text(elem: ET.Element) -> str:
    """All text inside `elem`, skipping script and style elements entirely; iterative, depth-capped."""
    if len(elem) == 0:
        return elem.text or ""
    parts: list[str] = []
    # A stack of pending work: an element to open, or a tail string to emit after its element's text.
    stack: list[tuple[ET.Element | str, int]] = [(elem, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            parts.append(node)
            continue
        if depth > MAX_DEPTH:
            raise ValueError(f"markup nested more than {MAX_DEPTH} elements deep, skipped")
        parts.append(node.text or "")
        for child in reversed(node):
            stack.append((child.tail or "", depth + 1))
            if _split(child.tag)[1].lower() not in _SKIP_TEXT:
                stack.append((child, depth + 1))
    return "".join(parts)


def _from_tree(root: ET.Element) -> Feed:
    local = _split(root.tag)[1]
    feed = Feed(format={"rss": "rss", "feed": "atom", "RDF": "rdf"}.get(local, ""))
    if not feed.format:
        return Feed(bozo=f"not a feed: the document is <{local}>")
    channel = root.find("channel") if feed.format == "rss" else root
    if feed.format == "rdf":
        channel = next((c for c in root if _split(c.tag)[1] == "channel"), root)
    items = []
    for child in channel if channel is not None else ():
        _, name = _split(child.tag)
        if name in _ITEM_TAGS:
            items.append(child)
        else:
            _channel_field(feed, child)
    if feed.format == "rdf":
        items = [c for c in root if _split(c.tag)[1] == "item"]
    for number, elem in enumerate(items, 1):
        try:
            feed.items.append(_item(elem))
        except (ValueError, RecursionError) as exc:  # one unreadable item; the others are kept
            feed.skipped.append(f"item {number}: {exc}")
    return feed


def _channel_field(feed: Feed, child: ET.Element) -> None:
    uri, name = _split(child.tag)
    prefix = _PREFIXES.get(uri)
    if name == "title" and not prefix:
        feed.title = _text(child)
    elif name in ("description", "subtitle") and not prefix:
        feed.description = _text(child)
    elif name in ("pubDate", "date", "updated") and not feed.date:
        feed.date = (child.text or "").strip()
    elif prefix:
        feed.fields[f"{prefix}_{name}"] = (child.text or "").strip()


def _item(elem: ET.Element) -> Item:
    item = Item()
    for child in elem:
        uri, name = _split(child.tag)
        prefix = _PREFIXES.get(uri)
        if prefix == "dc" and name == "creator":
            item.authors.append(_text(child))
        elif prefix == "dc" and name == "date":
            item.published = item.published or (child.text or "").strip()
        elif prefix == "dc" and name == "subject":
            item.categories.append(_text(child).strip())
        elif prefix == "arxiv" and name == "primary_category":
            item.fields["arxiv_primary_category"] = child.get("term", "")
        elif prefix:
            item.fields[f"{prefix}_{name}"] = _text(child).strip()
        else:
            _plain_field(item, name, child)
    return item


def _plain_field(item: Item, name: str, child: ET.Element) -> None:
    if name == "title":
        item.title = _text(child)
    elif name == "link":
        href = child.get("href")
        if href is None:
            item.link = item.link or (child.text or "").strip()
            return
        item.links.append({"href": href, "rel": child.get("rel", "alternate"), "title": child.get("title"),
                           "type": child.get("type")})
        if child.get("rel", "alternate") == "alternate" and not item.link:
            item.link = href
    elif name in ("guid", "id"):
        item.guid = (child.text or "").strip()
    elif name in ("description", "summary") or (name == "content" and not item.summary):
        item.summary = _text(child)
    elif name == "author":
        names = [_text(c) for c in child if _split(c.tag)[1] == "name"]
        item.authors.extend(names or [_text(child)])
    elif name == "category":
        item.categories.append(child.get("term") or _text(child).strip())
    elif name in ("pubDate", "published", "issued"):
        item.published = (child.text or "").strip()
    elif name in ("updated", "modified"):
        item.updated = (child.text or "").strip()


def _from_feedparser(data: bytes) -> Feed:
    parsed = feedparser.parse(data, sanitize_html=True, resolve_relative_uris=False)
    version = parsed.get("version") or ""
    feed = Feed(
        format="rdf" if version == "rss10" else "atom" if version.startswith("atom") else "rss" if version else "",
        title=parsed.feed.get("title", ""),
        description=parsed.feed.get("subtitle", ""),
        date=parsed.feed.get("published") or parsed.feed.get("updated") or "",
        fields={k: v for k, v in parsed.feed.items() if isinstance(v, str) and k.startswith(("opensearch_", *_FIELDS))},
    )
    if parsed.bozo:
        exc = parsed.get("bozo_exception")
        feed.bozo = f"{type(exc).__name__}: {exc}" if exc else "malformed document"
    for raw in parsed.entries:
        item = Item(
            title=raw.get("title", ""), link=raw.get("link", ""), guid=raw.get("id", ""),
            summary=raw.get("summary", ""), published=raw.get("published", ""), updated=raw.get("updated", ""),
            authors=[a.get("name", "") for a in raw.get("authors", []) if a.get("name")],
            categories=[t.get("term") for t in raw.get("tags", []) if t.get("term")],
            links=[dict(link) for link in raw.get("links", [])],
            fields={k: v for k, v in raw.items() if isinstance(v, str) and k.startswith(_FIELDS)},
        )
        primary = raw.get("arxiv_primary_category")
        if isinstance(primary, dict) and primary.get("term"):
            item.fields["arxiv_primary_category"] = primary["term"]
        feed.items.append(item)
    return feed
