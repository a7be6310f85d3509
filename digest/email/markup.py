"""Templates, the stylesheet and CSS inlining, and `Piece`: markup kept as a format string with named holes.

Shared by the digest renderer (`render`) and the confirmation email.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from digest.resources import resource_dir


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


_NEEDS_ESCAPE = re.compile(r"[&<>\"'\u0080-\U0010ffff]")


def ascii_html(value) -> str:
    """HTML-escaped, non-ASCII as character references: the bytes sent are the characters counted."""
    if type(value) is str and not _NEEDS_ESCAPE.search(value):  # most URLs and words: nothing to escape
        return value
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

