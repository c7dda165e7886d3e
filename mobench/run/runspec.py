"""Resolving what a run is: names, config file and overrides into a
:class:`~mobench.core.specs.RunSpec`, its identity (what must match for ``--resume``), its id and
folder, and reading a saved one back.

Nothing here loads a model or writes a file: a bad name or config fails with one line before any
work starts.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mobench.core import registry, store
from mobench.core.config import build_dataclass, load_yaml_file, merge, parse_overrides, to_plain
from mobench.core.errors import ConfigError, RunFolderError, UnknownNameError
from mobench.core.specs import SCALES, EvaluationConfig, RunSpec, TaskSpec, check_seed
from mobench.core.task import Task

TOP_LEVEL_KEYS = ("method", "task", "eval", "seed", "scale")
DEVICES = ("auto", "cpu", "cuda")


def default_cache_dir() -> Path:
    """``$MOBENCH_CACHE``, else ``$XDG_CACHE_HOME/mobench``, else ``~/.cache/mobench``."""
    if os.environ.get("MOBENCH_CACHE"):
        return Path(os.environ["MOBENCH_CACHE"])
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "mobench"


def resolve_run_spec(method: str, task: str, *, scale: str | None = None, seed: int | None = None,
                     config_file: str | Path | None = None,
                     overrides: Sequence[str] = ()) -> RunSpec:
    """Resolve names, config file and overrides into a :class:`RunSpec`, or fail with one line.

    Precedence, lowest first: dataclass defaults, the config file, ``key=value`` overrides, the
    explicit ``--scale`` / ``--seed`` flags.
    """
    method_cls = registry.methods.get(method)
    task_cls = registry.tasks.get(task)
    data: dict[str, Any] = load_yaml_file(config_file) if config_file else {}
    data = merge(data, parse_overrides(list(overrides)))
    unknown = [k for k in data if k not in TOP_LEVEL_KEYS]
    if unknown:
        raise UnknownNameError(f"unknown config key {unknown[0]!r}. Valid top-level keys: "
                               f"{', '.join(TOP_LEVEL_KEYS)} (e.g. method.train.steps=200).")
    resolved_scale = scale or data.get("scale") or "tiny"
    if resolved_scale not in SCALES:
        raise ConfigError(f"unknown scale {resolved_scale!r}; choose one of {', '.join(SCALES)}")
    if resolved_scale not in task_cls.scales:
        raise ConfigError(f"task {task!r} has no {resolved_scale!r} scale; it offers "
                          f"{', '.join(task_cls.scales)}")
    resolved_seed = check_seed(seed if seed is not None else data.get("seed", 0))
    for section in ("method", "task", "eval"):
        if section in data and not isinstance(data[section], Mapping):
            raise ConfigError(f"config section {section!r} must be a mapping of keys to values")
    spec = RunSpec(
        method=method, task=task, scale=resolved_scale, seed=resolved_seed,
        method_config=build_dataclass(method_cls.config_class, data.get("method"), "method"),
        task_config=build_dataclass(task_cls.config_class, data.get("task"), "task"),
        evaluation=build_dataclass(EvaluationConfig, data.get("eval"), "eval"),
    )
    task_spec(spec)  # a task that cannot state its spec fails now, before anything is written
    return spec


def task_spec(spec: RunSpec) -> TaskSpec:
    task: Task = registry.tasks.get(spec.task)(spec.task_config)
    return task.spec(spec.scale)


def run_identity(spec: RunSpec) -> dict[str, Any]:
    """The part of a spec that must match for ``--resume`` to continue a run."""
    return {"method": spec.method, "task": spec.task, "scale": spec.scale, "seed": spec.seed,
            "method_config": to_plain(spec.method_config),
            "task_config": to_plain(spec.task_config),
            "eval": to_plain(spec.evaluation)}


def run_id(spec: RunSpec) -> str:
    digest = hashlib.sha256(json.dumps(run_identity(spec), sort_keys=True).encode()).hexdigest()
    return f"{spec.scale}-seed{spec.seed}-{digest[:8]}"


def default_run_folder(spec: RunSpec, root: Path = Path("runs")) -> Path:
    return root / spec.task / spec.method / run_id(spec)


def resolve_device(choice: str, scale: str) -> str:
    """``auto``: CUDA for the paper scale when a GPU is present, else (and at tiny scale, whose
    models gain nothing from a GPU and whose numbers are pinned on CPU) the CPU."""
    if choice not in DEVICES:
        raise ConfigError(f"unknown device {choice!r}; choose {', '.join(DEVICES)}")
    import torch

    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but torch sees no CUDA device")
    if choice == "auto":
        return "cuda" if scale == "paper" and torch.cuda.is_available() else "cpu"
    return choice


def spec_from_identity(identity: Mapping[str, Any], where: str) -> RunSpec:
    """Rebuild a :class:`RunSpec` from a saved identity (JSON and dataclasses only)."""
    try:
        method_cls = registry.methods.get(identity["method"])
        task_cls = registry.tasks.get(identity["task"])
        return RunSpec(
            method=identity["method"], task=identity["task"], scale=identity["scale"],
            seed=int(identity["seed"]),
            method_config=build_dataclass(method_cls.config_class, identity["method_config"],
                                          "method"),
            task_config=build_dataclass(task_cls.config_class, identity["task_config"], "task"),
            evaluation=build_dataclass(EvaluationConfig, identity["eval"], "eval"))
    except KeyError as error:
        raise RunFolderError(f"{where}: spec.json lacks {error}") from None


def load_run(folder: Path) -> tuple[RunSpec, dict[str, Any]]:
    """Read a finished-training run folder's spec back into a :class:`RunSpec`."""
    if not (folder / store.SPEC_FILE).exists():
        raise RunFolderError(f"{str(folder)!r} is not a mobench run folder (no spec.json)")
    saved = store.read_json(folder / store.SPEC_FILE)
    spec = spec_from_identity(saved.get("identity") or {}, repr(str(folder)))
    if not (folder / store.POLICY_DIR / store.COST_FILE).exists():
        raise RunFolderError(f"{str(folder)!r} holds no trained policy yet; finish it with "
                             "`mobench run ... --resume`")
    return spec, saved
