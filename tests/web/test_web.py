"""HTTP-level tests of the subscription pages: real SQLite/PostgreSQL, real Redis, a real SMTP server."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from html import unescape
from dataclasses import dataclass
from email import message_from_bytes, policy
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from freezegun import freeze_time
from sqlalchemy import select

from helpers import make_env
from digest import subscriptions as subs
from digest.cli import cli
from digest.config import ConfigError, load_settings
from digest.db import session_factory
from digest.models import Digest, DigestItem, Paper, Subscriber
from digest.web import create_app

BASE = "http://localhost"
FORM = {"email": "ada@example.org", "topics": "diffusion models\nLLM quantization", "categories": "cs.lg",
        "exclude": "", "authors": "", "timezone": "Europe/Berlin", "send_hour": "7", "cadence": "daily",
        "max_papers": "10"}
XSS = "<script>alert(1)</script>\"'><img src=x onerror=alert(1)>"


@dataclass
class Web:
    app: object
    settings: object
    smtp: object

    def client(self, **kw):
        return self.app.test_client(**kw)

    def session(self):
        return session_factory(self.settings.database_url)

    def token(self, purpose: str, subscriber_id: int) -> str:
        return subs.make_token(self.settings.secret_key, purpose, subscriber_id)

    def row(self, email: str) -> Subscriber | None:
        with self.session()() as session:
            return subs.get_subscriber(session, email)

    def add(self, email: str, status: str = "active", **prefs) -> Subscriber:
        with self.session().begin() as session:
            subscriber, _ = subs.subscribe(session, email, subs.validate_preferences(
                **{"topics": ["graphs"], **prefs}), dt.datetime.now(dt.timezone.utc), confirmed=status != "pending")
            if status == "pending":
                subscriber.status = "pending"
            if status in ("unsubscribed", "bounced"):
                subscriber.status = status
            return subscriber

    def mails(self) -> list:
        return [message_from_bytes(data, policy=policy.default) for _, _, data in self.smtp.messages]


def make_web(tmp_path, url, smtp_server) -> Web:
    handler, port = smtp_server
    env = make_env(tmp_path, url, DIGEST_SMTP_URL=f"smtp://127.0.0.1:{port}", DIGEST_BASE_URL=BASE)
    settings = load_settings(env, read_dotenv=False)
    app = create_app(settings)
    app.extensions["digest"].limiter.prefix = f"digest-test:{uuid.uuid4().hex}"  # counters of this test only
    return Web(app, settings, handler)


@pytest.fixture
def web(tmp_path, sqlite_url, smtp_server):
    return make_web(tmp_path, sqlite_url, smtp_server)


@pytest.fixture
def web_any_db(tmp_path, db_url, smtp_server):
    return make_web(tmp_path, db_url, smtp_server)


def csrf(client, path: str = "/") -> str:
    page = client.get(path)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def subscribe(client, **fields):
    return client.post("/", data={**FORM, "csrf_token": csrf(client), **fields})


def link_in(mail, kind: str) -> str:
    text = mail.get_body(("plain",)).get_content()
    return urlsplit(re.search(rf"{BASE}/{kind}/\S+", text).group(0)).path


def snapshot(site: Web) -> list[tuple]:
    with site.session()() as session:
        return [tuple(getattr(s, c.key) for c in Subscriber.__table__.columns)
                for s in session.scalars(select(Subscriber).order_by(Subscriber.id))]


def main_text(response) -> str:
    return re.search(r"<main.*</main>", response.text, re.S).group(0)


# --- subscribe and confirm ----------------------------------------------------------------


def test_subscribe_mails_a_link_whose_get_shows_a_button_and_post_confirms(web_any_db):
    web, client = web_any_db, web_any_db.client()
    page = subscribe(client, email=" Ada@Example.ORG ")
    assert page.status_code == 200 and "Check your inbox" in page.text
    assert web.row("ada@example.org").status == "pending"
    (mail,) = web.mails()
    assert mail["To"] == "Ada@example.org" and mail["From"] == "Paper Digest <digest@digest.example.org>"
    assert "Confirm" in mail["Subject"] and mail["Auto-Submitted"] == "auto-generated"
    path = link_in(mail, "confirm")
    assert path in mail.get_body(("html",)).get_content()
    shown = client.get(path)
    assert shown.status_code == 200 and "Confirm my subscription" in shown.text
    assert web.row("ada@example.org").status == "pending"
    done = client.post(path, data={"csrf_token": csrf(client, path)})
    assert done.status_code == 200 and "subscribed" in done.text
    row = web.row("ada@example.org")
    assert row.status == "active" and row.confirmed_at is not None
    assert (row.topics, row.categories, row.timezone) == (["diffusion models", "LLM quantization"], ["cs.LG"],
                                                          "Europe/Berlin")


def test_confirming_twice_is_harmless(web):
    client = web.client()
    subscribe(client)
    path = link_in(web.mails()[0], "confirm")
    token = csrf(client, path)
    assert client.post(path, data={"csrf_token": token}).status_code == 200
    first = web.row("ada@example.org").confirmed_at
    again = client.post(path, data={"csrf_token": token})
    assert again.status_code == 200 and "You're subscribed" in unescape(again.text)
    assert web.row("ada@example.org").confirmed_at == first


def test_active_address_gets_the_same_answer_as_a_new_one(web):
    web.add("bob@example.org", topics=["robotics"])
    client = web.client()
    known = subscribe(client, email="bob@example.org", topics="something else")
    new = subscribe(client, email="eve@example.org")
    assert known.status_code == new.status_code == 200
    assert main_text(known).replace("bob@", "X@") == main_text(new).replace("eve@", "X@")
    assert web.row("bob@example.org").topics == ["robotics"]  # the public form cannot change an active row
    notes = {m["To"]: m for m in web.mails()}
    assert "/preferences/" in notes["bob@example.org"].get_body(("plain",)).get_content()
    assert "/confirm/" not in notes["bob@example.org"].get_body(("plain",)).get_content()


def test_first_emails_link_confirms_the_first_submissions_settings_or_nothing(web_any_db):
    web, client = web_any_db, web_any_db.client()
    subscribe(client, topics="first topic", send_hour="6")
    subscribe(client, topics="second topic", send_hour="9")
    first, second = (link_in(mail, "confirm") for mail in web.mails())
    assert "second topic" in second_mail_text(web) and "first topic" not in second_mail_text(web)
    for response in (client.get(first), client.post(first, data={"csrf_token": csrf(client)})):
        assert response.status_code == 410
        assert "this link was replaced by a newer confirmation email" in unescape(response.text).lower()
    assert web.row("ada@example.org").status == "pending"
    shown = client.get(second)
    assert shown.status_code == 200 and "second topic" in shown.text and "first topic" not in shown.text
    assert shown.text.index("second topic") < shown.text.index("Confirm my subscription</button>")
    assert client.post(second, data={"csrf_token": csrf(client)}).status_code == 200
    row = web.row("ada@example.org")
    assert (row.status, row.topics, row.send_hour) == ("active", ["second topic"], 9)


def second_mail_text(web) -> str:
    return web.mails()[1].get_body(("plain",)).get_content()


def test_confirm_link_is_single_use_and_dies_with_an_unsubscribe(web_any_db):
    web, client = web_any_db, web_any_db.client()
    subscribe(client)
    path = link_in(web.mails()[0], "confirm")
    assert client.post(path, data={"csrf_token": csrf(client)}).status_code == 200
    ada = web.row("ada@example.org")
    gone = web.client(use_cookies=False).post(f"/unsubscribe/{web.token('unsubscribe', ada.id)}",
                                              data={"List-Unsubscribe": "One-Click"})
    assert gone.status_code == 200
    before = snapshot(web)
    again = client.post(path, data={"csrf_token": csrf(client)})
    assert again.status_code == 410 and "already used or cancelled by an unsubscribe" in unescape(again.text)
    assert client.get(path).status_code == 410
    assert snapshot(web) == before and web.row("ada@example.org").status == "unsubscribed"


def test_empty_topics_sign_up_is_accepted_and_the_confirm_page_says_trending_papers(web):
    client = web.client()
    assert "leave topics empty for the day's trending papers" in unescape(client.get("/").text)
    page = subscribe(client, topics="", categories="")
    assert page.status_code == 200 and "Check your inbox" in page.text
    (mail,) = web.mails()
    assert "trending papers" in mail.get_body(("plain",)).get_content()
    shown = client.get(link_in(mail, "confirm"))
    assert shown.status_code == 200 and "trending papers" in unescape(shown.text)
    assert client.post(link_in(mail, "confirm"), data={"csrf_token": csrf(client)}).status_code == 200
    row = web.row("ada@example.org")
    assert (row.status, row.topics, row.categories) == ("active", [], [])


def test_head_of_the_form_answers_like_get(web):
    response = web.client().head("/")
    assert response.status_code == 200 and response.data == b""


def test_parallel_sign_ups_for_one_new_address_all_get_the_neutral_page(tmp_path, pg_database_url, smtp_server):
    """Real parallel POSTs to a threaded server on PostgreSQL: one row, no 500."""
    import http.cookiejar
    import threading
    import urllib.parse
    import urllib.request

    from werkzeug.serving import make_server

    from helpers import _truncate, free_port
    from digest.db import ensure_schema

    ensure_schema(pg_database_url)
    site = make_web(tmp_path, pg_database_url, smtp_server)
    site.app.config["RATE_LIMITS"] = {"ip": (1000, 3600), "address": (1000, 3600)}
    port = free_port()
    server = make_server("127.0.0.1", port, site.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base, n = f"http://127.0.0.1:{port}", 30
    openers = [urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
               for _ in range(n)]
    tokens = [re.search(r'name="csrf_token" value="([^"]+)"', o.open(f"{base}/").read().decode()).group(1)
              for o in openers]
    barrier, results = threading.Barrier(n), [None] * n

    def post(i):
        body = urllib.parse.urlencode({**FORM, "topics": f"topic {i}", "csrf_token": tokens[i]}).encode()
        barrier.wait()
        try:
            with openers[i].open(f"{base}/", data=body, timeout=60) as response:
                results[i] = (response.status, response.read().decode())
        except urllib.error.HTTPError as exc:
            results[i] = (exc.code, exc.read().decode())

    threads = [threading.Thread(target=post, args=(i,)) for i in range(n)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert [status for status, _ in results] == [200] * n, [r[1][:300] for r in results if r[0] != 200][:1]
        assert len({re.search(r"<main.*</main>", text, re.S).group(0) for _, text in results}) == 1
        with site.session()() as session:
            assert session.query(Subscriber).count() == 1
    finally:
        server.shutdown()
        _truncate(pg_database_url)


def test_expired_confirm_link_is_refused_and_confirms_nothing(web):
    client = web.client()
    start = dt.datetime(2026, 11, 28, 12, tzinfo=dt.timezone.utc)
    with freeze_time(start):
        subscribe(client)
    path = link_in(web.mails()[0], "confirm")
    with freeze_time(start + dt.timedelta(days=web.settings.pending_days, minutes=1)):
        assert client.get(path).status_code == 410
        assert client.post(path, data={"csrf_token": csrf(client)}).status_code == 410
    assert web.row("ada@example.org").status == "pending"


def test_invalid_address_is_refused_with_a_one_line_message(web):
    page = subscribe(web.client(), email="not an address")
    assert page.status_code == 400 and "invalid email address" in page.text
    assert web.mails() == [] and web.row("not an address") is None


def test_international_domain_is_mailed_in_ascii_and_unicode_mailbox_is_refused(web):
    client = web.client()
    assert subscribe(client, email="ada@bücher.example").status_code == 200
    (mail_from, rcpt_tos, _), = web.smtp.messages
    assert rcpt_tos == ["ada@xn--bcher-kva.example"]
    refused = subscribe(client, email="jöhn@example.org")
    assert refused.status_code == 400 and "non-ASCII" in refused.text


# --- unsubscribe -------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_post_without_cookies_unsubscribes_at_once_with_200(web_any_db, encoding):
    web = web_any_db
    ada = web.add("ada@example.org")
    client = web.client(use_cookies=False)
    body = {"List-Unsubscribe": "One-Click"}
    response = client.post(f"/unsubscribe/{web.token('unsubscribe', ada.id)}", data=body,
                           content_type="multipart/form-data" if encoding == "multipart" else None)
    assert response.status_code == 200 and "Location" not in response.headers
    assert "Set-Cookie" not in response.headers
    row = web.row("ada@example.org")
    assert row.status == "unsubscribed" and row.unsubscribed_at is not None


def test_one_click_unsubscribe_takes_effect_before_the_next_send(web):
    from digest.jobs import deliver_ids, plan_manual
    from digest.delivery.senders import MemorySender

    ada = web.add("ada@example.org")
    now = dt.datetime.now(dt.timezone.utc)
    (ids,) = plan_manual(web.settings, now, emails=["ada@example.org"])  # today's edition is already planned
    response = web.client(use_cookies=False).post(f"/unsubscribe/{web.token('unsubscribe', ada.id)}",
                                                  data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    sender = MemorySender()
    deliver_ids(web.settings, ids, now, sender=sender)
    assert sender.sent == []
    with web.session()() as session:
        assert session.scalar(select(Digest.state).where(Digest.subscriber_id == ada.id)) == "suppressed"


def test_footer_link_get_shows_a_button_and_the_button_unsubscribes(web):
    ada = web.add("ada@example.org")
    client = web.client()
    path = f"/unsubscribe/{web.token('unsubscribe', ada.id)}"
    page = client.get(path)
    assert page.status_code == 200 and web.row("ada@example.org").status == "active"
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]+)"', page.text))
    assert fields == {"List-Unsubscribe": "One-Click"}
    done = client.post(path, data=fields)
    assert done.status_code == 200 and "You're unsubscribed" in unescape(done.text)
    assert web.row("ada@example.org").status == "unsubscribed"


def test_post_without_one_click_body_changes_nothing(web):
    ada = web.add("ada@example.org")
    response = web.client().post(f"/unsubscribe/{web.token('unsubscribe', ada.id)}", data={})
    assert response.status_code == 400 and web.row("ada@example.org").status == "active"


def test_resubscribe_from_the_preferences_page_after_unsubscribing(web):
    ada = web.add("ada@example.org", status="unsubscribed")
    client = web.client()
    path = f"/preferences/{web.token('preferences', ada.id)}"
    assert "Subscribe again" in client.get(path).text
    response = client.post(path, data={"csrf_token": csrf(client, path), "action": "resubscribe"})
    assert response.status_code == 303
    assert web.row("ada@example.org").status == "active"
    assert "Welcome back" in client.get(response.headers["Location"]).text


# --- preferences -------------------------------------------------------------------------


def test_preferences_change_and_show_the_last_digests_with_their_papers(web):
    ada = web.add("ada@example.org", topics=["graphs"], exclude=["survey"])
    now = dt.datetime.now(dt.timezone.utc)
    with web.session().begin() as session:
        paper = Paper(key="arxiv:2611.00001", title="Sparse graph transformers", url="https://arxiv.org/abs/2611.00001",
                      first_seen_at=now, updated_at=now, content_hash="x")
        digest = Digest(subscriber_id=ada.id, edition_date=dt.date(2026, 11, 27), state="sent", created_at=now,
                        updated_at=now, sent_at=now)
        session.add_all([paper, digest])
        session.flush()
        session.add(DigestItem(digest_id=digest.id, subscriber_id=ada.id, paper_id=paper.id, rank=1, score=1.0))
    client = web.client()
    path = f"/preferences/{web.token('preferences', ada.id)}"
    page = client.get(path)
    assert "Sparse graph transformers" in page.text and "Fri 27 Nov 2026" in page.text
    assert "survey" in page.text
    form = {**FORM, "topics": "protein folding", "categories": "q-bio.BM", "send_hour": "18", "cadence": "weekly",
            "max_papers": "5", "timezone": "Asia/Tokyo", "exclude": "survey", "csrf_token": csrf(client, path)}
    response = client.post(path, data=form)
    assert response.status_code == 303 and response.headers["Location"].endswith("?saved=1")
    row = web.row("ada@example.org")
    assert (row.topics, row.categories, row.send_hour, row.cadence, row.max_papers, row.timezone, row.exclude) == (
        ["protein folding"], ["q-bio.BM"], 18, "weekly", 5, "Asia/Tokyo", ["survey"])
    assert "Changes apply from the next edition" in client.get(response.headers["Location"]).text


def test_the_preferences_page_turns_the_updated_block_on_and_off(web):
    ada = web.add("ada@example.org")
    client = web.client()
    path = f"/preferences/{web.token('preferences', ada.id)}"
    assert 'name="updates" value="on" aria-describedby="updates-hint">' in client.get(path).text  # unchecked
    client.post(path, data={**FORM, "updates": "on", "csrf_token": csrf(client, path)})
    assert web.row("ada@example.org").updates is True
    assert 'name="updates" value="on" aria-describedby="updates-hint" checked>' in client.get(path).text
    client.post(path, data={**FORM, "csrf_token": csrf(client, path)})  # an unticked box is not sent at all
    assert web.row("ada@example.org").updates is False


def test_invalid_preference_is_refused_and_nothing_changes(web):
    ada = web.add("ada@example.org")
    before = snapshot(web)
    client = web.client()
    path = f"/preferences/{web.token('preferences', ada.id)}"
    response = client.post(path, data={**FORM, "send_hour": "25", "csrf_token": csrf(client, path)})
    assert response.status_code == 400 and "hour must be between 0 and 23" in response.text
    assert snapshot(web) == before


# --- GET never mutates; tokens -------------------------------------------------------------


def test_get_never_changes_subscription_state(web):
    pending = web.add("pending@example.org", status="pending")
    active = web.add("active@example.org")
    gone = web.add("gone@example.org", status="unsubscribed")
    with web.session()() as session:
        confirm_token = subs.make_confirm_token(web.settings.secret_key, session.get(Subscriber, pending.id))
    before = snapshot(web)
    client = web.client()
    paths = [f"/confirm/{confirm_token}", f"/confirm/{confirm_token}?confirm=1"]
    for subscriber in (pending, active, gone):
        for purpose in ("preferences", "unsubscribe"):
            token = web.token(purpose, subscriber.id)
            paths += [f"/{purpose}/{token}", f"/{purpose}/{token}?List-Unsubscribe=One-Click&action=resubscribe"]
    for path in paths:
        assert client.get(path).status_code == 200, path
        assert client.head(path).status_code == 200, path
    assert snapshot(web) == before


@pytest.mark.parametrize("route, purpose, mangle", [
    ("unsubscribe", "confirm", None),          # a confirm token cannot unsubscribe
    ("unsubscribe", "preferences", None),      # nor can a preferences token
    ("preferences", "unsubscribe", None),
    ("confirm", "unsubscribe", None),
    ("unsubscribe", "unsubscribe", "flip"),    # tampered signature
    ("unsubscribe", "unsubscribe", "other-id"),  # another subscriber's id under the same signature
    ("preferences", "preferences", "other-key"),  # signed with another secret
    ("unsubscribe", "unsubscribe", "garbage"),
])
def test_wrong_or_tampered_tokens_are_refused_and_change_nothing(web, route, purpose, mangle):
    ada = web.add("ada@example.org")
    web.add("bob@example.org")
    if purpose == "confirm":
        with web.session()() as session:
            token = subs.make_confirm_token(web.settings.secret_key, session.get(Subscriber, ada.id))
    else:
        token = web.token(purpose, ada.id)
    if mangle == "flip":
        token = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    elif mangle == "other-id":
        bob_token = web.token(purpose, ada.id + 1)
        token = bob_token.split(".")[0] + "." + ".".join(token.split(".")[1:])
    elif mangle == "other-key":
        token = subs.make_token("a-different-secret-key-123", purpose, ada.id)
    elif mangle == "garbage":
        token = "not-a-token"
    before = snapshot(web)
    client = web.client()
    assert client.get(f"/{route}/{token}").status_code == 400
    form = {"List-Unsubscribe": "One-Click", "csrf_token": csrf(client), "action": "resubscribe", **FORM}
    assert client.post(f"/{route}/{token}", data=form).status_code == 400
    assert snapshot(web) == before


def test_forms_refuse_a_post_without_the_csrf_token(web):
    pending = web.add("pending@example.org", status="pending")
    active = web.add("active@example.org")
    with web.session()() as session:
        confirm_token = subs.make_confirm_token(web.settings.secret_key, session.get(Subscriber, pending.id))
    before = snapshot(web)
    client = web.client()
    csrf(client)  # the session cookie exists; the field is missing or wrong
    for path, data in [("/", FORM), (f"/confirm/{confirm_token}", {"csrf_token": "forged"}),
                       (f"/preferences/{web.token('preferences', active.id)}", {**FORM, "topics": "changed"})]:
        response = client.post(path, data=data)
        assert response.status_code == 400 and "Reload the page" in response.text, path
    assert snapshot(web) == before and web.mails() == []


# --- abuse ------------------------------------------------------------------------------


def test_rate_limit_per_ip_answers_429_from_redis(web):
    web.app.config["RATE_LIMITS"]["ip"] = (3, 3600)
    client = web.client()
    statuses = [subscribe(client, email=f"user{n}@example.org").status_code for n in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert len(web.mails()) == 3
    limiter = web.app.extensions["digest"].limiter
    assert limiter.memory == {} and limiter.redis.keys(f"{limiter.prefix}:ip:*")  # counted in Redis, shared
    other = web.client()
    assert other.post("/", data={**FORM, "csrf_token": csrf(other)},
                      environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 200


def test_rate_limit_per_address_sends_no_more_mail_with_the_same_answer(web):
    web.app.config["RATE_LIMITS"]["address"] = (2, 3600)
    client = web.client()
    pages = [main_text(subscribe(client, email=email))
             for email in ("ada@example.org", "ADA@example.org", "ada@example.org")]
    assert pages[0] == pages[2] and len(web.mails()) == 2


def test_honeypot_answers_alike_and_does_nothing(web):
    client = web.client()
    trapped = subscribe(client, website="http://spam.example")
    assert trapped.status_code == 200 and "Check your inbox" in trapped.text
    assert web.row("ada@example.org") is None and web.mails() == []


@pytest.mark.parametrize("field", list(FORM))
def test_xss_payload_in_any_subscribe_field_is_rendered_inert(web, field):
    value = f"ada{XSS}@example.org" if field == "email" else XSS
    page = subscribe(web.client(), **{field: value})
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "onerror=alert(1)>" not in page.text
    if page.status_code == 400:
        assert "&lt;script&gt;" in page.text or "&lt;img" in page.text


def test_xss_payload_saved_as_preferences_is_inert_on_the_page_and_in_the_email(web):
    client = web.client()
    subscribe(client, topics=f"{XSS}\nplain topic", authors=XSS)
    html = web.mails()[0].get_body(("html",)).get_content()
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    ada = web.row("ada@example.org")
    path = f"/preferences/{web.token('preferences', ada.id)}"
    client.post(path, data={**FORM, "topics": XSS, "exclude": XSS, "authors": XSS, "csrf_token": csrf(client, path)})
    page = client.get(path)
    assert web.row("ada@example.org").topics == [" ".join(XSS.split())]
    assert "<script>alert" not in page.text and "<img src=x" not in page.text and "&lt;script&gt;" in page.text


# --- the app around the pages ---------------------------------------------------------------


def test_pages_send_security_headers(web):
    ada = web.add("ada@example.org")
    response = web.client().get(f"/preferences/{web.token('preferences', ada.id)}")
    assert response.headers["Referrer-Policy"] == "no-referrer" and response.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    assert f'<style nonce="{nonce}">' in response.text


def test_healthz_reports_the_database(web):
    response = web.client().get("/healthz")
    assert response.status_code == 200 and response.text == "ok\n"


def test_create_app_requires_a_secret_key(tmp_path, sqlite_url):
    env = make_env(tmp_path, sqlite_url)
    del env["DIGEST_SECRET_KEY"]
    with pytest.raises(ConfigError, match="DIGEST_SECRET_KEY"):
        create_app(load_settings(env, read_dotenv=False))


def test_cli_lists_web_signups_with_their_status(web, monkeypatch, tmp_path):
    web.client()
    subscribe(web.client(), email="pending@example.org")
    web.add("active@example.org")
    env = make_env(tmp_path, web.settings.database_url)
    result = CliRunner().invoke(cli, ["subscribers"], env=env)
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split()[1] for line in result.output.splitlines()[2:]}
    assert lines == {"active@example.org": "active", "pending@example.org": "pending"}
