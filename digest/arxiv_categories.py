"""arXiv's category taxonomy (https://arxiv.org/category_taxonomy), shipped with the package.

A subscriber's category list is checked against it, so a typo is refused with
the closest real category instead of silently matching nothing for ever.
"""

from __future__ import annotations

import difflib

# archive -> its subject classes; an archive with none ("hep-th") is a category itself.
_TAXONOMY = {
    "astro-ph": "CO EP GA HE IM SR",
    "cond-mat": "dis-nn mes-hall mtrl-sci other quant-gas soft stat-mech str-el supr-con",
    "cs": "AI AR CC CE CG CL CR CV CY DB DC DL DM DS ET FL GL GR GT HC IR IT LG LO MA MM MS NA NE NI OH OS PF PL "
          "RO SC SD SE SI SY",
    "econ": "EM GN TH",
    "eess": "AS IV SP SY",
    "gr-qc": "",
    "hep-ex": "",
    "hep-lat": "",
    "hep-ph": "",
    "hep-th": "",
    "math": "AC AG AP AT CA CO CT CV DG DS FA GM GN GR GT HO IT KT LO MG MP NA NT OA OC PR QA RA RT SG SP ST",
    "math-ph": "",
    "nlin": "AO CD CG PS SI",
    "nucl-ex": "",
    "nucl-th": "",
    "physics": "acc-ph ao-ph app-ph atm-clus atom-ph bio-ph chem-ph class-ph comp-ph data-an ed-ph flu-dyn gen-ph "
               "geo-ph hist-ph ins-det med-ph optics plasm-ph pop-ph soc-ph space-ph",
    "q-bio": "BM CB GN MN NC OT PE QM SC TO",
    "q-fin": "CP EC GN MF PM PR RM ST TR",
    "quant-ph": "",
    "stat": "AP CO ME ML OT TH",
}

ARCHIVES: tuple[str, ...] = tuple(_TAXONOMY)
CATEGORIES: tuple[str, ...] = tuple(
    f"{archive}.{subject}" if subject else archive
    for archive, subjects in _TAXONOMY.items() for subject in (subjects.split() or [""])
)
_CANONICAL = {name.lower(): name for name in (*ARCHIVES, *CATEGORIES)}


class UnknownCategory(ValueError):
    """Not an arXiv category or archive; the message suggests the closest one."""


def canonical_category(text: str) -> str:
    """`text` in arXiv's spelling (cs.lg -> cs.LG; "cs.*" -> cs), or UnknownCategory with a suggestion."""
    wanted = text.strip()
    key = wanted.lower()
    if key.endswith(".*"):  # "cs.*" is the whole archive, as ranking reads it
        key = key[:-2]
    if key in _CANONICAL:
        return _CANONICAL[key]
    shown = wanted[:60]
    close = closest_categories(key)
    if close:
        raise UnknownCategory(f"unknown arXiv category {shown!r}; did you mean {' or '.join(close)}?")
    raise UnknownCategory(f"unknown arXiv category {shown!r} (e.g. cs.LG, math.PR, hep-th; "
                          "see https://arxiv.org/category_taxonomy)")


def closest_categories(text: str) -> list[str]:
    """The real categories nearest to `text`: every one tied for best (cs.xyz is as near cs.CY as cs.SY)."""
    key = text.strip().lower()
    close = difflib.get_close_matches(key, list(_CANONICAL), n=3)
    if not close:
        return []
    best = difflib.SequenceMatcher(None, key, close[0]).ratio()
    return sorted(_CANONICAL[c] for c in close if difflib.SequenceMatcher(None, key, c).ratio() == best)
