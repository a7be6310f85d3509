"""HTTP-level tests of the "More like this" / "Less like this" pages and the preferences page's rated list."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from html import unescape
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from helpers import FIXTURES, make_env
from digest import feedback as fb
from digest.config import load_settings
from digest.db import session_factory
from digest.email.compose import build_content
from digest.ingest import SourceSpec, ingest_source
from digest.models import Feedback, Paper, Subscriber
from digest.ranking import Pick
from digest.subscriptions import make_token, subscribe, validate_preferences
from digest.tokens import make_paper_token
from digest.web import create_app

NOW = dt.datetime(2026, 4, 28, 12, tzinfo=dt.timezone.utc)
CS_LG = SourceSpec("cs-lg", str(FIXTURES / "arxiv-rss-new" / "cs.LG_2026-04-27_3items.xml"), "arxiv-rss")
TITLE = "Conditional anomaly detection using soft harmonic functions: An application to clinical alerting"


class Site:
    def __init__(self, tmp_path, url):
        self.settings = load_settings(make_env(tmp_path, url, DIGEST_BASE_URL="http://localhost"), read_dotenv=False)
        self.app = create_app(self.settings)
        self.app.extensions["digest"].limiter.prefix = f"digest-test:{uuid.uuid4().hex}"
        with session_factory(url).begin() as session:
            ingest_source(session, CS_LG, NOW)
            self.ada = subscribe(session, "ada@example.org", validate_preferences(topics=["anomaly detection"]), NOW)[0].id
            self.bob = subscribe(session, "bob@example.org", validate_preferences(), NOW)[0].id
            self.paper = session.scalar(select(Paper.id).where(Paper.title == TITLE))
            self.other = session.scalar(select(Paper.id).where(Paper.title != TITLE).order_by(Paper.id).limit(1))

    def path(self, choice: str, subscriber: int, paper: int, secret: str | None = None) -> str:
        return f"/{choice}/{make_paper_token(secret or self.settings.signing_key(), subscriber, paper)}"

    def rows(self) -> list[tuple]:
        with session_factory(self.settings.database_url)() as session:
            return [(r.subscriber_id, r.paper_id, r.sign, r.origin) for r in
                    session.scalars(select(Feedback).order_by(Feedback.id))]

    def preferences(self, subscriber: int) -> str:
        return f"/preferences/{make_token(self.settings.signing_key(), 'preferences', subscriber)}"


@pytest.fixture
def site(tmp_path, db_url):
    return Site(tmp_path, db_url)


def csrf(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def checked(page) -> str:
    return re.search(r'name="choice" value="(\w+)" checked', page.text).group(1)


def test_get_shows_the_paper_with_the_choice_preselected_and_changes_nothing(site):
    client = site.app.test_client()
    for choice in ("more", "less"):
        page = client.get(site.path(choice, site.ada, site.paper))
        assert page.status_code == 200 and checked(page) == choice
        shown = unescape(page.text)
        assert TITLE in shown and "Michal Valko, Hamed Valizadegan, Branislav Kveton, … Milos Hauskrecht" in shown
        assert "Save my choice</button>" in page.text and page.headers["Cache-Control"] == "no-store"
        assert client.head(site.path(choice, site.ada, site.paper)).status_code == 200
    assert site.rows() == []


def test_only_the_post_records_the_choice_and_undo_takes_it_back(site):
    client = site.app.test_client()
    path = site.path("more", site.ada, site.paper)
    done = client.post(path, data={"csrf_token": csrf(client.get(path)), "choice": "more"})
    assert done.status_code == 200 and "More papers like" in unescape(done.text) and "Undo</button>" in done.text
    assert site.rows() == [(site.ada, site.paper, fb.LIKE, "link")]
    again = client.get(path)
    assert "You said “More like this” about this paper before" in unescape(again.text)
    undone = client.post(path, data={"csrf_token": csrf(done), "choice": "undo"})
    assert undone.status_code == 200 and "Undone" in undone.text and site.rows() == []


def test_a_new_choice_replaces_the_old_one(site):
    client = site.app.test_client()
    more, less = site.path("more", site.ada, site.paper), site.path("less", site.ada, site.paper)
    client.post(more, data={"csrf_token": csrf(client.get(more)), "choice": "more"})
    answer = client.post(less, data={"csrf_token": csrf(client.get(less)), "choice": "less"})
    assert "Fewer papers like" in unescape(answer.text)
    assert site.rows() == [(site.ada, site.paper, fb.DISLIKE, "link")]


def tampered(site) -> list[str]:
    good = make_paper_token(site.settings.signing_key(), site.ada, site.paper)
    sid, pid, mac = good.split(".")
    return [f"/more/{sid}.{pid}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",  # one character of the MAC
            f"/more/{site.bob}.{pid}.{mac}",                                 # someone else, same MAC
            f"/more/{sid}.{site.other}.{mac}",                               # another paper, same MAC
            site.path("more", site.ada, site.paper, secret="another-secret-key-0123456789"),
            f"/more/{sid}.{pid}", f"/more/{sid}", "/more/x.y.z", f"/more/0{sid}.{pid}.{mac}",
            f"/less/{'9' * 30}.{pid}.{mac}"]


def test_a_tampered_link_is_refused_with_400_and_records_nothing(site):
    client = site.app.test_client()
    token = csrf(client.get(site.path("more", site.ada, site.paper)))
    for path in tampered(site):
        assert client.get(path).status_code == 400, path
        answer = client.post(path, data={"csrf_token": token, "choice": "more"})
        assert answer.status_code == 400 and "This link is not valid" in answer.text, path
    assert site.rows() == []


def test_a_post_without_the_forms_csrf_token_or_with_an_unknown_choice_records_nothing(site):
    path = site.path("more", site.ada, site.paper)
    assert site.app.test_client().post(path, data={"choice": "more"}).status_code == 400
    client = site.app.test_client()
    token = csrf(client.get(path))
    assert client.post(path, data={"csrf_token": "forged", "choice": "more"}).status_code == 400
    assert client.post(path, data={"csrf_token": token, "choice": "maybe"}).status_code == 400
    assert client.post(path, data={"csrf_token": token}).status_code == 400
    assert site.rows() == []


def test_a_paper_that_is_gone_is_404_and_says_so(site):
    page = site.app.test_client().get(site.path("more", site.ada, 999999))
    assert page.status_code == 404 and "no longer in the digest's records" in unescape(page.text)


def test_the_links_of_a_rendered_digest_open_these_pages(site):
    with session_factory(site.settings.database_url)() as session:
        reader = session.get(Subscriber, site.ada)
        content = build_content(site.settings, reader, NOW.date(), [Pick(site.paper, 0.9, "r")],
                                {site.paper: session.get(Paper, site.paper)})
    (card,) = content.cards
    client = site.app.test_client()
    for url, choice in ((card.more_url, "more"), (card.less_url, "less")):
        assert url.startswith("http://localhost/")
        page = client.get(urlsplit(url).path)
        assert page.status_code == 200 and checked(page) == choice and TITLE in unescape(page.text)


def rate(site, subscriber: int, paper: int, choice: str) -> None:
    client = site.app.test_client()
    path = site.path(choice, subscriber, paper)
    assert client.post(path, data={"csrf_token": csrf(client.get(path)), "choice": choice}).status_code == 200


def test_the_preferences_page_lists_rated_papers_each_with_a_remove_button(site):
    rate(site, site.ada, site.paper, "more")
    rate(site, site.ada, site.other, "less")
    with session_factory(site.settings.database_url).begin() as session:
        fb.record(session, site.ada, [fb.Work.of_arxiv("2411.17730")], fb.LIKE, "cli", NOW)
    client = site.app.test_client()
    page = client.get(site.preferences(site.ada))
    shown = unescape(page.text)
    liked = shown[shown.index("<h3>More like these</h3>"):shown.index("<h3>Less like these</h3>")]
    assert TITLE in liked and 'href="https://arxiv.org/abs/2411.17730"' in liked
    disliked = shown[shown.index("<h3>Less like these</h3>"):shown.index("Recent digests")]
    assert TITLE not in disliked and disliked.count("Remove</button>") == 1 and liked.count("Remove</button>") == 2
    ids = re.findall(r'name="feedback_id" value="(\d+)"', page.text)
    gone = client.post(site.preferences(site.ada), data={"csrf_token": csrf(page), "action": "remove_feedback",
                                                          "feedback_id": ids[0]})
    assert gone.status_code == 303 and gone.headers["Location"].endswith("?saved=removed")
    assert len(site.rows()) == 2
    after = client.get(urlsplit(gone.headers["Location"]).path + "?saved=removed")
    assert "Removed. It counts no more" in after.text and len(re.findall(r'name="feedback_id"', after.text)) == 2


def test_removing_needs_the_forms_csrf_token_and_one_of_the_readers_own_rows(site):
    rate(site, site.ada, site.paper, "more")
    client = site.app.test_client()
    ada_page = client.get(site.preferences(site.ada))
    (row_id,) = re.findall(r'name="feedback_id" value="(\d+)"', ada_page.text)
    assert client.post(site.preferences(site.ada), data={"action": "remove_feedback", "feedback_id": row_id,
                                                         "csrf_token": "forged"}).status_code == 400
    bob_page = client.get(site.preferences(site.bob))
    assert "None yet" in bob_page.text
    assert client.post(site.preferences(site.bob), data={"action": "remove_feedback", "feedback_id": row_id,
                                                         "csrf_token": csrf(bob_page)}).status_code == 303
    for bad in ("", "x", "-1", "١", "9" * 40):
        assert client.post(site.preferences(site.bob), data={"action": "remove_feedback", "feedback_id": bad,
                                                             "csrf_token": csrf(bob_page)}).status_code == 400
    assert site.rows() == [(site.ada, site.paper, fb.LIKE, "link")]
