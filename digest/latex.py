"""LaTeX in titles and abstracts as Unicode text, pure: `readable` for emails, `plain_text` for ranking and embedding.

arXiv titles and abstracts are LaTeX source: accents (`Schr\\"odinger`), text
commands (`\\emph{x}`) and math (`$p\\ne 7$`, `$\\mathbb{Z}_{\\frac{s^m-1}{10}}$`).
One small reader turns them into text a person (or a tokeniser) reads as meant:
"Schrödinger", "x", "p ≠ 7", "ℤ_{(sᵐ−1)/10}". It tokenises once, pairs what
must be paired (braces, `$…$`, `$$…$$`, `\\(…\\)`, `\\[…\\]`, environments;
anything left unpaired is plain text) and writes Unicode as it reads, in one
pass, so hostile input costs linear time and nesting deeper than MAX_DEPTH is
shown as written.

Math keeps every symbol: relations and operators become their signs, spaced as
TeX spaces them (p ≠ 7, 2 × 2, ±1, tight in scripts: ℝ^{n×d}), \\mathbb,
\\mathcal and \\mathfrak letters their Unicode letters, sub- and superscripts
Unicode ones where every character has one (else `_c`, `^{…}`), fractions a/b
with brackets where needed ((11/5)n). Other spacing is the source's. A command
neither digest.latex_tables nor digest.latex_commands knows is kept as written,
its braces too (`\\foo{x}` stays `\\foo{x}`): never dropped.

`plain_text` is `readable` with sub- and superscripts left as `x^2`, `x_i`:
folded to ASCII for ranking, `xᵢ` would merge into one word "xi", and
embedding vocabularies lack the small letters. Text without any of `\\ $ { } ~`
(most titles, many abstracts) is returned untouched after a few substring tests.
"""

from __future__ import annotations

import re
import unicodedata

from digest import latex_tables as T
from digest.latex_commands import HANDLERS, accent

__all__ = ["MAX_DEPTH", "plain_text", "readable"]

MAX_DEPTH = 40
_MATH_DELIMITERS = frozenset(("$", "\\(", "\\)", "\\[", "\\]"))
_DELIMITERS = _MATH_DELIMITERS | {"{", "}", "\\begin", "\\end"}
# Commands, specials, whitespace, and runs of plain words with the single spaces between them (one token for a
# whole plain stretch: the reader's cost is per token). Whitespace next to a special stays a token of its own.
_TOKEN = re.compile(r"\\(?:[A-Za-z]+\*?|.)|[{}$^_~&]|\s+|[^\\{}$^_~&\s]+(?:\s[^\\{}$^_~&\s]+)*|\\", re.S)
_TEXT_LIGATURES = (("---", "—"), ("--", "–"), ("``", "“"), ("''", "”"))
_MATH_CHARS = str.maketrans({"-": "−", "'": "′"})
# In math a hyphen joins words (R-symmetry, GT-DSGD) when a word of three letters or more stands on one side of it;
# between single letters (x-y) it is a minus.
_WORD_HYPHEN = re.compile(r"(?<=[A-Za-z]{3})−(?=[A-Za-z])|(?<=[A-Za-z])−(?=[A-Za-z]{3})")
_OPENING_QUOTES = re.compile(r"(?<![^\s(\[])''(?=\w)")
_OPEN_SPACE = re.compile(r"([(\[{⟨⌈⌊]) | (?=[)\]}⟩⌉⌋,;])")
# Tokens a function name is not set off from: a bracket and its sizes (log(n), max\\{a, b\\}, log\\left(x\\right)).
_DELIMITER_SIZES = frozenset("\\left \\right \\big \\Big \\bigg \\Bigg \\bigl \\bigr \\Bigl \\Bigr \\{ \\|".split())
_RELATION_SIGNS = frozenset(T.RELATIONS.values())
_OPERATOR_SIGNS = frozenset(T.OPERATORS.values())


def readable(text: str) -> str:
    """Text for a reader: LaTeX markup as Unicode; text without markup is returned as it is."""
    return _convert(text, scripts=True)


