"""Plan, claim, send, record. The idempotency rules live here.

Invariants (DESIGN.md):
- one Digest row per (subscriber, edition date), claimed with a lease before
  SMTP and marked sent right after the relay's 250; a second run, a retried
  task or a second worker finds the row taken and sends nothing;
- the Message-ID derives from the row, so it is the same on every retry;
- every due subscriber ends as sent, skipped (with a reason), failed (with the
  reply) or suppressed.

Modules:
- `plan` — who is due (`get_due`), one row per subscriber and date
  (`bulk_plan`), what earlier runs left (`get_earlier`), `--force` resends;
- `batch` — `deliver`: claim a batch, rank it in one call, compose, send with
  in-batch retries (`RETRY`), give the rows back when anything raises;
- `leases` — claiming rows and keeping or releasing the claim;
- `outcomes` — recording sent (in groups: `Batch.mark`), refused and retry-later rows;
- `retention` — pruning old digests while keeping what they sent (`sent_papers`);
- `editions` — candidates and picks of a batch (what was first announced in
  its window); `updates` — the Updated block (new versions of older papers);
- `senders` — the sender interface and its errors, `smtp`, `outbox`, null;
- `report`, `preview`, `confirmations` (sends the confirmation mail).
"""

from __future__ import annotations

import time

from digest.delivery.batch import RETRY, Batch, Outgoing, RetryPolicy, deliver
from digest.delivery.leases import Lease, bulk_claim, claim, claimable, get_stalled, release, renew
from digest.delivery.plan import (FINAL_STATES, WEEKLY_DAY, bulk_plan, get_due, get_earlier, local_edition,
                                  reset_for_resend)
from digest.delivery.report import DeliveryReport
from digest.models import Digest  # noqa: F401 - reached as delivery.Digest by callers that claim rows by hand

_sleep = time.sleep  # the pause between in-batch retries; tests replace it

__all__ = [
    "FINAL_STATES", "RETRY", "WEEKLY_DAY", "Batch", "DeliveryReport", "Lease", "Outgoing", "RetryPolicy",
    "bulk_claim", "bulk_plan", "claim", "claimable", "deliver", "get_due", "get_earlier", "get_stalled",
    "local_edition", "release", "renew", "reset_for_resend",
]
