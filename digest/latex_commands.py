"""What each LaTeX command with arguments becomes, pure: the handlers digest.latex's reader dispatches to.

A handler gets the reader, the command's name, its token position, the end of
the range being read, the mode (math or text), the nesting depth and the list
of output pieces; it reads its own arguments through the reader, appends what
the command reads as, and returns the position after it.
"""

from __future__ import annotations

import re
import unicodedata

from digest import latex_tables as T

MATH_ENVS = frozenset("equation equation* align align* alignat alignat* gather gather* multline multline* eqnarray "
                      "eqnarray* displaymath math split aligned gathered cases array matrix pmatrix bmatrix vmatrix "
                      "Vmatrix smallmatrix subarray".split())
TEXT_ENVS = frozenset("itemize enumerate description abstract center quote quotation flushleft flushright".split())
_BRACKETS = {"pmatrix": "()", "bmatrix": "[]", "vmatrix": "||", "Vmatrix": "‖‖", "cases": "{"}
_ATOM = re.compile(r"−?[\w.′∞∂∇√ℏℓ\u0300-\u036f\u20d0-\u20ff]+")
_ATOM_MAX = 80  # longer operands are bracketed without looking: keeps nested \frac chains linear


def _is_atom(s: str) -> bool:
    """True when `s` reads as one operand in a/b or √s without brackets: x, 10, ℓ₁, f(x), (a+b)."""
    if len(s) > _ATOM_MAX:
        return False
    if _ATOM.fullmatch(s):
        return True
    head = s.find("(")
    return head >= 0 and s.endswith(")") and (head == 0 or bool(_ATOM.fullmatch(s[:head]))) and \
        closing(s, head) == len(s) - 1


def closing(s: str, start: int, pair: str = "()") -> int:
    """Where the bracket opened at s[start] closes (pair: its two characters), or -1."""
    depth, step = 0, {pair[0]: 1, pair[1]: -1}
    for i in range(start, len(s)):
        depth += step.get(s[i], 0)
        if depth == 0:
            return i
    return -1


def bracket(s: str) -> str:
    return s if _is_atom(s) else f"({s})"


def accent(body: str, mark: str, name: str) -> str:
    """`body` with a combining mark: one letter takes it (x̂); a run takes a line per letter (A̅B̅) or, for marks
    that do not read across letters, stays as written (\\widehat{Ham})."""
    letters = [c for c in body if not unicodedata.combining(c)]
    if len(letters) == 1:
        return {"ı": "i", "ȷ": "j"}.get(body, body) + mark
    if not letters:
        return body
    if name in T.LINE_ACCENTS or name in T.TEXT_ACCENTS:
        return "".join(c + mark for c in body) if name in T.LINE_ACCENTS else body[0] + mark + body[1:]
    return f"\\{name}{{{body}}}"


def _h_drop(r, name, i, end, math, depth, out) -> int:
    if name in ("left", "right", "bigl", "bigr", "big", "Big", "bigg", "Bigg") and i + 1 < end \
            and r.toks[i + 1].startswith("."):
        r.toks[i + 1] = r.toks[i + 1][1:] or " "  # \left. is an invisible delimiter
    if name in T.DROPPED_WITH_ARGUMENT:
        return r.raw_arg(i + 1, end)[1]
    return r.eat_space(i + 1, end)


def _h_space(r, name, i, end, math, depth, out) -> int:
    out.append(" ")
    return r.raw_arg(i + 1, end)[1] if name in T.SPACES_WITH_ARGUMENT else i + 1


def _h_wrapper(r, name, i, end, math, depth, out) -> int:
    body, j = r.arg(i + 1, end, math and name not in T.TEXT_WRAPPERS, depth)
    if name.startswith("operatorname"):
        return r.function(body, j, end, out)
    out.append(body)
    return j


def _h_alphabet(r, name, i, end, math, depth, out) -> int:
    body, j = r.arg(i + 1, end, math, depth)
    table = T.ALPHABETS[name]
    out.append("".join(table.get(c, c) for c in body))
    return j


