"""Self-service sign-up rules: pending rows, confirmation, expiry, bound tokens, recent editions."""

import datetime as dt

import pytest
from freezegun import freeze_time

from digest import subscriptions as subs
from digest.db import session_factory
from digest.models import Digest, DigestItem, Paper, Subscriber

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.timezone.utc)
SECRET = "test-secret-key-0123456789"


def prefs(**kw):
    return subs.validate_preferences(**{"topics": ["diffusion models"], **kw})


def test_new_address_becomes_pending_and_confirm_activates_once(db_url):
    with session_factory(db_url).begin() as session:
        subscriber, needs = subs.request_subscription(session, " Ada@Example.org ", prefs(), NOW)
        assert needs and subscriber.status == "pending" and subscriber.email_key == "ada@example.org"
        assert subs.confirm(session, subscriber, NOW + dt.timedelta(hours=1))
        assert subscriber.status == "active" and subscriber.confirmed_at == NOW + dt.timedelta(hours=1)
        assert not subs.confirm(session, subscriber, NOW + dt.timedelta(hours=2))
        assert subscriber.confirmed_at == NOW + dt.timedelta(hours=1)


def test_active_subscriber_is_not_changed_by_the_public_form(db_url):
    with session_factory(db_url).begin() as session:
        subscriber, _ = subs.subscribe(session, "ada@example.org", prefs(topics=["robotics"]), NOW)
        again, needs = subs.request_subscription(session, "ADA@example.org", prefs(topics=["spam"]), NOW)
        assert again.id == subscriber.id and not needs
        assert again.topics == ["robotics"] and again.status == "active"


def test_unsubscribed_subscriber_keeps_status_and_settings_until_confirmed(db_url):
    later = NOW + dt.timedelta(days=1)
    with session_factory(db_url).begin() as session:
        subscriber, _ = subs.subscribe(session, "ada@example.org", prefs(), NOW)
        subs.unsubscribe(session, subscriber, NOW)
        again, needs = subs.request_subscription(session, "ada@example.org", prefs(topics=["graphs"]), later)
        assert needs and again.status == "unsubscribed" and again.topics == ["diffusion models"]
        assert again.status_at == NOW
        assert subs.confirm_link(session, again, again.confirm_nonce, later) == "live"
        assert again.status == "active" and again.unsubscribed_at is None and again.topics == ["graphs"]
        assert again.status_at == later and again.confirm_nonce is None and again.pending_prefs is None


def test_a_confirmation_link_confirms_the_settings_of_its_own_email(db_url):
    with session_factory(db_url).begin() as session:
        ada, _ = subs.request_subscription(session, "ada@example.org", prefs(topics=["first"]), NOW)
        first = subs.get_confirm_subscriber(session, SECRET, subs.make_confirm_token(SECRET, ada), 7)[1]
        subs.request_subscription(session, "ada@example.org", prefs(topics=["second"], send_hour=9), NOW)
        second = subs.get_confirm_subscriber(session, SECRET, subs.make_confirm_token(SECRET, ada), 7)[1]
        assert first != second
        assert subs.confirm_link(session, ada, first, NOW) == "superseded"
        assert ada.status == "pending"
        assert subs.get_pending_preferences(ada).topics == ["second"]
        assert subs.confirm_link(session, ada, second, NOW) == "live"
        assert (ada.status, ada.topics, ada.send_hour) == ("active", ["second"], 9)


def test_a_confirmation_link_is_single_use_and_dies_with_an_unsubscribe(db_url):
    with session_factory(db_url).begin() as session:
        ada, _ = subs.request_subscription(session, "ada@example.org", prefs(), NOW)
        nonce = ada.confirm_nonce
        assert subs.confirm_link(session, ada, nonce, NOW) == "live"
        subs.unsubscribe(session, ada, NOW + dt.timedelta(hours=1))
        assert subs.confirm_link(session, ada, nonce, NOW + dt.timedelta(hours=2)) == "used"
        assert ada.status == "unsubscribed" and ada.status_at == NOW + dt.timedelta(hours=1)
        # A live link for a re-subscription dies with a later unsubscribe too.
        subs.request_subscription(session, "ada@example.org", prefs(), NOW + dt.timedelta(hours=3))
        nonce = ada.confirm_nonce
        subs.unsubscribe(session, ada, NOW + dt.timedelta(hours=4))
        assert subs.confirm_link(session, ada, nonce, NOW + dt.timedelta(hours=5)) == "used"
        assert ada.status == "unsubscribed"


@pytest.mark.parametrize("status", ["pending", "unsubscribed", "bounced", "complained", "suppressed"])
def test_operator_subscribe_never_reactivates_an_address_that_is_not_active(db_url, status):
    with session_factory(db_url).begin() as session:
        ada, _ = subs.subscribe(session, "ada@example.org", prefs(), NOW)
        ada.status, ada.status_at, ada.permanent_failures = status, NOW, 3
        with pytest.raises(subs.NotActive, match=r"ada@example.org .*2026-11-28"):
            subs.subscribe(session, "ada@example.org", prefs(topics=["x"]), NOW)
        assert (ada.status, ada.topics, ada.permanent_failures) == (status, ["diffusion models"], 3)


def test_describe_status_falls_back_to_unsubscribed_at_then_to_no_date(db_url):
    with session_factory(db_url).begin() as session:
        ada, _ = subs.subscribe(session, "ada@example.org", prefs(), NOW)
        subs.unsubscribe(session, ada, NOW)
        ada.status_at = None
        assert subs.describe_status(ada) == "ada@example.org unsubscribed on 2026-11-28"
        ada.unsubscribed_at, ada.status = None, "bounced"
        assert subs.describe_status(ada) == "ada@example.org bounced"


