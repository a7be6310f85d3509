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


def test_unsubscribed_subscriber_keeps_status_until_confirmed(db_url):
    with session_factory(db_url).begin() as session:
        subscriber, _ = subs.subscribe(session, "ada@example.org", prefs(), NOW)
        subs.unsubscribe(session, subscriber, NOW)
        again, needs = subs.request_subscription(session, "ada@example.org", prefs(topics=["graphs"]), NOW)
        assert needs and again.status == "unsubscribed" and again.topics == ["graphs"]
        subs.confirm(session, again, NOW)
        assert again.status == "active" and again.unsubscribed_at is None


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
        assert subs.get_confirm_subscriber(session, SECRET, token, 7).id == ada.id
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
            assert subs.get_confirm_subscriber(session, SECRET, token, 3).id == ada.id
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
