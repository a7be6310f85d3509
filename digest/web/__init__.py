"""Thin HTTP layer over `subscriptions.py`: subscribe, confirm, preferences, unsubscribe.

Invariants (DESIGN.md, FIELD-NOTES.md):
- GET never changes subscription state; every change is a POST carrying a
  signed token (link scanners follow GET links);
- the RFC 8058 one-click POST needs no cookie and no CSRF field, is answered
  200 without a redirect, and takes effect before the next send;
- the subscribe form answers a new and an already active address alike, so
  it cannot be used to find out who subscribes.

Public surface: `create_app` (everything else is the app's own).
Modules: `app` (create_app, headers), `pages` (the routes), `likes` (More /
Less like this), `archive` (each edition as a page, the archive, the Atom
feed), `limits` (rate limits, body cap), `context` (state, CSRF, message pages).

Serve with gunicorn (`digest.web:create_app()`) or `digest serve` for development.
"""

from digest.web.app import create_app

__all__ = ["create_app"]
