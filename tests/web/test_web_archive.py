"""A reader's digests on the web: "View in browser", the archive, the Atom feed, and what their links open."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from html import unescape
from urllib.parse import urlsplit

import feedparser
import pytest

from digest import history
from digest.config import load_settings
from digest.tokens import make_edition_token, make_token
from digest.web import create_app
from helpers import make_env
from history_site import DAYS, make_history

SIGNED = ("edition", "archive", "feed")


class Site:
    def __init__(self, tmp_path, url):
        self.settings = load_settings(make_env(tmp_path, url), read_dotenv=False)
        self.history = make_history(self.settings)
        self.app = create_app(self.settings)
        self.app.extensions["digest"].limiter.prefix = f"digest-test:{uuid.uuid4().hex}"
        self.client = self.app.test_client()
        self.key = self.settings.signing_key()

    def path(self, purpose: str, subscriber: int, day: dt.date = DAYS[0]) -> str:
        if purpose == "edition":
            return f"/edition/{make_edition_token(self.key, subscriber, day)}"
        return f"/{purpose}/{make_token(self.key, purpose, subscriber)}"

    def email_cards(self, email: str) -> tuple[list[str], list[str]]:
        """The card titles and "More like this" links of the digest this reader was mailed."""
        html = self.history.mail(email).get_body(("html",)).get_content()
        return titles(html), re.findall(r'href="([^"]+/more/[^"]+)"', html)


def titles(html: str) -> list[str]:
    return [unescape(t) for t in re.findall(r'class="card-title"[^>]*><a [^>]*>([^<]+)</a>', html)]


def cards(html: str) -> list[str]:
    return re.findall(r'<div class="card".*?</div>', html, re.S)


def key_sentences(html: str) -> list[str | None]:
    """Each card's key sentence as shown (None for a card without one); it must be bold without a stylesheet
    (a feed reader drops classes): inside <strong>, in its own paragraph, before the card's reason."""
    out = []
    for card in cards(html):
        found = re.findall(r'<p class="key"[^>]*>(.*?)</p>', card, re.S)
        assert len(found) <= 1 and "Why: " in card
        if found:
            assert re.fullmatch(r"<strong[^>]*>[^<]+</strong>", found[0]), found[0]
            assert card.index('class="key"') < card.index("Why: ")
        out.append(unescape(re.sub(r"<[^>]+>", "", found[0])) if found else None)
    return out


def reasons(html: str) -> list[str]:
    return [unescape(re.sub(r"<[^>]+>", "", r)) for r in re.findall(r'<p class="reason"[^>]*>(.*?)</p>', html, re.S)]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("archive")
    return Site(tmp, f"sqlite:///{tmp}/digest.sqlite")


def test_view_in_browser_opens_the_edition_with_the_same_cards_and_feedback_links(site):
    mail = site.history.mail("ada@example.org")
    link = re.search(r"^View in browser: (\S+)$", mail.get_body(("plain",)).get_content(), re.M).group(1)
    assert link in mail.get_body(("html",)).get_content()
    page = site.client.get(urlsplit(link).path)
    assert page.status_code == 200 and page.mimetype == "text/html"
    mailed_titles, mailed_links = site.email_cards("ada@example.org")
    assert titles(page.text) == mailed_titles and len(mailed_titles) == 8
    assert re.findall(r'href="([^"]+/more/[^"]+)"', page.text) == mailed_links
    assert "arXiv:2607.29001 · cs.LG, cs.AI · cross-list from math.OC · announced\u00a031\u00a0Jul\u00a02026" in \
        unescape(page.text)
    archive = site.path("archive", site.history.ada)
    assert re.search(rf'<a href="https://digest.example.org{re.escape(archive)}">All your digests</a>', page.text)
    # Styled by its one stylesheet, which the page's Content-Security-Policy allows by hash; no inline style.
    csp = page.headers["Content-Security-Policy"]
    assert re.search(r"style-src 'nonce-[^']+' 'sha256-[A-Za-z0-9+/=]+';", csp) and "unsafe-inline" not in csp
    assert page.text.count("</style>") == 1 and " style=" not in page.text
    # A page whose link may sit in a feed reader: not the address, no preferences or unsubscribe link.
    assert "ada@example.org" not in page.text and "/preferences/" not in page.text and "/unsubscribe/" not in page.text


def test_the_edition_page_and_the_feed_show_each_cards_key_sentence_as_the_email_did(site):
    mailed = site.history.mail("ada@example.org").get_body(("html",)).get_content()
    shown = key_sentences(mailed)
    assert len(shown) == 8 and all(shown)  # every pick of Ada's carries one
    page = site.client.get(site.path("edition", site.history.ada)).text
    entry = feedparser.parse(site.client.get(site.path("feed", site.history.ada)).data).entries[0].content[0].value
    for html in (page, entry):
        assert key_sentences(html) == shown
        assert reasons(html) == reasons(mailed)  # the reason does not quote the sentence shown above it


