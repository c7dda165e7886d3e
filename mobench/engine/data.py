"""Tokenized training tables, their seeded batch order, and collation into padded tensors.

Prompts and responses are tokenized apart and concatenated (what the policy sees at generation
time: the formatted prompt, then its own tokens), responses end with the end-of-sequence token,
and batches are right-padded with a mask of the response tokens, so prompt tokens never count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import datasets
import numpy as np
import torch

from mobench.core.policy import derive_seed

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

ORDER_STREAM = 3  # key of the data order among the engine's seeded streams


def encode_pair_table(table: datasets.Dataset, tokenizer: PreTrainedTokenizerBase,
                      format_prompt: Callable[[str], str], max_length: int) -> datasets.Dataset:
    """Add ``prompt_ids``, ``a_ids``, ``b_ids`` to a merged pair table (see
    :func:`~mobench.engine.pairs.merge_preference_pairs`)."""

    def encode(batch: dict[str, list]) -> dict[str, list]:
        prompts = _tokenize(tokenizer, [format_prompt(p) for p in batch["prompt"]])
        a = _tokenize(tokenizer, batch["response_a"])
        b = _tokenize(tokenizer, batch["response_b"])
        out: dict[str, list] = {"prompt_ids": [], "a_ids": [], "b_ids": []}
        for p, ra, rb in zip(prompts, a, b, strict=True):
            p = _fit_prompt(p, max_length)
            out["prompt_ids"].append(p)
            out["a_ids"].append(_fit_response(ra, tokenizer.eos_token_id, max_length - len(p)))
            out["b_ids"].append(_fit_response(rb, tokenizer.eos_token_id, max_length - len(p)))
        return out

    return table.map(encode, batched=True, desc="tokenizing pairs")


def encode_response_table(table: datasets.Dataset, tokenizer: PreTrainedTokenizerBase,
                          format_prompt: Callable[[str], str],
                          max_length: int) -> datasets.Dataset:
    """Add ``prompt_ids`` and ``response_ids`` to a merged SFT table."""

    def encode(batch: dict[str, list]) -> dict[str, list]:
        prompts = _tokenize(tokenizer, [format_prompt(p) for p in batch["prompt"]])
        responses = _tokenize(tokenizer, batch["response"])
        fitted = [_fit_prompt(p, max_length) for p in prompts]
        return {"prompt_ids": fitted,
                "response_ids": [_fit_response(r, tokenizer.eos_token_id, max_length - len(p))
                                 for p, r in zip(fitted, responses, strict=True)]}

    return table.map(encode, batched=True, desc="tokenizing responses")


def _tokenize(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]) -> list[list[int]]:
    return tokenizer(list(texts), add_special_tokens=False)["input_ids"]


def _fit_prompt(ids: list[int], max_length: int) -> list[int]:
    # Keep the end of an over-long prompt: it is what the response continues from.
    limit = max_length // 2
    return ids[-limit:] if len(ids) > limit else ids


def _fit_response(ids: list[int], eos_id: int, budget: int) -> list[int]:
    return (ids + [eos_id])[:budget]


@dataclass(frozen=True)
class TokenBatch:
    """Right-padded sequences of prompt + response.

    Attributes:
        input_ids: (n, T) token ids.
        attention_mask: (n, T) 1 on real tokens.
        response_mask: (n, T) 1 on response tokens, the ones whose log-probs count.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    response_mask: torch.Tensor


def collate(prompt_ids: Sequence[Sequence[int]], response_ids: Sequence[Sequence[int]],
            pad_id: int) -> TokenBatch:
    """Concatenate each prompt with its response and right-pad the batch."""
    rows = [torch.tensor(list(p) + list(r), dtype=torch.long)
            for p, r in zip(prompt_ids, response_ids, strict=True)]
    ids = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=pad_id)
    prompt_len = torch.tensor([len(p) for p in prompt_ids])
    total_len = torch.tensor([len(r) for r in rows])
    position = torch.arange(ids.shape[1])
    attention = (position[None, :] < total_len[:, None]).long()
    response = attention * (position[None, :] >= prompt_len[:, None]).long()
    return TokenBatch(ids, attention, response)


