"""Reading a message that came back, whatever its bytes: size cap, nesting limits, text in any charset; pure.

Mail that comes back is written by strangers. `read_mail` refuses (raises
`Refused` with a one-line reason) a message over the size cap, one whose
MIME structure the parser cannot take (a message/rfc822 or multipart bomb
nested thousands deep ends in RecursionError inside the stdlib parser), or one
nested deeper or with more parts than any real report has. Everything else is
read with the lenient compat32 parser; header and body text is decoded with the
declared charset, an unknown or wrong one falling back to Latin-1, never raising.
"""

from __future__ import annotations

import codecs
import email
import hashlib
import re
from dataclasses import dataclass, field
from email.header import decode_header
from email.message import Message
from email.utils import getaddresses

from digest.email.message import clean_header

MAX_DEPTH = 8  # a DSN is multipart/report > message/rfc822 > multipart/alternative: 3; a bounce of a bounce: 6
MAX_PARTS = 400
MAX_TEXT = 256 * 1024  # characters of a body part we look at
_ADDRESS = re.compile(r"[^\s<>()\[\]\\,;:\"@]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+")
# One address, bare or after a plain name ("Mail Delivery System <MAILER-DAEMON@mx.example.net>"): what most header
# values are, read here without getaddresses, which costs tens of microseconds a value (it gives the same address).
_ONE_ADDRESS = re.compile(rf"[ \t]*(?:[A-Za-z0-9 _'-]*<({_ADDRESS.pattern})>|({_ADDRESS.pattern}))[ \t]*")


class Refused(ValueError):
    """A message we do not read; the text is one line that says why."""


@dataclass
class Mail:
    """One parsed message and the header values the handler uses, all decoded and cleaned."""

    msg: Message
    size: int
    message_id: str  # `<...>` as given, or `<sha256:...@inbound>` for a message without one
    sender: str  # the From address, lower-cased; "" when there is none we can read
    subject: str
    parts: int = 0
    depth: int = 0
    recipients: list[str] = field(default_factory=list)  # Delivered-To, X-Original-To, To: where it came to

    def header(self, name: str) -> str:
        return header_text(self.msg.get(name))


def read_mail(raw: bytes, max_bytes: int) -> Mail:
    """The message in `raw`, or Refused (too large, malformed MIME, nested too deep or too many parts)."""
    if len(raw) > max_bytes:
        raise Refused(f"too large: {len(raw):,} bytes (the cap is {max_bytes:,})")
    try:
        msg = email.message_from_bytes(raw)
        parts, depth = _shape(msg)
    except RecursionError:
        raise Refused("malformed MIME: parts nested beyond what the parser can read") from None
    except Exception as exc:  # noqa: BLE001 - the stdlib parser is lenient, but hostile bytes may still break it
        raise Refused(f"malformed MIME: {type(exc).__name__}") from None
    if depth > MAX_DEPTH:
        raise Refused(f"nested {depth} messages or multiparts deep (at most {MAX_DEPTH})")
    if parts > MAX_PARTS:
        raise Refused(f"{parts} MIME parts (at most {MAX_PARTS})")
    message_id = _message_id(header_text(msg.get("Message-ID"))) or \
        f"<sha256:{hashlib.sha256(raw).hexdigest()[:40]}@inbound>"
    recipients = [a for name in ("Delivered-To", "X-Original-To", "To") for a in addresses(msg.get_all(name) or [])]
    return Mail(msg=msg, size=len(raw), message_id=message_id, sender=(addresses(msg.get_all("From") or []) or [""])[0],
                subject=header_text(msg.get("Subject"))[:300], parts=parts, depth=depth, recipients=recipients)


def _shape(msg: Message) -> tuple[int, int]:
    """(number of parts, deepest nesting), walked without recursion."""
    parts, deepest, todo = 0, 0, [(msg, 0)]
    while todo:
        part, depth = todo.pop()
        parts += 1
        deepest = max(deepest, depth)
        if parts > MAX_PARTS or deepest > MAX_DEPTH:
            break
        payload = part.get_payload()
        if isinstance(payload, list):
            todo.extend((p, depth + 1) for p in payload if isinstance(p, Message))
    return parts, deepest


def _message_id(value: str) -> str:
    match = re.search(r"<[^<>\s]{1,290}>", value)
    return match[0] if match else ""


def codec(charset: str | None) -> str:
    """A codec Python knows for a declared charset; Latin-1 for an unknown one (it decodes any byte)."""
    try:
        return codecs.lookup(charset or "us-ascii").name if charset and charset != "unknown-8bit" else "utf-8"
    except LookupError:
        return "latin-1"


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes in a declared charset; bytes that are not valid in it are replaced, never an exception."""
    name = codec(charset)
    try:
        return data.decode(name)
    except UnicodeDecodeError:
        if name in ("utf-8", "ascii"):  # undeclared 8-bit text: UTF-8 if it mostly is, else Latin-1
            return data.decode("utf-8", "replace") if _mostly_utf8(data) else data.decode("latin-1")
        return data.decode(name, "replace")


def _mostly_utf8(data: bytes) -> bool:
    return data.decode("utf-8", "replace").count("\ufffd") * 20 < max(1, len(data))


def header_text(value) -> str:
    """A header value as one clean line: encoded words decoded, raw 8-bit bytes decoded, controls removed."""
    if value is None:
        return ""
    try:
        chunks = decode_header(value)
        text = "".join(data.decode(codec(charset), "replace") if isinstance(data, bytes) else data
                       for data, charset in chunks)
    except Exception:  # noqa: BLE001 - a malformed encoded word: keep the value as given
        text = str(value)
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return clean_header(text, 2000)


def addresses(values) -> list[str]:
    """The plain addresses in header values, lower-cased; anything unreadable left out."""
    out = []
    texts = [header_text(v) for v in values]
    simple = [_ONE_ADDRESS.fullmatch(text) for text in texts]
    try:
        pairs = [("", m[1] or m[2]) for m in simple] if all(simple) else getaddresses(texts)
    except Exception:  # noqa: BLE001 - getaddresses chokes on some hostile values
        pairs = [("", m) for text in texts for m in _ADDRESS.findall(text)]
    for _, address in pairs:
        address = address.strip().strip("<>").lower()
        if _ADDRESS.fullmatch(address) and address not in out:
            out.append(address)
    return out


def part_text(part: Message) -> str:
    """A leaf part's body as text (transfer encoding undone, charset decoded), at most MAX_TEXT characters."""
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - broken base64 / quoted-printable
        data = None
    if data is None:
        payload = part.get_payload()
        return payload[:MAX_TEXT] if isinstance(payload, str) else ""
    return decode_bytes(data[: MAX_TEXT * 4], part.get_content_charset())[:MAX_TEXT]


def body_text(msg: Message, html: bool = False) -> str:
    """The first text/plain part that is not an attachment (or, with `html`, text/html made plain)."""
    for part in msg.walk():
        if part.get_content_maintype() == "message":
            return ""  # the message that follows is someone else's (a returned original)
        if part.is_multipart() or "attachment" in str(part.get("Content-Disposition", "")).lower():
            continue
        if part.get_content_type() == "text/plain":
            return part_text(part)
        if html and part.get_content_type() == "text/html":
            return re.sub(r"<[^>]{0,2000}>", " ", part_text(part))
    return ""
