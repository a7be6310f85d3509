"""Final message bytes: safe headers, a direct MIME build, optional DKIM.

The stdlib `EmailMessage` text+HTML build costs several milliseconds per
message; writing the multipart/alternative skeleton ourselves costs a fraction
of one. Headers never see raw feed or subscriber text: control characters are
removed, anything that is not plain ASCII (or that looks like an encoded word,
CVE-2024-6923) becomes an RFC 2047 encoded word, and addresses go through
`email.headerregistry.Address`, which refuses CR/LF.
"""

from __future__ import annotations

import binascii
import datetime as dt
import re
import secrets
from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import format_datetime
from typing import TYPE_CHECKING

from digest.email.addresses import parse_address

if TYPE_CHECKING:  # render pulls in Jinja2 and ranking (numpy, scipy): a header or a reply needs neither
    from digest.email.render import Rendered

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]+")
_PLAIN_ASCII = re.compile(r"[\x20-\x7e]*")
MAX_LINE = 990  # SMTP's limit is 998 octets per line
B64_LINE = 76
WORD_BYTES = 39  # → 52 base64 chars: a word is 64 columns, so `Subject: ` + word fits in 78
FOLD_AT = 78
DKIM_HEADERS = (b"from", b"to", b"subject", b"date", b"message-id", b"list-id", b"list-unsubscribe",
                b"list-unsubscribe-post", b"mime-version", b"content-type", b"auto-submitted")


def clean_header(value: str, limit: int = 200) -> str:
    """Header-safe text: CR/LF, control and bidi characters removed, whitespace collapsed, length capped."""
    return " ".join(_CONTROL.sub(" ", value or "").split())[:limit]


def encode_words(value: str) -> str:
    """RFC 2047 encoded words (UTF-8, base64), split on character boundaries, folded."""
    words, chunk = [], b""
    for char in value:
        raw = char.encode()
        if len(chunk) + len(raw) > WORD_BYTES:
            words.append(chunk)
            chunk = b""
        chunk += raw
    words.append(chunk)
    return "\r\n ".join(f"=?utf-8?b?{binascii.b2a_base64(w, newline=False).decode()}?=" for w in words)


def header_value(value: str, limit: int = 200) -> str:
    """Cleaned, then left as is if plain ASCII, else encoded; `=?` in the text is encoded too."""
    value = clean_header(value, limit)
    if _PLAIN_ASCII.fullmatch(value) and "=?" not in value:
        return value
    return encode_words(value)


def safe_address(address: str, display_name: str = "") -> Address:
    """An Address from a stored email and a display name; ValueError (AddressError) if the address is unsafe.

    Checked again at send time with the entry points' rules: a row stored by an
    older version (an encoded word, a line break) fails with this reason instead
    of reaching a header. A non-ASCII local part would need SMTPUTF8 end to end.
    """
    _, local, domain = parse_address(address, ascii_only=True)
    return Address(display_name=clean_header(display_name, 100), username=local, domain=domain)


def format_address(address: Address) -> str:
    """`Name <addr>` with the name quoted (ASCII) or encoded (anything else)."""
    name = clean_header(address.display_name, 100)
    if not name:
        return address.addr_spec
    if _PLAIN_ASCII.fullmatch(name) and "=?" not in name:
        return str(Address(display_name=name, username=address.username, domain=address.domain))
    return f"{encode_words(name)} <{address.addr_spec}>"


def _fold(name: str, value: str) -> str:
    """`Name: value` folded at spaces to about 78 columns (encoded words are folded already)."""
    line = f"{name}: {value}"
    if len(line) <= FOLD_AT or "\r\n" in value:
        return line
    out, current = [], f"{name}:"
    for word in value.split(" "):
        if len(current) + 1 + len(word) > FOLD_AT and current != f"{name}:":
            out.append(current)
            current = ""
        current += " " + word
    out.append(current)
    return "\r\n".join(out)


def _base64(data: bytes) -> bytes:
    enc = binascii.b2a_base64(data, newline=False)
    return b"\r\n".join([enc[i : i + B64_LINE] for i in range(0, len(enc), B64_LINE)])


