"""What one delivery run did, in words: per-digest lines, counts and a summary that says what is true."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from digest.wording import plural  # noqa: F401 (callers import it from here too)

# Outcomes in the order the summary names them; the last four are not final.
LABELS = {
    "sent": "sent", "skipped": "skipped", "suppressed": "suppressed", "failed": "failed",
    "retry": "left for retry",
    "unknown": "with an unknown outcome (retried in 10 min with the same Message-ID)",
    "busy": "held by another worker", "released": "released to another worker",
}
# States of rows a run found already finished (or in another worker's hands, or waiting for their retry time).
EARLIER = {"sent": "sent", "skipped": "skipped", "failed": "failed", "suppressed": "suppressed",
           "sending": "being sent by another worker", "waiting": "waiting to be retried later"}


@dataclass
class DeliveryReport:
    """What one delivery run did, by outcome; plus what planning found already done."""

    counts: Counter = field(default_factory=Counter)
    lines: list[str] = field(default_factory=list)
    due: int | None = None  # subscribers due when planned (None: not planned by this run)
    earlier: Counter = field(default_factory=Counter)  # (edition date, state) of rows finished before this run
    relay_error: str | None = None

    def add(self, state: str, line: str) -> None:
        self.counts[state] += 1
        self.lines.append(line)

    @property
    def all_handled(self) -> bool:
        """True when nothing failed and nothing is left for a later run."""
        waiting = any(state == "waiting" for _, state in self.earlier)
        return not (self.counts["failed"] or self.counts["retry"] or self.counts["released"]
                    or self.counts["unknown"] or waiting)

    def summary(self) -> str:
        """One line: this run's outcomes, then what earlier runs had already done."""
        why = {"retry": f" (relay unavailable: {self.relay_error})" if self.relay_error else ""}
        parts = [f"{self.counts[s]} {label}{why.get(s, '')}" for s, label in LABELS.items() if self.counts[s]]
        if not parts:
            return self.nothing_done()
        by_state: Counter = Counter()
        for (_, state), count in self.earlier.items():
            by_state[state] += count
        return ", ".join(parts) + (f" (handled by earlier runs: {_states(by_state)})" if by_state else "")

    def nothing_done(self) -> str:
        """Why a run sent nothing: nobody due, or each due edition already handled."""
        if not self.earlier:
            return "nothing to send: no subscribers are due" if self.due is not None else "nothing to send"
        by_date: dict[dt.date, Counter] = {}
        for (date, state), count in sorted(self.earlier.items()):
            by_date.setdefault(date, Counter())[state] += count
        return "nothing new to send: " + "; ".join(_edition_done(d, states) for d, states in by_date.items())


def _states(by_state: Counter) -> str:
    return ", ".join(f"{by_state[s]} {label}" for s, label in EARLIER.items() if by_state[s])


def _edition_done(date: dt.date, states: Counter) -> str:
    total = sum(states.values())
    subject = f"the digest of {date}" if total == 1 else f"all {total} digests of {date}"
    verb = "was" if total == 1 else "were"
    if len(states) == 1:
        (state,) = states
        return f"{subject} {verb} already {EARLIER[state]}"
    return f"{subject} {verb} already handled ({_states(states)})"
