"""Reference log-probs of training sequences, computed once and kept beside the task's assets.

DPO-style objectives (DPO and its LS/Tchebycheff aggregates, MODPO) compare the policy with a
frozen reference on fixed sequences. With dropout off, the reference's log-prob of a sequence never
changes, yet every batch of every adapter recomputed it (on the tiny GPT-2 with a rank-8 LoRA, one
thread, 32 rows of 64 tokens: the reference's forward is 42 ms beside the policy's 116 ms forward,
backward and step). Here every distinct sequence a training table holds is scored once (in
unpadded batches of one length) and stored by its tokens' digest under the reference's
fingerprint, so every later training on those sequences with that reference (the other grid
models of DPS or MODPO, another method, another run of the same task and seed) reads it.

- The fingerprint is the reference's own log-probs on a fixed probe batch, with the CPU kernel paths
  and thread count (:mod:`mobench.core.threads`): the same weights give the same probe bits, any
  other weights other bits. So nothing has to name the weights, and a method that changed the base
  model under its adapter (extended embeddings, say) gets a store of its own.
- A store is a folder of shards (``.npz``: sequence digests, the sum of the response tokens'
  log-probs, their count, and the seconds the shard took), each written atomically; a reader takes
  every shard there. "sum" and "mean" reductions both come from (sum, count).
- A sequence's stored bits are those it gets alone (unpadded batches of one length give them
  exactly), so they do not depend on which run or table filled the store. They may differ in the
  last bits from the same sequence's log-prob inside a padded training batch.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import torch

from mobench.core.threads import kernel_signature, torch_threads_in_use
from mobench.engine.data import TokenBatch, collate


class ReferenceForward(Protocol):
    """What a store needs of the reference (:class:`~mobench.engine.reference.FrozenReference`):
    per-token log-probs of a batch, without gradients."""

    model: torch.nn.Module | None

    def token_logprobs(self, policy: torch.nn.Module, batch: TokenBatch,
                       temperature: float = 1.0) -> torch.Tensor: ...

STORE_FORMAT = "1"  # bump when what a stored value means changes
DIGEST_BYTES = 16
SHARD_SUFFIX = ".npz"
# Rows per forward when filling a store (sequences of one length only, see ReferenceLogpStore.fill).
FILL_BATCH_ROWS = 64

Sequences = Sequence[tuple[Sequence[int], Sequence[int]]]


def sequence_digest(prompt_ids: Sequence[int], response_ids: Sequence[int]) -> bytes:
    """The key of one (prompt, response) token sequence: the split matters (only response tokens
    count), so it is part of the digest."""
    blob = np.asarray(list(prompt_ids), dtype=np.int64).tobytes() + b"|" + \
        np.asarray(list(response_ids), dtype=np.int64).tobytes()
    return hashlib.sha256(blob).digest()[:DIGEST_BYTES]


def probe_batch(vocab_size: int, pad_id: int) -> TokenBatch:
    """Four fixed sequences of different lengths over the vocabulary: the fingerprint's input."""
    rows = [[(17 + 7919 * (i + 13 * r)) % vocab_size for i in range(12 + 9 * r)] for r in range(4)]
    return collate([row[:6] for row in rows], [row[6:] for row in rows], pad_id)


