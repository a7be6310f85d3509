"""The bundled seeds from the seed listing: parsed by digest.sources.listing, then repaired once, by the rule below.

    python tests/seeds_repair.py          # rewrites seeds/papers.json from tests/fixtures/seeds/

The listing (kept byte for byte) was scraped from a page of abstracts whose LaTeX had lost its dollar signs, most
backslashes and the outer braces of fractions: `$n\\cdot\\epsilon^{-2.5}$` arrived as "ncdot epsilon^{-2.5}",
`{\\bf 1}_n` as "{bf 1}_n", `QK^\\top` as "QK^top", `\\frac{N^2d^2}{M}` as "N^2d^2{M}". The rule puts formulas back
between dollars and command names back behind their backslash, so digest.latex shows them as math (n · ϵ⁻²·⁵, 1ₙ,
QKᵀ, N²d²/M):

1. A number glued to a sign is a formula of the sign: "2.4times", "sim3", "2.17downarrow" → 2.4$\\times$, $\\sim$3;
   so is "bullet" before a sentence (a list marker).
2. A formula word has one of ^ _ { } = | < > in it; or its letter runs are command names or variables of one or
   two letters, one of them a name no English sentence uses ("epsilon", "Omega(Nd)", "n)/alpha"); or it is one
   operand letter glued to a relation ("ncdot", "mll", "nge"), or to such a name before an operand or sign
   ("Atheta ="). A hyphenated English ending stays outside
   ("epsilon-approximate", "A_n-equivariant"). URLs, text already in LaTeX, and the English words in ENGLISH
   ("all" is not a\\ll, "the delta update rule" is the delta rule) are not formulas. So is "X times Y" of letters.
3. A formula runs over the formula words and the operands and command names between them ("M^* in R^{n times n}"),
   on while a bracket it opened is open, and takes in the operand after a final relation ("mll n"), a sign or
   function before it ("(1 pm varepsilon)", "exp (-Omega"), the operand before a leading relation ("n cdot"), and
   "X in" before it ("bin R^n"). Trailing punctuation and brackets that close nothing inside stay outside.
4. In a formula each letter run made of command names, after at most one operand letter, gets its backslashes:
   "ntimes" → n\\times, "muapproxsum" → \\mu\\approx\\sum; other runs ("NKD", "rank") stay. A brace group right after
   an operand (not after ^, _ or a command) is the denominator of a fraction that lost `\\frac{` and `}`, its
   numerator reaching back to a space, bracket, comma or sign; `frac{a{b}}` lost one `}`; `sqrt(x)` is \\sqrt{x};
   min{…} is \\min\\{…\\}; ^nd and ^th are ^{nd}, ^{th}.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from digest.latex_commands import closing

ROOT = Path(__file__).resolve().parents[1]
LISTING = ROOT / "tests" / "fixtures" / "seeds" / "trending-papers-listing.txt"
SEEDS = ROOT / "seeds" / "papers.json"

GREEK = ("alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi pi rho sigma "
         "tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega").split()
RELATIONS = set("in to geq leq ge le neq ll gg cdot otimes oplus times pm approx sim simeq propto subseteq subset "
                "mapsto".split())
# Command names that are English words too: restored inside a formula only.
WORD_NAMES = set("in to top times pm subset sum prod min max log ln exp sin cos det dim mod left right hat bar vec "
                 "bullet".split())
# Command names no English sentence uses as a word: a formula on their own.
MATH_NAMES = set(GREEK) | (RELATIONS - WORD_NAMES) | set(
    "ell infty cdots ldots dagger sqrt frac tilde widetilde widehat mathcal mathbb sf bf bigl bigr argmin downarrow "
    "uparrow".split())
ARGUMENT_NAMES = set("sqrt frac mathcal mathbb mathrm widetilde tilde widehat hat bar vec min max sf bf".split())
NAMES = sorted(MATH_NAMES | WORD_NAMES, key=len, reverse=True)
BEFORE = set("pm times cdot exp log ln min max".split())  # a sign or function right before a formula is in it
ENGLISH = {"all", "ill", "meta", "retain"}  # words that split into an operand letter and command names
ENGLISH_PHRASES = {("delta", "update")}  # a name followed by this word is English: "the delta update rule"
MATH_CHARS = re.compile(r"[\^_{}=|<>]")
LATEX = re.compile(r"\\\(.*?\\\)|\$[^$]*\$", re.S)
GLUED = re.compile(r"(?<=[0-9])(times|downarrow|uparrow)\b|\b(sim)(?=[0-9])|\b(bullet)(?= [A-Z])")
SUFFIX = re.compile(r"-(?!(?:" + "|".join(GREEK) + r")\b)[a-z]{3,}[.,;:]*$")  # "-approximate", not "-delta"
OPERAND = re.compile(r"^[(\[]*(?:[A-Za-z]|[0-9.]+|[-+=<>*/]|[A-Za-z0-9]{1,2}[-+][A-Za-z0-9]{1,2})[)\]]*[.,;:]*$")
MEMBER = re.compile(r"^[A-Za-z]'?in$")


def split_names(run: str, operand: bool = True) -> list[str] | None:
    """`run` as [one operand letter] + command names, longest names first; None when it is not made of names."""
    for start in ((0, 1) if operand and len(run) > 1 else (0,)):
        parts, i = ([run[:start]] if start else []), start
        while i < len(run):
            name = next((n for n in NAMES if run.startswith(n, i)), None)
            if name is None:
                break
            parts.append("\\" + name)
            i += len(name)
        if i == len(run) and len(parts) > start:
            return parts
    return None


def formula_word(word: str, following: str = "") -> bool:
    bare = SUFFIX.sub("", word).strip(".,;:")
    if not bare or "://" in word or "www." in word or "\\" in word or (bare, following) in ENGLISH_PHRASES:
        return False
    if MATH_CHARS.search(bare):
        return True
    runs = re.findall(r"[A-Za-z]+", bare)
    if not runs or bare.lower() in ENGLISH:
        return False
    named = [split_names(r, operand=False) for r in runs]
    if all(parts or len(r) <= 2 for r, parts in zip(runs, named)) and \
            any(n.lstrip("\\") in MATH_NAMES for parts in named if parts for n in parts):
        return True
    parts = split_names(bare) if bare == runs[0] else None  # "ncdot", "mll", "Atheta =": not "into"
    if not parts or len(parts) < 2 or parts[0].startswith("\\"):
        return False
    return parts[1].lstrip("\\") in RELATIONS or (parts[1].lstrip("\\") in MATH_NAMES and _operand(following))


def _operand(word: str) -> bool:
    return bool(OPERAND.match(word))


def _joins(word: str) -> bool:
    """Between formula words: operands, command names, bracketed letters ("[m]times", "(0,1]"); not "to", which
    between two formulas is English ("from O(L^6) to O(L^3)")."""
    if word == "to":
        return False
    if _operand(word) or word in WORD_NAMES:
        return True
    runs = re.findall(r"[A-Za-z]+", word)
    return bool(runs) and not re.search(r"[^A-Za-z0-9()\[\],.+\-*/]", word) and \
        all(len(r) == 1 or split_names(r, operand=False) for r in runs)


def repair(text: str) -> str:
    """`text` with its formulas in dollars and their commands' backslashes restored (see the module docstring)."""
    text = GLUED.sub(lambda m: f"$\\{m.group(1) or m.group(2) or m.group(3)}$", text)
    out, last = [], 0
    for match in LATEX.finditer(text):
        out.append(_repair_plain(text[last:match.start()]) + match.group())
        last = match.end()
    return "".join(out) + _repair_plain(text[last:])