def test_an_empty_profile_is_valid_preferences():
    empty = subs.validate_preferences()
    assert (empty.topics, empty.categories) == ([], [])


def test_bulk_expire_pending_deletes_only_old_unconfirmed_rows(db_url):
    factory = session_factory(db_url)
    with factory.begin() as session:
        subs.request_subscription(session, "old@example.org", prefs(), NOW - dt.timedelta(days=8))
        subs.request_subscription(session, "fresh@example.org", prefs(), NOW - dt.timedelta(days=6))
        subs.subscribe(session, "active@example.org", prefs(), NOW - dt.timedelta(days=30))
        gone, _ = subs.subscribe(session, "gone@example.org", prefs(), NOW - dt.timedelta(days=30))
        subs.unsubscribe(session, gone, NOW - dt.timedelta(days=29))
    with factory.begin() as session:
        assert subs.bulk_expire_pending(session, NOW, 7) == 1
    with factory() as session:
        left = sorted(s.email for s in session.query(Subscriber))
    assert left == ["active@example.org", "fresh@example.org", "gone@example.org"]


def test_resubmitting_a_pending_signup_restarts_its_expiry(db_url):
    factory = session_factory(db_url)
    with factory.begin() as session:
        subs.request_subscription(session, "ada@example.org", prefs(), NOW - dt.timedelta(days=10))
        subs.request_subscription(session, "ada@example.org", prefs(), NOW - dt.timedelta(days=1))
        assert subs.bulk_expire_pending(session, NOW, 7) == 0


def test_confirm_token_is_bound_to_purpose_row_and_address(db_url):
    with session_factory(db_url).begin() as session:
        ada, _ = subs.request_subscription(session, "ada@example.org", prefs(), NOW)
        bob, _ = subs.request_subscription(session, "bob@example.org", prefs(), NOW)
        token = subs.make_confirm_token(SECRET, ada)
        assert subs.get_confirm_subscriber(session, SECRET, token, 7) == (ada, ada.confirm_nonce)
        assert "ada" not in token  # the address never shows in the URL
        with pytest.raises(subs.TokenError):
            subs.read_token(SECRET, "unsubscribe", token)  # another purpose
        with pytest.raises(subs.TokenError):
            subs.get_confirm_subscriber(session, "another-secret-0123456789", token, 7)
        # A link made for another address (e.g. a deleted row whose id was reused) confirms nobody.
        forged = subs.make_token(SECRET, "confirm", bob.id, bind="0" * 20)
        with pytest.raises(subs.TokenError):
            subs.get_confirm_subscriber(session, SECRET, forged, 7)
        with pytest.raises(subs.TokenError):
            subs.get_confirm_subscriber(session, SECRET, subs.make_token(SECRET, "confirm", bob.id), 7)


def test_confirm_token_expires_after_the_pending_days(db_url):
    with session_factory(db_url).begin() as session:
        ada, _ = subs.request_subscription(session, "ada@example.org", prefs(), NOW)
        with freeze_time(NOW):
            token = subs.make_confirm_token(SECRET, ada)
        with freeze_time(NOW + dt.timedelta(days=2, hours=23)):
            assert subs.get_confirm_subscriber(session, SECRET, token, 3)[0].id == ada.id
        with freeze_time(NOW + dt.timedelta(days=3, minutes=1)), pytest.raises(subs.TokenExpired):
            subs.get_confirm_subscriber(session, SECRET, token, 3)


@pytest.mark.parametrize("text, expected", [
    ("cs.lg, stat.ML  hep-th\nastro-ph.co", ["cs.LG", "stat.ML", "hep-th", "astro-ph.CO"]),
    ("physics.optics math", ["physics.optics", "math"]),
    ("", []),
])
def test_split_categories_canonical_case(text, expected):
    assert subs.split_categories(text) == expected


@pytest.mark.parametrize("text", ["cs.LG <script>", "cs..LG", "cs.LG.x", "c$"])
def test_split_categories_refuses_what_is_not_a_category(text):
    with pytest.raises(subs.SubscriptionError):
        subs.split_categories(text)


def test_recent_editions_lists_sent_digests_newest_first_with_papers_in_rank_order(db_url):
    with session_factory(db_url).begin() as session:
        ada, _ = subs.subscribe(session, "ada@example.org", prefs(), NOW)
        papers = [Paper(key=f"arxiv:{n}", title=f"Paper {n}", url=f"https://arxiv.org/abs/{n}", first_seen_at=NOW,
                        updated_at=NOW, content_hash=str(n)) for n in range(3)]
        session.add_all(papers)
        session.flush()
        for day, state, ranked in ((1, "sent", [2, 0]), (2, "sent", [1]), (3, "skipped", [])):
            digest = Digest(subscriber_id=ada.id, edition_date=dt.date(2026, 11, day), state=state, created_at=NOW,
                            updated_at=NOW, sent_at=NOW if state == "sent" else None)
            session.add(digest)
            session.flush()
            session.add_all(DigestItem(digest_id=digest.id, subscriber_id=ada.id, paper_id=papers[p].id, rank=r,
                                       score=1.0) for r, p in enumerate(ranked, 1))
        session.flush()
        editions = subs.get_recent_editions(session, ada.id)
    assert [e.edition_date.day for e in editions] == [2, 1]
    assert [t for t, _ in editions[1].papers] == ["Paper 2", "Paper 0"]
    assert editions[0].papers == [("Paper 1", "https://arxiv.org/abs/1")]
