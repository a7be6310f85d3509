"""Message bytes: safe headers, the MIME skeleton, DKIM over both List-Unsubscribe headers."""

import datetime as dt
import subprocess
from email import message_from_bytes, policy
from email.headerregistry import Address

import pytest

from digest.email import message, render
from digest.config import ConfigError, load_settings
from helpers import make_env

NOW = dt.datetime(2026, 11, 28, 7, 0, tzinfo=dt.timezone.utc)
INJECTIONS = [
    "Hi\r\nBcc: victim@evil.example",
    "Hi\nBcc: victim@evil.example",
    "=?UTF-8?Q?=0A?=Bcc: victim@evil.example",
    "=?utf-8?b?DQpCY2M6IHZpY3RpbUBldmlsLmV4YW1wbGU=?=",
    "Zoë \u2028Bcc: victim@evil.example\x00\x1b[31m",
]


def envelope(**kw):
    values = dict(sender=Address("Paper Digest", "digest", "digest.example.org"),
                  to=message.safe_address("ada@example.org", "Ada"), message_id="<digest.7.2026-11-28@digest.example.org>",
                  date=NOW, list_id="<digest.digest.example.org>",
                  unsubscribe_url="https://digest.example.org/unsubscribe/tok", edition=dt.date(2026, 11, 28))
    values.update(kw)
    return message.Envelope(**values)


def rendered(subject="Paper digest: 3 new papers", html="<html><body><p>Hello</p></body></html>"):
    return render.Rendered(subject=subject, text="Hello — plain text\nUnsubscribe: https://x/u\n", html=html)


def parse(data: bytes):
    return message_from_bytes(data, policy=policy.default)


def test_message_has_every_bulk_sender_header_and_two_parts():
    data = message.build_bytes(rendered(), envelope(unsubscribe_mailto="mailto:unsub@digest.example.org?subject=u"))
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
    msg = parse(data)
    assert str(msg["From"]) == "Paper Digest <digest@digest.example.org>"
    assert str(msg["To"]) == "Ada <ada@example.org>"
    assert msg["Message-ID"] == "<digest.7.2026-11-28@digest.example.org>"
    assert msg["List-Id"] == "<digest.digest.example.org>"
    assert msg["List-Unsubscribe"] == ("<https://digest.example.org/unsubscribe/tok>, "
                                       "<mailto:unsub@digest.example.org?subject=u>")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Date"].datetime == NOW
    assert msg.get_content_type() == "multipart/alternative" and not msg.defects
    text, html = msg.get_payload()
    assert text.get_content_type() == "text/plain" and text.get_content() == "Hello — plain text\nUnsubscribe: https://x/u\n"
    assert html.get_content_type() == "text/html" and html["Content-Transfer-Encoding"] == "7bit"
    assert html.get_content() == "<html><body><p>Hello</p></body></html>"


def test_one_click_header_only_with_an_https_link():
    msg = parse(message.build_bytes(rendered(), envelope(unsubscribe_url="http://localhost:8000/unsubscribe/t")))
    assert msg["List-Unsubscribe"] == "<http://localhost:8000/unsubscribe/t>"
    assert msg["List-Unsubscribe-Post"] is None


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injected_subject_and_display_names_stay_inside_their_header(payload):
    data = message.build_bytes(
        rendered(subject=f"Digest on {payload}"),
        envelope(sender=Address(payload[:40].replace("\r", "").replace("\n", ""), "digest", "digest.example.org"),
                 to=message.safe_address("ada@example.org", payload)))
    head = data.split(b"\r\n\r\n", 1)[0]
    names = [line.split(b":", 1)[0] for line in head.split(b"\r\n") if line and line[:1] not in b" \t"]
    assert b"Bcc" not in names and names.count(b"To") == 1 and names.count(b"Subject") == 1
    assert all(32 <= b < 127 for b in head.replace(b"\r\n", b""))  # nothing raw, nothing non-ASCII
    msg = parse(data)
    assert msg["Bcc"] is None and msg["To"].addresses[0].addr_spec == "ada@example.org"
    assert "\n" not in str(msg["Subject"]) and "\r" not in str(msg["Subject"])
    assert str(msg["Subject"]) == message.clean_header(f"Digest on {payload}")  # literal text, never decoded twice


