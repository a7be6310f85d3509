"""The signed return path: made and read back, forged ones refused; digests go out with it as MAIL FROM."""

from __future__ import annotations

import pytest

from digest.config import ConfigError, load_settings
from digest.inbound.verp import ForgedReturnPath, read_return_path, return_path
from helpers import make_env


def test_a_return_path_names_its_digest_and_a_changed_one_is_forged():
    address = return_path("k" * 20, 42, "bounces.example.org")
    assert address.startswith("bounces+42.") and address.endswith("@bounces.example.org")
    assert read_return_path("k" * 20, address.upper()) == 42  # some systems change the case
    assert read_return_path("k" * 20, "digest@example.org") is None
    with pytest.raises(ForgedReturnPath):
        read_return_path("k" * 20, address.replace("+42.", "+43."))


def test_bounce_domain_setting(tmp_path):
    assert load_settings(make_env(tmp_path, DIGEST_BOUNCE_DOMAIN="Mail.Example.org"),
                         read_dotenv=False).bounce_domain == "mail.example.org"
    with pytest.raises(ConfigError, match="DIGEST_BOUNCE_DOMAIN"):
        load_settings(make_env(tmp_path, DIGEST_BOUNCE_DOMAIN="not a domain"), read_dotenv=False)


def test_digests_are_sent_with_the_signed_return_path(tmp_path, sqlite_url, smtp_server):
    import datetime as dt

    from digest.jobs import run_ingest, send_due
    from digest.ingest import seeds_spec
    from digest.db import session_factory
    from digest.subscriptions import subscribe, validate_preferences

    handler, port = smtp_server
    settings = load_settings(make_env(tmp_path, sqlite_url, DIGEST_SMTP_URL=f"smtp://127.0.0.1:{port}",
                                      DIGEST_BOUNCE_DOMAIN="bounces.example.org"), read_dotenv=False)
    now = dt.datetime.now(dt.timezone.utc)
    run_ingest(settings, [seeds_spec()], now)
    with session_factory(sqlite_url).begin() as session:
        subscribe(session, "ada@example.org", validate_preferences(topics=["LLM quantization"], send_hour=0), now)
    send_due(settings, now, respect_hour=False)
    assert handler.messages
    mail_from = handler.messages[0][0]
    assert mail_from.startswith("bounces+") and read_return_path(settings.signing_key(), mail_from) is not None