def plain_text(text: str) -> str:
    """Text for ranking and embedding: as `readable`, with sub- and superscripts kept as `x^2`, `x_i`."""
    return _convert(text, scripts=False)


def _math_run(tok: str) -> str:
    tok = tok.translate(_MATH_CHARS)
    return _WORD_HYPHEN.sub("-", tok) if "−" in tok else tok


def _convert(text: str, scripts: bool) -> str:
    # Substring tests, each a fast scan in C: far cheaper than one regex with these alternatives.
    if not text or not ("\\" in text or "$" in text or "{" in text or "}" in text or "~" in text or "--" in text
                        or "``" in text or "''" in text):
        return text
    reader = _Reader(_TOKEN.findall(text), scripts)
    out = reader.seq(0, len(reader.toks), math=False, depth=0)
    return unicodedata.normalize("NFC", " ".join(out.split()))


class _Reader:
    """One text's tokens, their pairs, and the recursive reader over them."""

    def __init__(self, toks: list[str], scripts: bool) -> None:
        self.toks, self.scripts = toks, scripts
        self.tight = 0                   # > 0 inside a sub- or superscript: relations unspaced, as TeX sets them
        self.pair: dict[int, int] = {}   # `{` → its `}`; a math opener → its closer; `\begin` → its `\end`
        marks = [i for i, tok in enumerate(toks) if tok in _DELIMITERS]  # the few tokens pairing looks at
        self._pair_braces(marks)
        self._pair_math(marks)

    # --- pairing ------------------------------------------------------------------------------------------
    def _pair_braces(self, marks: list[int]) -> None:
        stack, envs = [], {}
        for i in marks:
            tok = self.toks[i]
            if tok == "{":
                stack.append(i)
            elif tok == "}" and stack:
                self.pair[stack.pop()] = i
            elif tok in ("\\begin", "\\end"):
                name = self.env_name(i)
                if name is not None and tok == "\\begin":
                    envs.setdefault(name, []).append(i)
                elif name is not None and envs.get(name):
                    self.pair[envs[name].pop()] = i

    def _pair_math(self, marks: list[int]) -> None:
        toks, opener, kind, skip = self.toks, None, None, -1
        closers = {"$": "$", "$$": "$$", "\\(": "\\)", "\\[": "\\]"}
        for i in marks:
            tok = toks[i]
            if i == skip or tok not in _MATH_DELIMITERS:
                continue
            if tok == "$" and i + 1 < len(toks) and toks[i + 1] == "$" and kind in (None, "$$"):
                tok, skip = "$$", i + 1
            if kind is None and tok in closers:
                opener, kind = i, tok
            elif kind is not None and tok == closers[kind]:
                self.pair[opener] = i
                opener = kind = None

    def env_name(self, i: int) -> str | None:
        toks = self.toks
        if i + 3 < len(toks) and toks[i + 1] == "{" and toks[i + 3] == "}":
            return toks[i + 2]
        return None

    # --- reading ------------------------------------------------------------------------------------------
    def seq(self, i: int, end: int, math: bool, depth: int) -> str:
        """Tokens [i, end) as text (or math): each construct reads its own arguments."""
        if depth > MAX_DEPTH:
            return "".join(self.toks[i:end])
        out: list[str] = []
        while i < end:
            i = self.step(i, end, math, depth, out)
        return "".join(out)

    def step(self, i: int, end: int, math: bool, depth: int, out: list[str]) -> int:
        tok = self.toks[i]
        if tok[0] == "\\" and len(tok) > 1:
            return self.command(i, end, math, depth, out)
        if tok == "{" and self.pair.get(i, end) < end:
            body = self.seq(i + 1, self.pair[i], math, depth + 1)
            # In text, `_` and `^` are plain characters: the group after one is a subscript whose braces matter.
            out.append(f"{{{body}}}" if not math and i and self.toks[i - 1] in ("_", "^") else body)
            return self.pair[i] + 1
        if tok == "$" and self.pair.get(i, end) < end:
            close = self.pair[i]
            start = i + 2 if self.toks[i + 1] == "$" and close != i + 1 else i + 1
            out.append(self.math_span(start, close, depth))
            return close + (2 if start == i + 2 else 1)
        if math and tok in "^_":
            return self.script(i, end, depth, out)
        elif tok == "~":
            out.append(" " if math or self._tie(i) else "~")
        elif tok == "&":
            out.append(" " if math else "&")
        elif tok.isspace():
            out.append(" ")
        elif math:
            out.append(_math_run(tok))
        elif "-" in tok or "`" in tok or "'" in tok:
            tok = _OPENING_QUOTES.sub("“", tok) if "''" in tok else tok  # ''oracle'': an opening pair, typed as closing
            for plain, sign in _TEXT_LIGATURES:
                tok = tok.replace(plain, sign)
            out.append(tok)
        else:
            out.append(tok)
        return i + 1

    def _tie(self, i: int) -> bool:
        """`~` between two words is LaTeX's unbreakable space (Artemis~1); `~70%` or `z ~ 1` means "about"."""
        toks = self.toks
        before = toks[i - 1] if i else " "
        after = toks[i + 1] if i + 1 < len(toks) else " "
        return not before[-1].isspace() and before[-1] not in "([" and not after[0].isspace()

    def math_span(self, i: int, end: int, depth: int) -> str:
        body = " ".join(self.seq(i, end, True, depth + 1).split())
        return _OPEN_SPACE.sub(lambda m: m.group(1) or "", body)

    def arg(self, i: int, end: int, math: bool, depth: int) -> tuple[str, int]:
        """One argument: a {group}, a command, or a single character; ("", i) when there is none."""
        while i < end and self.toks[i].isspace():
            i += 1
        if i >= end:
            return "", i
        tok = self.toks[i]
        if tok[0].isspace():  # the rest of a run an argument was taken from: `\\frac1 2`
            tok = self.toks[i] = tok.lstrip()
        if depth > MAX_DEPTH:
            return tok, i + 1
        if tok == "{" and self.pair.get(i, end) < end:
            return self.seq(i + 1, self.pair[i], math, depth + 1), self.pair[i] + 1
        if tok[0] == "\\" and len(tok) > 1:
            out: list[str] = []
            j = self.command(i, end, math, depth + 1, out)
            if j - 1 > i and self.toks[j - 1].isspace():
                j -= 1  # the space after a one-command argument is the surrounding text's: `M_\\star >0`
            return "".join(out), j
        if len(tok) > 1 and tok not in ("$", "{", "}"):
            self.toks[i] = tok[1:]  # the rest of the run is read next
            tok, i = tok[0], i - 1
        return (_math_run(tok) if math else tok), i + 1

    def raw_arg(self, i: int, end: int) -> tuple[str | None, int]:
        """A {group} as written (URLs, citation keys, environment names); None when there is none."""
        j = i
        while j < end and self.toks[j].isspace():
            j += 1
        if j < end and self.toks[j] == "{" and self.pair.get(j, end) < end:
            return "".join(self.toks[j + 1:self.pair[j]]), self.pair[j] + 1
        return None, i

    def script(self, i: int, end: int, depth: int, out: list[str]) -> int:
        kind = self.toks[i]
        table = T.SUPERSCRIPTS if kind == "^" else T.SUBSCRIPTS
        while out and out[-1] == " ":
            out.pop()  # "H ^s" is H^s
        self.tight += 1
        try:
            body, j = self.arg(i + 1, end, True, depth)
        finally:
            self.tight -= 1
        body = " ".join(body.split())
        if j == i + 1 and not body:
            out.append(kind)
            return i + 1
        if body in ("′", "′′", "°") or (kind == "^" and body == "∘"):
            out.append("°" if body == "∘" else body)
        elif self.scripts and all(ord(c) in table for c in body):
            out.append(body.translate(table))
        elif len(body) == 1:
            out.append(kind + body)
        elif body:
            out.append(f"{kind}{{{body}}}")
        return j

    # --- commands -----------------------------------------------------------------------------------------
    def command(self, i: int, end: int, math: bool, depth: int, out: list[str]) -> int:
        name = self.toks[i][1:]
        if name in ("(", "[") and self.pair.get(i, end) < end:
            out.append(self.math_span(i + 1, self.pair[i], depth))
            return self.pair[i] + 1
        if name in T.TEXT_ACCENTS:
            if name == "'" and i + 1 < end and self.toks[i + 1].startswith("'"):
                name = '"'  # Schr\''odinger: a doubled quote for the umlaut
                self.toks[i + 1] = self.toks[i + 1][1:] or " "
            body, j = self.arg(i + 1, end, False, depth)
            out.append(accent(body, T.TEXT_ACCENTS[name], name) if body else "")
            return j
        handler = HANDLERS.get(name)
        if handler is not None:
            return handler(self, name, i, end, math, depth, out)
        sign = T.GREEK.get(name) or T.SYMBOLS.get(name)
        if sign is not None:
            out.append(sign)
            return i + 1
        if (name in T.RELATIONS or name in T.OPERATORS) and not math:
            out.append(T.RELATIONS.get(name) or T.OPERATORS[name])  # in text, as written: "(\\dot{M}_\\star"
            return i + 1
        if name in T.RELATIONS:
            if self.tight:  # in a script, as the source spaces it: `_{n\\to\\infty}`, `_{n \\in A}`
                out.append(T.RELATIONS[name])
                return self.mirror_space(i, end)
            out.extend((" ", T.RELATIONS[name], " "))
            return self.eat_space(i + 1, end)
        if name in T.OPERATORS:
            return self.operator(i, end, T.OPERATORS[name], out)
        if name in T.FUNCTIONS:
            return self.function(name, i + 1, end, out)
        if name in T.ESCAPES:
            out.append(T.ESCAPES[name])
            return i + 1
        return self.unknown(i, end, math, depth, out)

    def eat_space(self, i: int, end: int) -> int:
        """Past the space after a command that sets its own spacing (a relation, \\left, \\rm)."""
        return i + 1 if i < end and self.toks[i].isspace() else i

    def mirror_space(self, i: int, end: int) -> int:
        """Past command i, keeping the space after it only when one came before it too (`n \\times k`, `n\\times k`)."""
        return i + 1 if i and self.toks[i - 1].isspace() else self.eat_space(i + 1, end)

    def next_token(self, i: int, end: int) -> str:
        return self.toks[i] if i < end else ""

    def operator(self, i: int, end: int, sign: str, out: list[str]) -> int:
        """A binary operator, spaced as TeX spaces it: 2 × 2, but ±1 after an opening bracket or a relation."""
        before = "".join(out[-2:]).rstrip()[-1:]
        unary = not before or before in "([{⟨,;:=<>" or before in _RELATION_SIGNS or before in _OPERATOR_SIGNS
        if self.tight or unary:
            out.append(sign)
            return self.mirror_space(i, end) if self.tight else self.eat_space(i + 1, end)
        out.extend((" ", sign, " "))
        return self.eat_space(i + 1, end)

    def function(self, name: str, i: int, end: int, out: list[str]) -> int:
        """log, max, ...: set off from what is around it (n log n, |U| log |U|), not from its brackets (log(n))."""
        before = "".join(out[-2:])[-1:]
        if before.isalnum() or before in (")", "]", "}", "′", "|"):
            out.append(" ")
        out.append("mod" if name == "bmod" else name)
        j = self.eat_space(i, end)
        nxt = self.next_token(j, end)
        if name.endswith("mod") or (nxt and nxt[0] not in "(_^[)]},;.'" and nxt not in _DELIMITER_SIZES):
            out.append(" ")
        return j

    def unknown(self, i: int, end: int, math: bool, depth: int, out: list[str]) -> int:
        """A command we do not know: kept as written, with the braces of the groups right after it."""
        out.append(self.toks[i])
        j = i + 1
        while j < end and self.toks[j] == "{" and self.pair.get(j, end) < end:
            out.append("{" + self.seq(j + 1, self.pair[j], math, depth + 1) + "}")
            j = self.pair[j] + 1
        return j