def test_an_edition_sent_before_key_sentences_were_kept_shows_its_cards_without_one(tmp_path, db_url):
    from alembic import command
    from sqlalchemy import select

    from digest.db import alembic_config, get_engine, session_factory, upgrade
    from digest.models import DigestItem

    old = Site(tmp_path, db_url)
    with session_factory(db_url)() as session:
        kept = session.scalars(select(DigestItem.sentence).where(DigestItem.subscriber_id == old.history.ada)
                               .order_by(DigestItem.rank)).all()
    mailed = old.history.mail("ada@example.org").get_body(("html",)).get_content()
    assert sorted(kept) == sorted(key_sentences(mailed))  # each item keeps the sentence its card showed
    cfg = alembic_config(db_url)
    with get_engine(db_url).begin() as conn:  # back to the schema before the column, and up again
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007")
    from alembic.script import ScriptDirectory

    assert upgrade(db_url) == ScriptDirectory.from_config(cfg).get_current_head()
    with session_factory(db_url)() as session:
        assert set(session.scalars(select(DigestItem.sentence))) == {None}
    page = old.client.get(old.path("edition", old.history.ada)).text
    entry = feedparser.parse(old.client.get(old.path("feed", old.history.ada)).data).entries[0].content[0].value
    for html in (page, entry):
        assert titles(html) == titles(mailed) and 'class="key"' not in html and "<strong></strong>" not in html
        assert key_sentences(html) == [None] * 8
        # The reason as it was stored: with the sentence it quoted, as the email showed it before.
        assert any(f": “{s}”" in r for s, r in zip(key_sentences(mailed), reasons(html)))


def test_an_edition_link_for_a_skipped_day_says_why_and_for_a_day_without_digest_is_404(site):
    saturday = site.client.get(site.path("edition", site.history.ada, DAYS[1]))
    assert saturday.status_code == 200 and "No digest on Sat 01 Aug 2026" in saturday.text
    assert "No new papers: arXiv does not announce on Saturdays." in saturday.text
    monday = site.client.get(site.path("edition", site.history.ada, DAYS[3]))
    assert "Nothing above your relevance floor" in monday.text
    missing = site.client.get(site.path("edition", site.history.ada, DAYS[0] - dt.timedelta(days=1)))
    assert missing.status_code == 404 and "There is no digest for Thu 30 Jul 2026." in missing.text


def test_the_archive_lists_each_edition_with_its_papers_and_why_a_day_had_none(site):
    page = site.client.get(site.path("archive", site.history.ada))
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", page.text)))
    order = [text.index(f"{day:%a %d %b %Y}") for day in reversed(DAYS)]
    assert order == sorted(order)  # newest first
    assert text.count("No new papers: arXiv does not announce on Saturdays.") == 1
    assert text.count("No new papers: arXiv does not announce on Sundays.") == 1
    assert "Nothing above your relevance floor: new papers came out, but none matched your topics" in text
    assert "8 papers · Read it as a page" in text
    for title in site.email_cards("ada@example.org")[0]:
        assert title in text
    friday = site.path("edition", site.history.ada, DAYS[0])
    assert f'href="https://digest.example.org{friday}"' in page.text
    feed = site.path("feed", site.history.ada)
    assert f'rel="alternate" type="application/atom+xml" title="Your paper digest" href="https://digest.example.org{feed}"' \
        in page.text and "/preferences/" not in page.text and "ada@example.org" not in page.text


def test_the_archive_pages_back_through_older_editions(site, monkeypatch):
    monkeypatch.setattr(history, "PAGE", 3)
    first = site.client.get(site.path("archive", site.history.ada))
    older = re.search(r'<a href="([^"]+)">Older digests</a>', first.text).group(1)
    assert unescape(older).endswith("?before=2026-08-01") and "Fri 31 Jul 2026" not in first.text
    second = site.client.get(unescape(older))
    assert "Fri 31 Jul 2026" in second.text and "Older digests" not in second.text
    assert site.client.get(site.path("archive", site.history.ada) + "?before=yesterday").status_code == 400


