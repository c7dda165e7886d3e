"""torch's intra-op thread count, which a run's numbers depend on.

torch splits a reduction (the sum over the batch inside a weight gradient, for one) between its
threads, so the same seed gives bit-different weights with 1 and with 2 threads: on this
machine a (1024 x 128)^T (1024 x 128) product already differs in its last bits, and a tiny
reference policy trained with 1 and with 2 threads saves different files. Hence:

- asset builds (reference policies, reward models, cached experts) always run with
  :data:`BUILD_THREADS`, so what a cache holds never depends on which process built it first;
- a run records its thread count in ``spec.json``'s provenance, and ``mobench run --threads`` /
  ``mobench sweep --threads`` fix it (the committed leaderboards ran with 1: rerun a row with
  ``--threads 1`` to get its numbers).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mobench.core.errors import ConfigError

# One thread: the slowest choice, and the only one every machine (and every worker of a sweep
# that splits the cores) can make.
BUILD_THREADS = 1


def set_torch_threads(threads: int) -> None:
    """Fix torch's intra-op threads for the rest of the process."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"the thread count must be a positive integer, got {threads!r}")
    import torch

    torch.set_num_threads(threads)


def torch_threads_in_use() -> int:
    import torch

    return int(torch.get_num_threads())


@contextmanager
def fixed_torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` torch threads, then restore the count it found."""
    before = torch_threads_in_use()
    set_torch_threads(threads)
    try:
        yield
    finally:
        set_torch_threads(before)