def reference_fingerprint(reference: ReferenceForward, policy: torch.nn.Module,
                          pad_id: int) -> str:
    """What the reference computes, in a digest: its log-probs on :func:`probe_batch`, with the
    kernel paths and thread count those bits depend on."""
    config = getattr(getattr(reference, "model", None) or policy, "config", None)
    vocab_size = int(getattr(config, "vocab_size", 0) or 0)
    if vocab_size < 2:
        raise ValueError("the reference model's config names no vocabulary size")
    with torch.no_grad():
        logps = reference.token_logprobs(policy, probe_batch(vocab_size, pad_id))
    digest = hashlib.sha256()
    digest.update(STORE_FORMAT.encode())
    digest.update(repr(sorted(kernel_signature().items())).encode())
    digest.update(str(torch_threads_in_use()).encode())
    digest.update(logps.detach().to(torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:24]


@dataclass
class FillReport:
    """What opening a store for a table did.

    Attributes:
        fingerprint: the reference's fingerprint (the store's folder name).
        computed: sequences scored now.
        seconds: the wall-clock of scoring them.
        reused: shards written before (by this run or another) whose values the table uses, with
            the seconds each took.
        computed_shards: the shards written now.
    """

    fingerprint: str
    computed: int = 0
    seconds: float = 0.0
    reused: dict[str, float] = field(default_factory=dict)
    computed_shards: list[str] = field(default_factory=list)


class ReferenceLogpStore:
    """The stored sums and counts of one reference, in ``root / fingerprint``."""

    def __init__(self, root: Path, fingerprint: str) -> None:
        self.fingerprint = fingerprint
        self.folder = Path(root) / fingerprint
        self.values: dict[bytes, tuple[float, int, str]] = {}  # digest -> sum, count, shard
        self.shard_seconds: dict[str, float] = {}

    def load(self) -> None:
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob(f"*{SHARD_SUFFIX}")):
            if path.name in self.shard_seconds:
                continue
            try:
                with np.load(path) as shard:
                    digests, sums = shard["digests"], shard["sums"]
                    counts, seconds = shard["counts"], float(shard["seconds"])
            except (OSError, ValueError, KeyError):
                continue  # a damaged shard is ignored: its sequences are scored again
            self.shard_seconds[path.name] = seconds
            for digest, total, count in zip(digests, sums, counts, strict=True):
                self.values.setdefault(bytes(digest), (float(total), int(count), path.name))

    def fill(self, reference: ReferenceForward, policy: torch.nn.Module, sequences: Sequences,
             pad_id: int) -> FillReport:
        """Score the sequences the store lacks (one new shard) and say which shards serve the
        rest."""
        self.load()
        report = FillReport(self.fingerprint)
        missing: dict[bytes, tuple[Sequence[int], Sequence[int]]] = {}
        for prompt, response in sequences:
            digest = sequence_digest(prompt, response)
            if digest in self.values:
                shard = self.values[digest][2]
                report.reused[shard] = self.shard_seconds.get(shard, 0.0)
            else:
                missing.setdefault(digest, (prompt, response))
        if not missing:
            return report
        started = time.perf_counter()
        # Sequences of one length share a forward, unpadded: a row's value is then a function of
        # that sequence alone, bit for bit, whatever else shares its batch (row-wise kernels, MKL's
        # GEMM on its pinned reproducible branch; tests/engine/test_reference_cache.py checks it
        # against one sequence per forward). Padding would change the matrix shapes and so the
        # last bits, making the store depend on which run or table filled it.
        by_length: dict[int, list[bytes]] = {}
        for digest, (prompt, response) in missing.items():
            by_length.setdefault(len(prompt) + len(response), []).append(digest)
        keys = [digest for length in sorted(by_length) for digest in by_length[length]]
        sums = np.zeros(len(keys), dtype=np.float32)
        counts = np.zeros(len(keys), dtype=np.int64)
        start = 0
        with torch.no_grad():  # the caller turned dropout off (FrozenReference.prepare)
            for length in sorted(by_length):
                group = by_length[length]
                for offset in range(0, len(group), FILL_BATCH_ROWS):
                    part = group[offset:offset + FILL_BATCH_ROWS]
                    tokens = collate([missing[d][0] for d in part], [missing[d][1] for d in part],
                                     pad_id)
                    logps = reference.token_logprobs(policy, tokens)
                    sums[start:start + len(part)] = logps.sum(dim=-1).numpy()
                    counts[start:start + len(part)] = \
                        tokens.response_mask[:, 1:].sum(dim=-1).numpy()
                    start += len(part)
        seconds = time.perf_counter() - started
        name = self._write(keys, sums, counts, seconds)
        self.shard_seconds[name] = seconds
        for digest, total, count in zip(keys, sums, counts, strict=True):
            self.values[digest] = (float(total), int(count), name)
        report.computed, report.seconds, report.computed_shards = len(keys), seconds, [name]
        return report

    def _write(self, keys: list[bytes], sums: np.ndarray, counts: np.ndarray,
               seconds: float) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"shard-{uuid.uuid4().hex[:12]}{SHARD_SUFFIX}"
        buffer = io.BytesIO()
        np.savez(buffer, digests=np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(
            len(keys), DIGEST_BYTES), sums=sums, counts=counts, seconds=np.float64(seconds))
        staging = self.folder / f".{name}.{os.getpid()}.tmp"
        staging.write_bytes(buffer.getvalue())
        os.replace(staging, self.folder / name)
        return name

    def sequence_logprobs(self, digests: Sequence[bytes],
                          reduction: Literal["sum", "mean"]) -> torch.Tensor | None:
        """The stored log-probs of these sequences, reduced as a batch's forward would be; None
        when one is missing."""
        try:
            found = [self.values[d] for d in digests]
        except KeyError:
            return None
        total = torch.tensor([v[0] for v in found], dtype=torch.float32)
        if reduction == "sum":
            return total
        count = torch.tensor([v[1] for v in found], dtype=torch.long)
        return total / count.clamp(min=1)  # as :func:`~mobench.engine.logprobs.reduce_sequence`