class BatchOrder:
    """A seeded, endless order of row indices: one fresh permutation per epoch.

    Position ``k`` of the order is fixed by (seed, k) alone, so step ``s`` reads the same rows in
    an uninterrupted and in a resumed run.
    """

    def __init__(self, n_rows: int, seed: int) -> None:
        if n_rows < 1:
            raise ValueError("cannot draw batches from an empty table")
        self.n_rows = n_rows
        self.seed = seed
        self._epochs: dict[int, np.ndarray] = {}

    def indices(self, start: int, count: int) -> list[int]:
        """The row indices at positions ``start .. start + count - 1`` of the order."""
        out: list[int] = []
        position = start
        while len(out) < count:
            epoch, offset = divmod(position, self.n_rows)
            take = min(count - len(out), self.n_rows - offset)
            out.extend(self._epoch(epoch)[offset:offset + take].tolist())
            position += take
        return out

    def _epoch(self, epoch: int) -> np.ndarray:
        if epoch not in self._epochs:
            rng = np.random.default_rng(derive_seed(self.seed, ORDER_STREAM, epoch))
            self._epochs = {epoch: rng.permutation(self.n_rows)}  # only the current epoch is kept
        return self._epochs[epoch]


def micro_batch_slices(loop_batch_size: int, accumulation: int, rank: int,
                       world_size: int) -> list[slice]:
    """Which of an optimizer step's rows each of this process's micro-batches takes.

    A step has ``batch_size * accumulation * world_size`` rows; micro-batch k holds global rows
    ``[k * batch_size * world_size, (k + 1) * ...)``, of which rank r takes the r-th share. One
    process with batch size ``b * w`` thus sees the same rows per micro-batch as ``w`` processes
    with batch size ``b``.
    """
    per_micro = loop_batch_size * world_size
    return [slice(k * per_micro + rank * loop_batch_size,
                  k * per_micro + (rank + 1) * loop_batch_size) for k in range(accumulation)]


def step_micro_batches(order: BatchOrder, sample_preferences: Callable[[int, int], torch.Tensor],
                       step: int, batch_size: int, accumulation: int, rank: int,
                       world_size: int) -> list[tuple[list[int], torch.Tensor]]:
    """This process's micro-batches of optimizer step ``step``: (row indices, preference rows).

    The step's rows and preferences depend on (seed, step) alone, so a resumed run reads the
    same data; see :func:`micro_batch_slices` for how the rows are shared out.
    """
    n_rows = batch_size * accumulation * world_size
    indices = order.indices(step * n_rows, n_rows)
    preferences = sample_preferences(step, n_rows)
    return [(indices[part], preferences[part])
            for part in micro_batch_slices(batch_size, accumulation, rank, world_size)]


def pad_right(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and attention mask of a batch of token-id lists (no response mask)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(list(row), dtype=torch.long)
        mask[i, :len(row)] = 1
    return ids, mask


def length_grouped_batches(lengths: Sequence[int], batch_size: int, rng: np.random.Generator,
                           group: int = 8) -> list[list[int]]:
    """One epoch of index batches, each of similar lengths so little compute goes to padding.

    Indices are shuffled, cut into chunks of ``group`` batches, sorted by length within a chunk
    and split into batches; the batches are then shuffled, so the order stays random.
    """
    order = rng.permutation(len(lengths))
    batches: list[list[int]] = []
    chunk = batch_size * group
    for start in range(0, len(order), chunk):
        members = sorted(order[start:start + chunk].tolist(), key=lambda i: lengths[i])
        batches += [members[k:k + batch_size] for k in range(0, len(members), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


class LengthGroupedOrder:
    """Length-grouped batches, epoch after epoch, drawn from one seeded generator.

    Step ``s`` gets the same batch whether or not the run was interrupted: the epochs are
    regenerated in order from the seed (cheap: index lists only). ``reverse`` serves each epoch's
    batches from its end, the order the asset builders always used.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed_keys: Sequence[int],
                 reverse: bool = False) -> None:
        if not lengths:
            raise ValueError("cannot draw batches from an empty table")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed_keys = tuple(seed_keys)
        self.reverse = reverse
        self._epochs: list[list[list[int]]] = []
        self._rng = np.random.default_rng(np.random.SeedSequence(list(self.seed_keys)))

    def epoch(self, k: int) -> list[list[int]]:
        while len(self._epochs) <= k:
            self._epochs.append(length_grouped_batches(self.lengths, self.batch_size, self._rng))
        return self._epochs[k]

    def batch(self, step: int) -> list[int]:
        """The row indices of optimizer step ``step``."""
        k = 0
        while step >= len(self.epoch(k)):
            step -= len(self.epoch(k))
            k += 1
        batches = self.epoch(k)
        return batches[len(batches) - 1 - step] if self.reverse else batches[step]

    def steps_in_epochs(self, n_epochs: int) -> int:
        return sum(len(self.epoch(k)) for k in range(n_epochs))
