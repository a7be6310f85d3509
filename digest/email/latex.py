"""Moved to digest.latex (ranking and sources read LaTeX too): this name is kept for code that still imports it."""

from digest.latex import plain_text, readable

__all__ = ["plain_text", "readable"]