def _html_part(html: str) -> tuple[bytes, bytes]:
    """(transfer encoding, body): 7bit when the HTML is ASCII with short lines (render makes it so), else base64.

    7bit keeps the part readable, a third smaller than base64 (Gmail clips by
    size) and costs no encoding pass.
    """
    if html.isascii():
        data = html.encode("ascii")
        if b"\r" not in data and max(map(len, data.split(b"\n"))) <= MAX_LINE:
            return b"7bit", data.replace(b"\n", b"\r\n")
    return b"base64", _base64(html.encode())


@dataclass(frozen=True)
class Envelope:
    """Per-message header values that do not come from the rendered content."""

    sender: Address
    to: Address
    message_id: str
    date: dt.datetime
    list_id: str
    unsubscribe_url: str
    unsubscribe_mailto: str | None = None
    edition: dt.date | None = None


def headers(rendered: Rendered, env: Envelope) -> list[tuple[str, str]]:
    """The header fields, in order, every value already safe."""
    unsubscribe = [f"<{env.unsubscribe_url}>"]
    if env.unsubscribe_mailto:
        unsubscribe.append(f"<{env.unsubscribe_mailto}>")
    fields = [
        ("From", format_address(env.sender)),
        ("To", format_address(env.to)),
        ("Subject", header_value(rendered.subject)),
        ("Date", format_datetime(env.date)),
        ("Message-ID", env.message_id),
        ("List-Id", env.list_id),
        ("List-Unsubscribe", ", ".join(unsubscribe)),
    ]
    # RFC 8058: one-click only with an HTTPS URI.
    if env.unsubscribe_url.startswith("https://"):
        fields.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    fields.append(("Auto-Submitted", "auto-generated"))
    if env.edition is not None:
        fields.append(("X-Digest-Edition", env.edition.isoformat()))
    return fields


def checked_fields(fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The fields unchanged, or ValueError if a value holds a line break or control character.

    Only the folds `encode_words` makes (CRLF + space) may break a line: a value
    carrying its own CR/LF would start a header or a body of its own.
    """
    for name, value in fields:
        unfolded = value.replace("\r\n ", " ")
        if not (unfolded.isascii() and unfolded.isprintable()):
            raise ValueError(f"the {name} header would carry a line break or control character: {value[:80]!r}")
    return fields


def build_bytes(rendered: Rendered, env: Envelope, dkim=None) -> bytes:
    """multipart/alternative (text first, then HTML) as CRLF bytes, DKIM-signed when `dkim` is given."""
    data = mime_bytes(headers(rendered, env), rendered.text, rendered.html)
    return dkim_sign(data, dkim) if dkim is not None else data


def mime_bytes(fields: list[tuple[str, str]], text: str, html: str) -> bytes:
    """The header fields (checked) and a multipart/alternative body, text first, as CRLF bytes."""
    # Random, so text from a feed cannot close a part early by guessing the boundary.
    boundary = "=_" + secrets.token_hex(12)
    head = "\r\n".join(_fold(n, v) for n, v in checked_fields(fields))
    html_cte, html_body = _html_part(html)
    return b"".join((
        head.encode("ascii"),
        b"\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"", boundary.encode(),
        b"\"\r\n\r\n--", boundary.encode(),
        b"\r\nContent-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
        _base64(text.encode()),
        b"\r\n--", boundary.encode(),
        b"\r\nContent-Type: text/html; charset=\"utf-8\"\r\nContent-Transfer-Encoding: ", html_cte, b"\r\n\r\n",
        html_body,
        b"\r\n--", boundary.encode(), b"--\r\n",
    ))


def dkim_sign(data: bytes, config) -> bytes:
    """Prepend a DKIM-Signature covering From, Subject, both List-Unsubscribe headers and the rest."""
    import dkim

    signature = dkim.sign(data, config.selector.encode(), config.domain.encode(), config.private_key,
                          include_headers=list(DKIM_HEADERS), canonicalize=(b"relaxed", b"relaxed"))
    return signature + data
