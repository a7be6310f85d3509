"""Email content, pure: from plain data (and rows read as plain data) to bytes; nothing here sends.

- `render`: Jinja2 templates with the CSS inlined once per edition; paper cards
  rendered once and shared by every subscriber's digest.
- `latex`: the former home of `digest.latex` (LaTeX to Unicode), kept as an alias.
- `message`: headers, MIME and DKIM for one message; addresses checked by `addresses`.
- `compose`: one subscriber's digest (cards, reasons, signed links) as MIME bytes.
- `confirmation`: the double opt-in mail (`digest.delivery.confirmations` sends it).
- `replies`: RFC 3463 classes of a relay's reply (whose problem a refusal is).

Nothing in email/ imports `digest.delivery`, the database, the network or Celery
(tests/test_layering.py checks it).
"""

__all__ = ["addresses", "compose", "confirmation", "latex", "message", "render", "replies"]
