"""The reference policy π_ref: a separate frozen model, or the policy with its adapter disabled.

With an adapter-based policy (peft, or mobench's SVD-LoRA), the reference is the base model under
the adapter, reached through the policy's ``disable_adapter()`` context: no second copy of the
weights. Otherwise a separate model is given and kept frozen in eval mode.

Given a cache folder, :meth:`FrozenReference.prepare` scores a table's sequences once into a store
(:mod:`mobench.engine.reference_cache`) and :meth:`FrozenReference.sequence_logprobs` reads them
from it; a sequence the store lacks still gets its forward.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import torch

from mobench.engine.data import TokenBatch
from mobench.engine.logprobs import reduce_sequence, token_logprobs
from mobench.engine.reference_cache import (
    FillReport,
    ReferenceLogpStore,
    Sequences,
    reference_fingerprint,
)

if TYPE_CHECKING:
    from mobench.core.cost import CostMeter


class FrozenReference:
    """Computes reference token log-probs without gradients.

    Args:
        model: the frozen reference model, or ``None`` to use the policy with its adapter
            disabled (the policy must then offer a ``disable_adapter()`` context manager).
        cache_dir: where stores of sequence log-probs live (None: a forward per batch).
    """

    def __init__(self, model: torch.nn.Module | None = None,
                 cache_dir: Path | None = None) -> None:
        self.model = model
        self.cache_dir = cache_dir
        self.store: ReferenceLogpStore | None = None
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

    def prepare(self, policy: torch.nn.Module, sequences: Sequences, pad_id: int,
                meter: CostMeter | None = None) -> FillReport | None:
        """With a cache folder: open this reference's store, score the ``sequences`` it lacks,
        and say in ``meter``'s cost record what was reused (None without a cache folder)."""
        if self.cache_dir is None:
            return None
        was_training = policy.training
        policy.eval()  # dropout off: the stored values are a function of the sequence alone
        try:
            store = ReferenceLogpStore(self.cache_dir,
                                       reference_fingerprint(self, policy, pad_id))
            report = store.fill(self, policy, sequences, pad_id)
        finally:
            policy.train(was_training)
        self.store = store
        if meter is not None:
            note_reference_cost(meter, report)
        return report

    def sequence_logprobs(self, policy: torch.nn.Module, batch: TokenBatch,
                          reduction: Literal["sum", "mean"],
                          digests: Sequence[bytes] = ()) -> torch.Tensor:
        """Reference log π(y|x) per row (n,): from the store when it holds every row's
        sequence (``digests``, in the batch's order), else from a forward."""
        if self.store is not None and digests:
            stored = self.store.sequence_logprobs(digests, reduction)
            if stored is not None:
                return stored
        return reduce_sequence(self.token_logprobs(policy, batch), batch.response_mask,
                               reduction)


def note_reference_cost(meter: CostMeter, report: FillReport) -> None:
    """The cost record's note on a store: the shards this run wrote (their time is in its own
    training clock) and those it read that another run or process wrote, whose seconds count
    back in (``train_seconds``), once per run however many of its models read them."""
    key = f"reference-logps-{report.fingerprint[:12]}"
    note = dict(meter.reused.get(key, {}))
    computed = set(note.get("computed_shards", [])) | set(report.computed_shards)
    reused = {shard: seconds for shard, seconds in {**note.get("reused_shards", {}),
                                                     **report.reused}.items()
              if shard not in computed}
    meter.note_reuse(key, {
        "what": "reference log-probs of training sequences, computed once per reference",
        "computed_shards": sorted(computed), "reused_shards": reused,
        "sequences_computed": int(note.get("sequences_computed", 0)) + report.computed,
        "computed_here": not reused, "train_seconds": round(sum(reused.values()), 3)})


def reference_cache_for(folder: Path | None, dpo: Any, loop: Any) -> Path | None:
    """The cache folder a DPO-style training uses: ``folder`` when its ``dpo.reference_cache``
    is on and dropout is off (with dropout on, the reference's forward would not be a function
    of the sequence alone), else None."""
    if folder is None or not dpo.reference_cache or not loop.disable_dropout:
        return None
    return Path(folder)


class PairDigests:
    """The digests of a pair table's (prompt, a) and (prompt, b) sequences, row by row: a
    batch's keys into the store, in the [a rows; b rows] order of its tokens."""

    def __init__(self, columns: Any) -> None:
        from mobench.engine.reference_cache import sequence_digest

        prompts, a_ids, b_ids = columns["prompt_ids"], columns["a_ids"], columns["b_ids"]
        self.a = [sequence_digest(p, a) for p, a in zip(prompts, a_ids, strict=True)]
        self.b = [sequence_digest(p, b) for p, b in zip(prompts, b_ids, strict=True)]

    @classmethod
    def for_reference(cls, reference: FrozenReference, columns: Any) -> PairDigests | None:
        return cls(columns) if reference.store is not None else None

    def keys(self, indices: Sequence[int]) -> tuple[bytes, ...]:
        return tuple(self.a[i] for i in indices) + tuple(self.b[i] for i in indices)


def pair_sequences(columns: Any) -> list[tuple[Sequence[int], Sequence[int]]]:
    """Every (prompt, response) sequence of a tokenized pair table."""
    prompts = columns["prompt_ids"]
    return [*zip(prompts, columns["a_ids"], strict=True),
            *zip(prompts, columns["b_ids"], strict=True)]


@contextlib.contextmanager
def _adapter_disabled(policy: torch.nn.Module) -> Iterator[None]:
    with cast(Any, policy).disable_adapter():
        yield