def test_the_feed_is_valid_atom_with_one_entry_per_sent_digest(site):
    response = site.client.get(site.path("feed", site.history.ada))
    assert response.status_code == 200 and response.mimetype == "application/atom+xml"
    parsed = feedparser.parse(response.data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10" and parsed.feed.title == "Your paper digest"
    (entry,) = parsed.entries  # the skipped days are not entries
    assert entry.title == "Paper digest for Fri 31 Jul 2026: 8 new papers on language models, reinforcement learning"
    assert urlsplit(entry.link).path == site.path("edition", site.history.ada, DAYS[0])
    assert entry.id.startswith("tag:digest.example.org,2026-07-31:digest-")
    assert titles(entry.content[0].value) == site.email_cards("ada@example.org")[0]
    assert parsed.feed.links[0].href == "https://digest.example.org" + site.path("feed", site.history.ada)
    raw = response.text
    assert "ada@example.org" not in raw and "/preferences/" not in raw and "/unsubscribe/" not in raw


def test_the_preferences_page_links_the_archive_and_the_feed(site):
    page = site.client.get(site.path("preferences", site.history.ada))
    assert f'href="https://digest.example.org{site.path("archive", site.history.ada)}">All your digests</a>' in page.text
    assert f'value="https://digest.example.org{site.path("feed", site.history.ada)}"' in page.text


def mangled(path: str, other: int) -> list[str]:
    """The same link with its signature altered, truncated, moved to another reader, or for another day."""
    head, _, token = path.rpartition("/")
    first, _, rest = token.partition(".")
    out = [f"{head}/{token[:-1]}{'A' if token[-1] != 'A' else 'B'}", f"{head}/{token[:-6]}", f"{head}/{other}.{rest}",
           f"{head}/{token}x", f"{head}/0{token}"]
    if head == "/edition":
        day, _, mac = rest.partition(".")
        out.append(f"{head}/{first}.{int(day) - 1}.{mac}")
    return out


@pytest.mark.parametrize("purpose", SIGNED)
def test_a_tampered_link_is_refused_and_shows_nothing(site, purpose):
    ada, bob = site.history.ada, site.history.bob
    secret_of_bob = site.email_cards("bob@example.org")[0]
    for path in mangled(site.path(purpose, ada), bob):
        response = site.client.get(path)
        assert response.status_code == 400, path
        assert "This link is not valid" in response.text
        shown = unescape(response.text)
        assert not any(t in shown for t in secret_of_bob + site.email_cards("ada@example.org")[0])


@pytest.mark.parametrize("purpose", ["archive", "feed"])
def test_a_link_of_another_kind_opens_nothing(site, purpose):
    ada = site.history.ada
    others = [p for p in ("preferences", "unsubscribe", "archive", "feed") if p != purpose]
    for other in others:  # a feed link cannot open the archive, a preferences link cannot open the feed ...
        token = site.path(other, ada).rsplit("/", 1)[1]
        assert site.client.get(f"/{purpose}/{token}").status_code == 400
    paper_link = site.email_cards("ada@example.org")[1][0]
    assert site.client.get(f"/{purpose}/{paper_link.rsplit('/', 1)[1]}").status_code == 400
    edition = site.path("edition", ada).rsplit("/", 1)[1]
    assert site.client.get(f"/{purpose}/{edition}").status_code == 400
    for token in (site.path("archive", ada), site.path("feed", ada), site.path("preferences", ada)):
        assert site.client.get(f"/edition/{token.rsplit('/', 1)[1]}").status_code == 400


def test_each_reader_sees_only_their_own_digests(site):
    ada_titles, bob_titles = site.email_cards("ada@example.org")[0], site.email_cards("bob@example.org")[0]
    assert bob_titles and not set(bob_titles) & set(ada_titles)
    for purpose in SIGNED:
        ada_page = unescape(site.client.get(site.path(purpose, site.history.ada)).text)
        bob_page = unescape(site.client.get(site.path(purpose, site.history.bob)).text)
        assert all(t in bob_page for t in bob_titles) and not any(t in bob_page for t in ada_titles), purpose
        assert not any(t in ada_page for t in bob_titles), purpose
    unknown = site.client.get(site.path("edition", 999))
    assert unknown.status_code == 400 and "This link is not valid" in unknown.text


@pytest.mark.parametrize("state, reason, failure_class, day, expected", [
    ("skipped", "no new papers today (arXiv does not announce on Friday and Saturday)", None, DAYS[1],
     "No new papers: arXiv does not announce on Saturdays."),
    ("skipped", "no new papers today (arXiv does not announce on Friday and Saturday)", None, DAYS[2],
     "No new papers: arXiv does not announce on Sundays."),
    ("skipped", "no new papers today (arXiv does not announce on Friday and Saturday)", None, DAYS[0],
     "No new papers: arXiv does not announce on Friday and Saturday evenings (US Eastern time)."),
    ("skipped", "no new papers today", None, DAYS[3],
     "No new papers since your last digest (an arXiv holiday, or the sources had nothing new)."),
    ("skipped", "nothing relevant today", None, DAYS[3],
     "Nothing above your relevance floor: new papers came out, but none matched your topics closely enough."),
    ("skipped", None, None, DAYS[3], "Skipped."),
    ("failed", "refused by the recipient's server", "recipient", DAYS[3], "Not delivered: your mail server refused it."),
    ("failed", "gave up after 5 tries", "transient", DAYS[3],
     "Not delivered: a problem on our side kept it from going out."),
    ("suppressed", "subscriber is unsubscribed", None, DAYS[3], "Not sent: this address was unsubscribed at the time."),
    ("pending", "relay unreachable since 2026-08-03 07:00 UTC; next try at 07:15", "transient", DAYS[3],
     "On its way: it is being prepared or retried."),
    ("sent", None, None, DAYS[3], "Sent"),
])
def test_what_happened_to_an_edition_reads_well_for_a_reader(state, reason, failure_class, day, expected):
    assert history.reader_status(history.PastDigest(1, day, state, reason, failure_class, None)) == expected
