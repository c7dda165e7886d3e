"""argparse helpers that more than one CLI module uses (here so that no two of them import each
other)."""

from __future__ import annotations

import argparse


def threads_argument(text: str) -> int:
    """argparse type of a ``--threads``: a positive integer."""
    try:
        threads = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if threads < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {threads}")
    return threads
