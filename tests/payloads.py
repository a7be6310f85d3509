"""Header-injection payloads for email addresses, in one place for every entry point's tests.

Each entry is (label, address, expected): "refuse" means every entry point
must refuse it (exit 2 / 400, nothing written, no mail); "accept" means it is
a real mailbox and must be mailed to exactly that one recipient with no header
added. `=?utf-8?b?...?=` payloads decode to CR LF + `X-Injected: yes` + `Bcc:`.
"""

from __future__ import annotations

import base64

INJECTED = "x\r\nX-Injected: yes\r\nBcc: evil@x.com\r\n\r\nFAKE BODY"
_B = base64.b64encode(INJECTED.encode()).decode()
_Q = "x=0D=0AX-Injected:=20yes=0D=0ABcc:=20evil@x.com"

ADDRESS_PAYLOADS = [
    ("encoded word b in local part", f"=?utf-8?b?{_B}?=@attacker.example", "refuse"),
    ("encoded word q in local part", f"=?utf-8?q?{_Q}?=@attacker.example", "refuse"),
    ("encoded word b upper case", f"=?UTF-8?B?{_B}?=@attacker.example", "refuse"),
    ("encoded word inside local part", f"ada=?utf-8?b?{_B}?=x@attacker.example", "refuse"),
    ("encoded word in domain", "ada@=?utf-8?b?ZXZpbC5jb20=?=", "refuse"),
    ("encoded word q in domain", "ada@=?utf-8?q?evil.com?=.example.org", "refuse"),
    ("encoded word display name", f"=?utf-8?b?{_B}?= <ada@example.org>", "refuse"),
    ("encoded word q display name", f"=?utf-8?q?{_Q}?= <ada@example.org>", "refuse"),
    ("CRLF in local part", "ada\r\nBcc: evil@x.com@example.org", "refuse"),
    ("LF in local part", "ada\nBcc: evil@x.com@example.org", "refuse"),
    ("CR in local part", "ada\rBcc: evil@x.com@example.org", "refuse"),
    ("CRLF after the address", "ada@example.org\r\nBcc: evil@x.com", "refuse"),
    ("LF then Bcc", "a@x.org\nBcc:", "refuse"),
    ("CR then header", "a@x.org\rX-Injected: yes", "refuse"),
    ("CRLF in display name", "Ada\r\nBcc: evil@x.com <ada@example.org>", "refuse"),
    ("LF in display name", "Ada\nBcc: evil@x.com <ada@example.org>", "refuse"),
    ("CRLF in domain", "ada@example.org\r\n.evil.com", "refuse"),
    ("percent-encoded CRLF with header", "ada%0d%0aBcc:evil@x.com@example.org", "refuse"),
    ("percent-encoded CRLF in local part", "ada%0d%0a@example.org", "accept"),
    ("CVE-2024-6923 folded newline", "ada@example.org\r\n X-Injected: yes", "refuse"),
    ("CVE-2024-6923 newline with tab", "ada@example.org\n\tBcc: evil@x.com", "refuse"),
    ("U+2028 line separator", "ada\u2028Bcc: evil@x.com@example.org", "refuse"),
    ("U+2029 paragraph separator", "ada@example.org\u2029Bcc: evil@x.com", "refuse"),
    ("U+0085 next line", "ada\u0085Bcc: evil@x.com@example.org", "refuse"),
    ("NUL in local part", "ada\x00@example.org", "refuse"),
    ("NUL after the address", "ada@example.org\x00Bcc: evil@x.com", "refuse"),
    ("vertical tab", "ada\x0b@example.org", "refuse"),
    ("zero-width space", "ada\u200b@example.org", "refuse"),
    ("quoted local part with CRLF", "\"ada\r\nBcc: evil@x.com\"@example.org", "refuse"),
    ("quoted local part", "\"ada smith\"@example.org", "refuse"),
    ("comment in local part", "ada(comment)@example.org", "refuse"),
    ("comment with CRLF", "ada(\r\nBcc: evil@x.com)@example.org", "refuse"),
    ("comment after domain", "ada@example.org(comment)", "refuse"),
    ("two addresses", "a@x.org, b@y.org", "refuse"),
    ("two addresses with semicolon", "a@x.org;b@y.org", "refuse"),
    ("angle brackets", "<ada@example.org>", "refuse"),
    ("address in angle brackets with a second", "ada@example.org>, <evil@x.com", "refuse"),
    ("domain literal", "ada@[127.0.0.1]", "refuse"),
    ("overlong address", "a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".org", "refuse"),
    ("overlong local part", "a" * 65 + "@example.org", "refuse"),
    ("invalid IDNA domain", "ada@\u2603.example", "refuse"),
    ("invalid punycode domain", "ada@xn--zz-.example", "refuse"),
    ("IDN homograph domain (valid IDNA)", "ada@p\u0430ypal.com", "accept"),
    ("IDN domain", "ada@b\u00fccher.example", "accept"),
    ("plus and dots", "ada.lovelace+digest@example.org", "accept"),
]
