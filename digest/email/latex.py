"""LaTeX in titles and abstracts, shown readably as Unicode (`$O(n^2)$` → O(n²), `\\alpha` → α)."""

from __future__ import annotations

import re
from functools import lru_cache

_HINT = re.compile(r"[$\\]")
_MATH = re.compile(r"(?<!\\)\$([^$]+)\$")
# '%' starts a comment (it would swallow the rest of the abstract), '&' is an alignment tab,
# '#' a macro parameter and '~' a non-breaking space: in abstracts all four are plain text.
_PLAIN = re.compile(r"(?<!\\)([%&#])")
_SCRIPT = re.compile(r"([\^_])(?:\{([^{}]{1,12})\}|([0-9a-zA-Z+\-]))")
_SUP = str.maketrans("0123456789+-=()nix", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱˣ")
_SUB = str.maketrans("0123456789+-=()aeijkmnoprstx", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑᵢⱼₖₘₙₒₚᵣₛₜₓ")
_TILDE = "\ue000"
_MARKUP = re.compile(r"\\[a-zA-Z]+|[${}\\^_]")


@lru_cache(maxsize=1)
def _converter():
    from pylatexenc.latex2text import LatexNodes2Text

    return LatexNodes2Text(math_mode="text", strict_latex_spaces=False)


def _scripts(match: re.Match) -> str:
    """`^2` → ², `_{ij}` → ᵢⱼ when every character has a Unicode form; else `^(…)` stays readable."""
    kind, body = match.group(1), match.group(2) or match.group(3)
    table = _SUP if kind == "^" else _SUB
    converted = body.replace(" ", "").translate(table)
    if all(ord(ch) > 127 for ch in converted):
        return converted
    return match.group(0)


def _math(match: re.Match) -> str:
    return "$" + _SCRIPT.sub(_scripts, match.group(1)) + "$"


def readable(text: str) -> str:
    """Plain text with LaTeX markup turned into Unicode; text without markup passes untouched, cheaply."""
    if not text or not _HINT.search(text):
        return text
    if "\\" not in text and "{" not in text:
        # Only `$…$` with plain content (`$n$`, `$O(n^2)$`): no need for the (slow) LaTeX parser.
        return _MATH.sub(lambda m: _SCRIPT.sub(_scripts, m.group(1)), text)
    source = _MATH.sub(_math, _PLAIN.sub(r"\\\1", text)).replace("~", _TILDE)
    try:
        out = _converter().latex_to_text(source)
    except Exception:  # noqa: BLE001 - pylatexenc on hostile input: show the raw text rather than nothing
        return text
    out = " ".join(out.replace(_TILDE, "~").split())
    # Unbalanced markup can make pylatexenc swallow most of the text: then the raw text reads better.
    return out if len(out) * 2 >= len(_MARKUP.sub("", text).strip()) else text