def _h_math_accent(r, name, i, end, math, depth, out) -> int:
    body, j = r.arg(i + 1, end, math, depth)
    out.append(accent(body, T.MATH_ACCENTS[name], name) if body else "")
    return j


def _h_frac(r, name, i, end, math, depth, out) -> int:
    top, j = r.arg(i + 1, end, math, depth)
    bottom, j = r.arg(j, end, math, depth)
    top, bottom = " ".join(top.split()), " ".join(bottom.split())
    if "binom" in name:
        out.append(f"({top} choose {bottom})")
        return j
    fraction = f"{bracket(top)}/{bracket(bottom)}"
    before, after = "".join(out[-2:])[-1:] or " ", r.next_token(j, end) or " "
    factor = after[0].isalnum() or after[0] == "(" or after[1:] in T.GREEK or after[1:] in T.SYMBOLS
    glued = before.isalnum() or before in ")]" or factor
    out.append(f"({fraction})" if glued else fraction)  # 11/5 n is (11/5)n, not 11/(5n)
    return j


def _h_sqrt(r, name, i, end, math, depth, out) -> int:
    index, j = "", r.eat_space(i + 1, end)
    if j < end and r.toks[j].startswith("["):
        close = next((k for k in range(j, min(end, j + 20)) if "]" in r.toks[k]), None)
        if close is not None:
            inner = "".join(r.toks[j:close + 1])
            index, rest = inner[1:inner.index("]")], inner[inner.index("]") + 1:]
            r.toks[close] = rest or " "
            j = close if rest else close + 1
    body, j = r.arg(j, end, math, depth)
    body = " ".join(body.split())
    root = {"": "√", "3": "∛", "4": "∜"}.get(index) or index.translate(T.SUPERSCRIPTS) + "√"
    out.append(root + bracket(body))
    return j


def _h_over(r, name, i, end, math, depth, out) -> int:
    """Plain TeX's infix `{a \\over b}`: everything before it in the group over everything after."""
    top = " ".join("".join(out).split())
    bottom = " ".join(r.seq(i + 1, end, math, depth + 1).split())
    out[:] = [f"({top} choose {bottom})" if name == "choose" else f"{bracket(top)}/{bracket(bottom)}"]
    return end


def _h_not(r, name, i, end, math, depth, out) -> int:
    sign, j = r.arg(i + 1, end, math, depth)
    sign = sign.strip()
    out.append(f" {sign}\u0338 " if sign else "\u0338")
    return j


def _h_stack(r, name, i, end, math, depth, out) -> int:
    """\\underset{a}{b} reads as b_a; \\overset{a}{b} and \\stackrel{a}{b} as b^a."""
    over, j = r.arg(i + 1, end, math, depth)
    base, j = r.arg(j, end, math, depth)
    kind, body = "_" if name == "underset" else "^", " ".join(over.split())
    script = f"{kind}{{{body}}}" if len(body) > 1 else f"{kind}{body}"
    pad = " " if base != base.strip() else ""  # a relation's spaces go around it and its script: ⟶^{a.s.}
    out.append(f"{pad}{base.strip()}{script}{pad}")
    return j


def _h_raw(r, name, i, end, math, depth, out) -> int:
    """\\url{…}, \\cite{…}, \\ref{…}, \\unicode{x2013}: the argument as written, or what it names."""
    raw, j = r.raw_arg(i + 1, end)
    if raw is None:
        return r.unknown(i, end, math, depth, out)
    if name == "unicode":
        code = raw.strip().lstrip("xX#")
        try:
            out.append(chr(int(code, 16 if raw.strip()[:1] in "xX" else 10)))
        except (ValueError, OverflowError):
            out.append(f"\\unicode{{{raw}}}")
    elif name.startswith("cite"):
        out.append(f"[{raw}]")
    elif name == "eqref":
        out.append(f"({raw})")
    else:
        out.append(raw)
    return j