def test_unsafe_addresses_are_refused():
    for bad in ("ada@example.org\r\nBcc: x@y", "a b@example.org", "<ada@example.org>", "noat", "a@b,c@d"):
        with pytest.raises(ValueError):
            message.safe_address(bad)


def test_long_and_non_ascii_subjects_are_encoded_and_folded():
    subject = "Paper digest: 12 new papers on " + "Schrödinger équations, " * 8
    data = message.build_bytes(rendered(subject=subject), envelope())
    head = data.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 78
    assert str(parse(data)["Subject"]) == message.clean_header(subject)


def test_html_that_is_not_plain_ascii_goes_base64():
    data = message.build_bytes(rendered(html="<p>Zoë</p>\r\n" + "x" * 2000), envelope())
    html = parse(data).get_payload()[1]
    assert html["Content-Transfer-Encoding"] == "base64" and html.get_content().startswith("<p>Zoë</p>")


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dkim")
    key = folder / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True,
                            capture_output=True).stdout
    return key, public


def test_dkim_signature_covers_both_list_unsubscribe_headers_and_verifies(tmp_path, dkim_key):
    import base64

    import dkim

    key, public = dkim_key
    settings = load_settings(make_env(tmp_path, DIGEST_DKIM_KEY_FILE=key, DIGEST_DKIM_SELECTOR="mail2026"),
                             read_dotenv=False)
    assert settings.dkim.domain == "digest.example.org"
    data = message.build_bytes(rendered(), envelope(), settings.dkim)
    signature = parse(data)["DKIM-Signature"]
    signed = [h.strip().lower() for h in signature.split("h=", 1)[1].split(";", 1)[0].replace("\r\n", "").split(":")]
    assert {"from", "subject", "list-unsubscribe", "list-unsubscribe-post", "message-id"} <= set(signed)
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    def dns(name, timeout=5):
        assert name == b"mail2026._domainkey.digest.example.org."
        return record

    assert dkim.verify(data, dnsfunc=dns)
    tampered = data.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
                            b"List-Unsubscribe-Post: List-Unsubscribe=Two-Click")
    assert not dkim.verify(tampered, dnsfunc=dns)


@pytest.mark.parametrize("env, variable", [
    ({"DIGEST_SMTP_RATE": "fast"}, "DIGEST_SMTP_RATE"),
    ({"DIGEST_SMTP_RATE": "-1"}, "DIGEST_SMTP_RATE"),
    ({"DIGEST_DKIM_SELECTOR": "s1"}, "DIGEST_DKIM_KEY_FILE"),
    ({"DIGEST_DKIM_SELECTOR": "s1", "DIGEST_DKIM_KEY_FILE": "/nonexistent.pem"}, "DIGEST_DKIM_KEY_FILE"),
    ({"DIGEST_DKIM_SELECTOR": "bad selector", "DIGEST_DKIM_KEY_FILE": "/x"}, "DIGEST_DKIM_SELECTOR"),
    ({"DIGEST_LIST_UNSUBSCRIBE_MAILTO": "not an address"}, "DIGEST_LIST_UNSUBSCRIBE_MAILTO"),
    ({"DIGEST_SMTP_URL": "smtp://relay?timeout=0"}, "DIGEST_SMTP_URL"),
    ({"DIGEST_SMTP_URL": "smtp://relay?verify=maybe"}, "DIGEST_SMTP_URL"),
])
def test_bad_mail_settings_name_their_variable(tmp_path, env, variable):
    with pytest.raises(ConfigError, match=variable):
        load_settings(make_env(tmp_path, **env), read_dotenv=False)


def test_a_file_that_is_not_a_key_is_refused(tmp_path):
    bogus = tmp_path / "key.pem"
    bogus.write_text("-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----\n")
    with pytest.raises(ConfigError, match="DIGEST_DKIM_KEY_FILE"):
        load_settings(make_env(tmp_path, DIGEST_DKIM_KEY_FILE=bogus, DIGEST_DKIM_SELECTOR="s"), read_dotenv=False)
