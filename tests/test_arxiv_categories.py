"""The shipped arXiv taxonomy and the categories check of a subscriber's preferences."""

from __future__ import annotations

import pytest

from digest import subscriptions as subs
from digest.arxiv_categories import ARCHIVES, CATEGORIES, UnknownCategory, canonical_category


def test_taxonomy_holds_the_official_categories_and_archives():
    assert len(CATEGORIES) == 155 and len(set(CATEGORIES)) == 155
    for name in ("cs.LG", "stat.ML", "astro-ph.CO", "cond-mat.str-el", "physics.optics", "q-fin.TR", "eess.SY",
                 "econ.EM", "hep-th", "quant-ph", "math-ph", "gr-qc", "nucl-th"):
        assert name in CATEGORIES, name
    assert {"cs", "math", "physics", "astro-ph", "cond-mat", "q-bio"} <= set(ARCHIVES)


@pytest.mark.parametrize("text, expected", [
    ("cs.lg", "cs.LG"), ("CS", "cs"), ("cs.*", "cs"), ("astro-ph.co", "astro-ph.CO"), ("Hep-Th", "hep-th"),
    ("physics.OPTICS", "physics.optics"),
])
def test_categories_take_arxivs_spelling(text, expected):
    assert canonical_category(text) == expected


@pytest.mark.parametrize("text, message", [
    ("cs.XYZ", "unknown arXiv category 'cs.XYZ'; did you mean cs.CY or cs.SY?"),
    ("hepth", "did you mean hep-th?"),
    ("<script>", "see https://arxiv.org/category_taxonomy"),
])
def test_unknown_category_suggests_the_closest(text, message):
    with pytest.raises(UnknownCategory, match=message.replace("?", r"\?").replace(".", r"\.")):
        canonical_category(text)


def test_validate_preferences_refuses_an_unknown_category_and_keeps_known_ones_canonical():
    with pytest.raises(subs.SubscriptionError, match="did you mean cs.CY or cs.SY"):
        subs.validate_preferences(topics=["x"], categories=["cs.LG", "cs.XYZ"])
    prefs = subs.validate_preferences(topics=["x"], categories=["cs.lg", "CS.LG", "stat.ml", " "])
    assert prefs.categories == ["cs.LG", "stat.ML"]
