"""The bundled seeds: the seed listing, kept byte for byte, parsed and repaired once by the rule of seeds_repair.py."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

import seeds_repair
from digest.latex import readable
from digest.resources import resource_dir
from digest.sources import parse
from helpers import SEED_LISTING

LISTING_SHA256 = "ad72a85ccb880923fd2cb0c8c17902d77bd52f9d9b8388c22c5649320655930a"
# What the scrape left of LaTeX, as a reader of the digest would see it: command names without their backslash.
_NAMES = ("alpha|beta|gamma|delta|epsilon|varepsilon|theta|kappa|lambda|mu|sigma|omega|Omega|Theta|infty|cdot|otimes|"
          "geq|leq|sqrt|frac|widetilde|mathcal|dagger|approx|subseteq|bigl|bigr|downarrow")
REMNANT = re.compile(rf"(?<![A-Za-z\\])(?:[A-Za-z]'?)?(?:{_NAMES})(?![A-Za-z])(?! update)|\^top\b|\{{(?:bf|sf) |"
                     r"[0-9]times\b|\bsim[0-9]|\b[A-Za-z]'?in R\^|\bell_|\b[mn](?:ll|gg)\b|\bbullet\b")


def bundled() -> list[dict]:
    return json.loads((resource_dir("seeds") / "papers.json").read_text(encoding="utf-8"))


def listing() -> list[dict]:
    return [{"title": e.title, "abstract": e.abstract} for e in parse("listing", SEED_LISTING.read_bytes()).entries]


def remnants(rows: list[dict]) -> list[tuple[int, str]]:
    return [(n, m.group()) for n, row in enumerate(rows) for text in row.values() for m in REMNANT.finditer(readable(text))]


def test_bundled_seeds_are_the_untouched_listing_repaired_by_the_stated_rule():
    assert hashlib.sha256(SEED_LISTING.read_bytes()).hexdigest() == LISTING_SHA256
    seeds = bundled()
    assert seeds == seeds_repair.repaired_seeds() and len(seeds) == 158
    # The repair adds markup and changes no word: without it, every paper reads as in the listing.
    def words(rows):
        return [{k: re.sub(r"[$\\{}()]|frac", "", v) for k, v in row.items()} for row in rows]

    assert words(seeds) == words(listing())


def test_the_demo_shows_no_latex_remnants():
    assert len(remnants(listing())) == 142  # what the scraped listing shows: Omega, ncdot, QK^top, {bf 1}_n, 2.4times ...
    assert remnants(bundled()) == []


@pytest.mark.parametrize("scraped, repaired", [
    ("in time O(m + ncdot epsilon^{-2.5} + epsilon^{-3})", r"in time $O(m + n\cdot \epsilon^{-2.5} + \epsilon^{-3})$"),
    ("diag( exp(QK^top) {bf 1}_n ).", r"diag( $\exp(QK^\top) {\bf 1}_n$ )."),
    ("using N^2d^2{M} I/O operations", r"using $\frac{N^2d^2}{M}$ I/O operations"),
    ("Given a matrix Ain R^{ntimes d} and a vector bin R^n,", r"Given a matrix $A\in R^{n\times d}$ and a vector $b\in R^n$,"),
    ("with mll n and", r"with $m\ll n$ and"),
    ("a sparse k times d matrix", r"a sparse $k \times d$ matrix"),
    ("within a factor (1 pm varepsilon).", r"within a factor $(1 \pm \varepsilon)$."),
    ("an epsilon-approximate Nash equilibrium", r"an $\epsilon$-approximate Nash equilibrium"),
    ("up to 3.2times faster, in sim3 hours", r"up to 3.2$\times$ faster, in $\sim$3 hours"),
    ("from O(L^6) to O(L^3), where", "from $O(L^6)$ to $O(L^3)$, where"),
    ("for all of them, ill-suited, into the delta update rule", "for all of them, ill-suited, into the delta update rule"),
    ("25-40\\% of the peak, Nystr\\\"{o}m", "25-40\\% of the peak, Nystr\\\"{o}m"),  # already LaTeX
])
def test_the_rule_on_scraped_phrases(scraped, repaired):
    assert seeds_repair.repair(scraped) == repaired
