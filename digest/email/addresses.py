"""Email address rules shared by every entry point (web form, CLI, seeds) and by the send path.

An address is accepted only as a plain RFC 5321 / RFC 6531 mailbox: a
dot-atom local part and a domain name (IDNA when not ASCII), nothing else.
No quoted local parts, comments, display names, lists, domain literals,
whitespace, control or invisible characters, and no RFC 2047 encoded words:
Python's `email` package decodes `=?utf-8?b?...?=` even inside a local part,
so such an address would put whatever it encodes (CR LF, `Bcc:`, a body) into
the headers of any message built or re-parsed with it.
"""

from __future__ import annotations

MAX_LENGTH = 254  # RFC 5321 path limit less the angle brackets
MAX_LOCAL = 64


class AddressError(ValueError):
    """An address we refuse; the message is one line and says why."""


def _refusal(address: str) -> str | None:
    """Why `address` is refused before any parsing, or None."""
    if len(address) > MAX_LENGTH:
        return f"longer than {MAX_LENGTH} characters"
    if not address.isprintable() or " " in address:
        # isprintable() is False for C0/C1 controls, U+2028/U+2029, NUL, bidi and zero-width marks.
        return "it contains a space, line break, control or invisible character"
    if "=?" in address or "?=" in address:
        return "it contains an encoded word (=?...?=)"
    if address.count("@") != 1:
        return "it must be exactly one address with one @"
    return None


def parse_address(address: str, *, ascii_only: bool = False) -> tuple[str, str, str]:
    """(normalised address, local part, ASCII domain), or AddressError; no DNS lookups."""
    if not isinstance(address, str):
        raise AddressError("invalid email address: not text")
    address = address.strip(" ")
    why = _refusal(address)
    if why is None:
        from email_validator import EmailNotValidError, validate_email  # on first use: most commands never parse one

        try:
            valid = validate_email(address, check_deliverability=False, allow_quoted_local=False,
                                   allow_domain_literal=False, allow_display_name=False)
        except EmailNotValidError as exc:
            why = str(exc)
        else:
            local, domain = valid.local_part, valid.ascii_domain
            if len(local.encode()) > MAX_LOCAL:
                why = f"the part before the @ is longer than {MAX_LOCAL} bytes"
            elif ascii_only and not local.isascii():
                why = "non-ASCII letters before the @ need SMTPUTF8, which our relay connection does not speak"
            elif _refusal(valid.normalized) is not None:  # normalisation must not bring back what we refuse
                why = _refusal(valid.normalized)
            else:
                return valid.normalized, local, domain
    raise AddressError(f"invalid email address {address[:80]!r}: {why}")
