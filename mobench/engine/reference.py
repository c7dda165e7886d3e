"""The reference policy π_ref: a separate frozen model, or the policy with its adapter disabled.

With an adapter-based policy (peft, or mobench's SVD-LoRA), the reference is the base model under
the adapter, reached through the policy's ``disable_adapter()`` context: no second copy of the
weights. Otherwise a separate model is given and kept frozen in eval mode.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, cast

import torch

from mobench.engine.data import TokenBatch
from mobench.engine.logprobs import token_logprobs


class FrozenReference:
    """Computes reference token log-probs without gradients.

    Args:
        model: the frozen reference model, or ``None`` to use the policy with its adapter
            disabled (the policy must then offer a ``disable_adapter()`` context manager).
    """

    def __init__(self, model: torch.nn.Module | None = None) -> None:
        self.model = model
        if model is not None:
            model.eval()
            model.requires_grad_(False)

    @property
    def uses_adapter(self) -> bool:
        return self.model is None

    def check_policy(self, policy: torch.nn.Module) -> None:
        """Fail early when the adapter-disabled mode is asked of a policy without an adapter."""
        if self.model is None and not hasattr(policy, "disable_adapter"):
            raise ValueError(f"no reference model was given and the policy "
                             f"({type(policy).__name__}) has no disable_adapter(); pass the "
                             "reference model, or wrap the policy in an adapter (peft, SVD-LoRA)")

    @torch.no_grad()
    def token_logprobs(self, policy: torch.nn.Module, batch: TokenBatch,
                       temperature: float = 1.0) -> torch.Tensor:
        """Reference log-probs (n, T − 1) of the batch's response tokens (of its logits divided
        by ``temperature``: PPO compares tempered distributions)."""
        if self.model is not None:
            logps, _ = token_logprobs(self.model, batch, temperature=temperature)
            return logps
        with _adapter_disabled(policy):
            logps, _ = token_logprobs(policy, batch, temperature=temperature)
        return logps


@contextlib.contextmanager
def _adapter_disabled(policy: torch.nn.Module) -> Iterator[None]:
    with cast(Any, policy).disable_adapter():
        yield