def _repair_plain(text: str) -> str:
    words = text.split(" ")
    spans, k = [], 0
    flags = [formula_word(w, words[n + 1] if n + 1 < len(words) else "") for n, w in enumerate(words)]
    for n in range(1, len(words) - 1):  # "d times d"
        if words[n] == "times" and re.fullmatch(r"[A-Za-z]", words[n - 1]) and re.fullmatch(r"[A-Za-z]", words[n + 1]):
            flags[n - 1] = flags[n] = flags[n + 1] = True
    while k < len(words):
        if not flags[k]:
            k += 1
            continue
        start, end = k, _formula_end(words, flags, k)
        start = _formula_start(words, start, end, spans[-1][1] + 1 if spans else 0)
        spans.append((start, end))
        k = end + 1
    for start, end in reversed(spans):
        words[start:end + 1] = [_dollars(" ".join(words[start:end + 1]))]
    return " ".join(words)


def _formula_end(words: list[str], flags: list[bool], k: int) -> int:
    end = m = k
    while m + 1 < len(words) and (flags[m + 1] or _joins(words[m + 1])):
        m += 1
        if flags[m] or _open(" ".join(words[k:end + 1])) > 0 or _glued_name(words[m]):
            end = m  # a formula word, an operand inside a bracket not closed yet, or a glued sign ("[m]times")
    if end + 1 < len(words) and _operand(words[end + 1]) and \
            re.search(r"(ll|gg|geq|leq|ge|le|cdot|times|[<>=])$", words[end]):
        end += 1  # "mll n": the operand after a final relation
    return end


