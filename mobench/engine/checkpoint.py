"""Checkpoint files: trainable weights (safetensors), optimizer and RNG states (tensors and plain
containers only, read back with ``torch.load(weights_only=True)``), trainer state (JSON).

A checkpoint is a folder ``checkpoints/step-NNNNNNNN`` under the run's work dir, written into a
temporary sibling and renamed into place, so a folder with that name is always complete; the
latest one is the highest step. One can still be damaged later (a disk error, a copy cut short):
:func:`checkpoint_problem` reads every file of one without applying anything, so the trainer can
fall back to an older checkpoint, or start over, before it has touched the model.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

CHECKPOINTS_DIR = "checkpoints"
WEIGHTS_FILE = "trainable.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
STATE_FILE = "trainer_state.json"
_STEP_DIR = re.compile(r"^step-(\d{8})$")


def checkpoint_dir(work_dir: Path, step: int) -> Path:
    return work_dir / CHECKPOINTS_DIR / f"step-{step:08d}"


def latest_checkpoint(work_dir: Path) -> Path | None:
    """The complete checkpoint of the highest step, or ``None``."""
    root = work_dir / CHECKPOINTS_DIR
    if not root.is_dir():
        return None
    steps = sorted(int(m.group(1)) for p in root.iterdir() if (m := _STEP_DIR.match(p.name)))
    return checkpoint_dir(work_dir, steps[-1]) if steps else None


def checkpoints_newest_first(work_dir: Path) -> list[Path]:
    """Every checkpoint folder of ``work_dir``, the highest step first."""
    root = work_dir / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    steps = sorted((int(m.group(1)) for p in root.iterdir() if (m := _STEP_DIR.match(p.name))),
                   reverse=True)
    return [checkpoint_dir(work_dir, step) for step in steps]


def checkpoint_problem(folder: Path, deepspeed_dir: str) -> str | None:
    """Why the checkpoint in ``folder`` cannot be resumed from (which file is missing or cannot
    be read), or None. Reads the trainer state, every rank's RNG state and, for the plain path,
    the weights and optimizer files; a DeepSpeed engine's own files (``deepspeed_dir``) are left
    to DeepSpeed."""
    current = folder / STATE_FILE
    try:
        state = read_state(current)
        ranks = int(state["world_size"])
        int(state["step"])
        for rank in range(ranks):
            current = folder / f"rng-rank{rank}.pt"
            load_tensors(current)
        if not (folder / deepspeed_dir).is_dir():
            current = folder / WEIGHTS_FILE
            load_file(str(current))
            current = folder / OPTIMIZER_FILE
            load_tensors(current)
    except FileNotFoundError:
        return f"{current.name} is missing"
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, EOFError,
            SafetensorError) as error:
        return f"{current.name} cannot be read ({type(error).__name__}: " + \
            " ".join(str(error).split())[:160] + ")"
    return None


def set_aside(folder: Path) -> Path:
    """Rename a damaged checkpoint out of the way (``step-N.damaged``): kept for inspection, no
    longer a checkpoint."""
    aside = folder.with_name(folder.name + ".damaged")
    shutil.rmtree(aside, ignore_errors=True)
    folder.replace(aside)
    return aside


def prune_checkpoints(work_dir: Path, keep: int) -> None:
    """Delete all but the ``keep`` latest checkpoints."""
    root = work_dir / CHECKPOINTS_DIR
    steps = sorted(p for p in root.iterdir() if _STEP_DIR.match(p.name))
    for old in steps[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def save_trainable(model: torch.nn.Module, path: Path) -> None:
    """The parameters that train (``requires_grad``), by name; frozen weights are the model's own
    initialization and are rebuilt by whoever builds the model."""
    tensors = {name: p.detach().cpu().contiguous()
               for name, p in model.named_parameters() if p.requires_grad}
    save_file(tensors, str(path))


def load_trainable(model: torch.nn.Module, path: Path) -> None:
    saved = load_file(str(path))
    params = dict(model.named_parameters())
    expected = {n for n, p in params.items() if p.requires_grad}
    if set(saved) != expected:
        raise ValueError(f"checkpoint {str(path)!r} holds other trainable parameters than the "
                         f"model: missing {sorted(expected - set(saved))[:5]}, unexpected "
                         f"{sorted(set(saved) - expected)[:5]}")
    with torch.no_grad():
        for name, tensor in saved.items():
            params[name].copy_(tensor)


def rng_state() -> dict[str, Any]:
    """torch (CPU and CUDA), numpy and python generator states as tensors and numbers."""
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"name": np_name, "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
                  "pos": int(np_pos), "has_gauss": int(np_has_gauss),
                  "cached_gaussian": float(np_gauss)},
        "python": {"version": py_version, "state": torch.tensor(py_state, dtype=torch.int64),
                   "gauss": py_gauss},
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np_state = state["numpy"]
    np.random.set_state((np_state["name"], np_state["keys"].numpy().astype(np.uint32),
                         np_state["pos"], np_state["has_gauss"], np_state["cached_gaussian"]))
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"].tolist()), py["gauss"]))


def save_tensors(obj: Any, path: Path) -> None:
    """``torch.save`` of tensors in plain containers (dicts, lists, numbers, strings)."""
    torch.save(obj, path)


def load_tensors(path: Path) -> Any:
    """Read what :func:`save_tensors` wrote; refuses anything but tensors and plain containers."""
    return torch.load(path, map_location="cpu", weights_only=True)


def write_state(path: Path, state: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(state, indent=2, allow_nan=False) + "\n")


def read_state(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())
