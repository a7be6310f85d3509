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
- `due` — the scheduled plan (`bulk_plan_scheduled`): due rows read through
  their stored next send time, which it moves on once an edition is finished;
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

import importlib
import time

from digest.models import Digest  # noqa: F401 - reached as delivery.Digest by callers that claim rows by hand

_sleep = time.sleep  # the pause between in-batch retries; tests replace it

# The public names are loaded from their module on first use: `batch` ranks, so it pulls in numpy and scipy,
# which a caller that only sends a confirmation (delivery.confirmations) or reads errors must not pay for.
_HOMES = {
    "batch": ("RETRY", "Batch", "Outgoing", "RetryPolicy", "deliver"),
    "leases": ("Lease", "bulk_claim", "claim", "claimable", "get_stalled", "release", "renew"),
    "plan": ("FINAL_STATES", "WEEKLY_DAY", "bulk_plan", "get_due", "get_earlier", "local_edition", "reset_for_resend"),
    "report": ("DeliveryReport",),
    "due": ("bulk_plan_scheduled",),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}
_MODULES = ("batch", "confirmations", "due", "editions", "errors", "leases", "outbox", "outcomes", "plan",
            "preview", "report", "senders", "smtp", "updates")


def __getattr__(name: str):
    """A public name or a module of the package (`delivery.senders`), imported when first asked for."""
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name not in _HOME_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME_OF[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME_OF, *_MODULES})


__all__ = [
    "FINAL_STATES", "RETRY", "WEEKLY_DAY", "Batch", "DeliveryReport", "Lease", "Outgoing", "RetryPolicy",
    "bulk_claim", "bulk_plan", "bulk_plan_scheduled", "claim", "claimable", "deliver", "get_due", "get_earlier",
    "get_stalled", "local_edition", "release", "renew", "reset_for_resend",
]