def _formula_start(words: list[str], start: int, end: int, floor: int) -> int:
    first = re.match(r"[A-Za-z]+", words[start])
    leading = split_names(first.group(), operand=False) if first else None
    if start - 1 >= floor and words[start - 1] in BEFORE:
        start -= 1  # "(1 pm varepsilon)", "exp (-Omega (T))"
        if words[start] in RELATIONS and start - 1 >= floor and _operand(words[start - 1]):
            start -= 1
    elif start - 1 >= floor and leading and leading[0].lstrip("\\") in RELATIONS and _operand(words[start - 1]):
        start -= 1  # "n cdot epsilon"
    elif start - 1 >= floor and MEMBER.match(words[start - 1]):
        start -= 1  # "bin R^n"
    elif start - 2 >= floor and words[start - 1] == "in" and re.fullmatch(r"[B-Zb-z]|\S*[\^_]\S*", words[start - 2]):
        start -= 2  # "X in R^{n times k}" (a letter, not the article "a")
    while start - 1 >= floor and _open(" ".join(words[start:end + 1])) < 0 and _joins(words[start - 1]):
        start -= 1  # "(k ln^2 n)/alpha": back to the bracket the formula closes
    return start


def _glued_name(word: str) -> bool:
    return any(split_names(r, operand=False) for r in re.findall(r"[A-Za-z]+", word) if len(r) > 1) and \
        bool(re.search(r"[\[\]()]", word))


def _open(text: str) -> int:
    return text.count("(") - text.count(")")


def _dollars(formula: str) -> str:
    """`$formula$`, with trailing punctuation, an English ending and brackets closing nothing inside left outside."""
    head, tail = "", ""
    suffix = SUFFIX.search(formula)
    if suffix:
        formula, tail = formula[:suffix.start()], suffix.group()
    while formula and (formula[-1] in ".,;:" or (formula[-1] in ")]" and _unpaired(formula, -1))):
        formula, tail = formula[:-1], formula[-1] + tail
    while formula and formula[0] in "([" and _unpaired(formula, 0):
        formula, head = formula[1:], head + formula[0]
    return f"{head}${_restore(formula)}${tail}" if formula else head + tail


def _unpaired(s: str, at: int) -> bool:
    """The bracket at s[at] (its first or last character) closes or opens more than s has partners for."""
    left, right = {"(": "()", ")": "()", "[": "[]", "]": "[]"}[s[at]]
    return s.count(right) > s.count(left) if at else s.count(left) > s.count(right)


def _restore(formula: str) -> str:
    """Backslashes back on the command names of one formula, and the braces it lost."""
    formula = re.sub(r"[A-Za-z]+", lambda m: "".join(split_names(m.group()) or [m.group()]), formula)
    formula = re.sub(r"\\sqrt\(([^()]*)\)", r"\\sqrt{\1}", formula)
    formula = re.sub(r"\\frac\{([^{}]*)\{([^{}]*)\}\}", r"\\frac{\1}{\2}", formula)
    formula = re.sub(r"\^(st|nd|rd|th)\b", r"^{\1}", formula)
    formula = _set_braces(formula)
    return _fractions(formula)


def _set_braces(formula: str) -> str:
    """\\min{a, b} is \\min\\{a, b\\}: the braces of a set, not a group."""
    for match in reversed(list(re.finditer(r"\\(?:min|max)\{", formula))):
        close = closing(formula, match.end() - 1, "{}")
        if close > 0:
            formula = formula[:match.end() - 1] + "\\{" + formula[match.end():close] + "\\}" + formula[close + 1:]
    return formula


def _fractions(formula: str) -> str:
    out = formula
    for match in reversed(list(re.finditer(r"(?<=[A-Za-z0-9)}])\{(?!\\(?:sf|bf|rm)\b)", formula))):
        start = match.start()
        if closing(formula, start, "{}") < 0 or _argument(formula, start):
            continue
        begin = _numerator_start(formula, start)
        out = out[:begin] + "\\frac{" + out[begin:start] + "}" + out[start:]
    return out


def _argument(s: str, start: int) -> bool:
    """The group at `start` is a command's argument (\\sqrt[3]{, \\frac{a}{, \\mathcal{) or a script's (^{, _{)."""
    before = s[:start]
    command = re.search(r"\\([A-Za-z]+)(\[[^\]]*\])?$", before)
    if command:
        return command.group(1) in ARGUMENT_NAMES
    if before.endswith(("^", "_")):
        return True
    if before.endswith("}"):  # the second group of \frac{a}{b}
        depth, i = 0, len(before) - 1
        while i >= 0:
            depth += {"}": 1, "{": -1}.get(before[i], 0)
            if depth == 0:
                return bool(re.search(r"\\(frac|binom)$", before[:i]))
            i -= 1
    return False


def _numerator_start(s: str, end: int) -> int:
    depth, i = 0, end
    while i > 0:
        ch = s[i - 1]
        if ch in ")}]":
            depth += 1
        elif ch in "({[":
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and (ch.isspace() or ch in ",=+-"):
            break
        i -= 1
    return i


def repaired_seeds() -> list[dict]:
    from digest.sources import parse

    result = parse("listing", LISTING.read_bytes())
    return [{"title": repair(e.title), "abstract": repair(e.abstract)} for e in result.entries]


if __name__ == "__main__":
    rows = repaired_seeds()
    SEEDS.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"{SEEDS}: {len(rows)} papers", file=sys.stderr)
