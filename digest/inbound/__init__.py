"""Mail that comes back: bounces, complaints, unsubscribes, sign-ups by email and replies.

One handler, three ways in: `digest inbound` reads one message on stdin (an
MTA's pipe transport), `--listen` runs an LMTP/SMTP listener (`listener`),
`--imap` polls a mailbox (`imap`). Every way ends in `handler.handle`, which
records the message once per (Message-ID, envelope recipient), applies what it
says, commits, and only then lets the adapter acknowledge it.

Pure parsing (no database, no network), checked by tests/test_layering.py:
`verp` (the signed return path `bounces+<digest id>.<mac>@domain`), `mime`
(reading hostile bytes safely), `reports` (RFC 3464 delivery status and
RFC 5965 feedback reports), `plain` (the common non-standard bounces),
`commands` (subscribe / unsubscribe by mail, auto-replies) and `classify`
(one verdict per message). The adapters: `apply` (what a verdict does to
subscribers), `handler`, `listener`, `imap`.

Nothing here imports anything on import: `digest.delivery` takes the return
path from `verp` without pulling in the rest.
"""