def _h_href(r, name, i, end, math, depth, out) -> int:
    url, j = r.raw_arg(i + 1, end)
    if url is None:
        return r.unknown(i, end, math, depth, out)
    label, j = r.arg(j, end, False, depth)
    label = " ".join(label.split())
    out.append(url if not label or label == url else f"{label} ({url})")
    return j


def _h_text_args(r, name, i, end, math, depth, out) -> int:
    """\\footnote{x} → (x); \\pmod{q} → (mod q); \\ion{N}{ii} → N II; \\SI{5}{m} → 5 m; \\textsuperscript{th} → ᵗʰ."""
    first, j = r.arg(i + 1, end, math and name == "pmod", depth)
    if name in ("footnote", "pmod"):
        out.append(f" ({'mod ' if name == 'pmod' else ''}{first})")
    elif name in ("ion", "SI"):
        second, j = r.arg(j, end, False, depth)
        out.append(f"{first} {second.upper() if name == 'ion' else second}".strip())
    elif name in ("textsuperscript", "textsubscript") and r.scripts:
        table = T.SUPERSCRIPTS if name == "textsuperscript" else T.SUBSCRIPTS
        out.append(first.translate(table) if all(ord(c) in table for c in first) else first)
    else:
        out.append(first)
    return j


def _h_environment(r, name, i, end, math, depth, out) -> int:
    env = r.env_name(i)
    close = r.pair.get(i, end)
    if env is None or close >= end or (env not in MATH_ENVS and env not in TEXT_ENVS) or name == "end":
        return r.unknown(i, end, math, depth, out)
    j = i + 4
    if env in ("array", "subarray", "alignat", "alignat*"):
        j = r.raw_arg(j, end)[1]  # the column specification
    brackets = _BRACKETS.get(env, "")
    if env in TEXT_ENVS:
        body = r.seq(j, close, False, depth + 1)
    elif math:
        body = r.seq(j, close, True, depth + 1)
    else:
        body = r.math_span(j, close, depth)
    out.append(f" {brackets[:1]}{body}{brackets[1:]} ")
    return close + 4 if r.env_name(close) == env else close + 1


def _h_linebreak(r, name, i, end, math, depth, out) -> int:
    """`\\\\` ends a row of an array or aligned equations: "; " between rows, unless the row ends in punctuation."""
    last = "".join(out[-2:]).rstrip()[-1:]
    out.append("; " if math and last and last not in ",;." else " ")
    return i + 1


def _h_item(r, name, i, end, math, depth, out) -> int:
    out.append(" • ")
    return r.eat_space(i + 1, end)


def _h_abbreviation(r, name, i, end, math, depth, out) -> int:
    out.append(T.ABBREVIATIONS[name])
    return i + 3 if i + 2 < end and r.toks[i + 1] == "{" and r.pair.get(i + 1) == i + 2 else i + 1  # \\eg{}


HANDLERS = {
    **dict.fromkeys(T.DROPPED | T.DROPPED_WITH_ARGUMENT, _h_drop),
    **dict.fromkeys(T.SPACES | T.SPACES_WITH_ARGUMENT, _h_space),
    **dict.fromkeys(T.MATH_WRAPPERS | T.TEXT_WRAPPERS, _h_wrapper),
    **dict.fromkeys(T.ALPHABETS, _h_alphabet),
    **dict.fromkeys(T.MATH_ACCENTS, _h_math_accent),
    **dict.fromkeys("frac dfrac tfrac cfrac binom dbinom tbinom".split(), _h_frac),
    "sqrt": _h_sqrt, "over": _h_over, "choose": _h_over, "not": _h_not,
    **dict.fromkeys("underset overset stackrel".split(), _h_stack),
    **dict.fromkeys("url unicode cite citep citet citealt citealp cite* citeauthor ref eqref num si".split(), _h_raw),
    "href": _h_href,
    **dict.fromkeys("footnote pmod ion SI textsuperscript textsubscript".split(), _h_text_args),
    "begin": _h_environment, "end": _h_environment, "\\": _h_linebreak, "item": _h_item,
    **dict.fromkeys(T.ABBREVIATIONS, _h_abbreviation),
}
