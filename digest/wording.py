"""Small wording helpers shared by every line the CLI, status and reports print."""

from __future__ import annotations

__all__ = ["plural"]


def plural(count: int, singular: str, many: str | None = None) -> str:
    """`1 digest`, `3 digests` (`many` for irregular plurals)."""
    return f"{count} {singular if count == 1 else many or singular + 's'}"
