"""Small text helpers for messages people read."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``count`` and the noun in the form that agrees with it: ``1 run``, ``2 runs``, ``0 runs``
    (``many``: an irregular plural form)."""
    return f"{count:,} {noun if count == 1 else (many or noun + 's')}"
