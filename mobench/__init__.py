"""mobench: a benchmark suite for multi-objective alignment (MOA) of language models.

The harness lives here, in layers; a layer imports only the layers below it (CI checks it with
import-linter: ``[tool.importlinter]`` in pyproject.toml):

1. :mod:`mobench.cli`: the ``mobench`` command.
2. :mod:`mobench.leaderboard`: leaderboards and regression checks from run folders.
3. :mod:`mobench.run`: the run flow (one evaluation protocol for every method), sweeps, exports.
4. ``mobench.methods`` | ``mobench.tasks``: one module per method, one package per task
   (``methods/`` and ``tasks/`` at the top of the repository); neither imports the other.
5. :mod:`mobench.toolkit`: the parts methods are composed of.
6. :mod:`mobench.data`: data sources, models and reward models, miniature worlds, task assets.
7. :mod:`mobench.engine` | :mod:`mobench.adapters`: the training engine; adapters on a base model.
8. :mod:`mobench.metrics` | :mod:`mobench.core`: Pareto metrics; the contracts (specs, the method,
   policy and task protocols, the registry) and what every layer stands on.

A plugin finds the contracts here: ``from mobench import Method, FitContext, TaskSpec`` and
``mobench.registry``. They load on first use, so ``import mobench`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Before anything imports torch: the same CPU kernels on every x86-64 machine (mobench.core.threads
# says why). mobench.core.threads imports nothing heavy.
from mobench.core.threads import pin_cpu_kernels as _pin_cpu_kernels  # noqa: E402

_pin_cpu_kernels()

# Re-exported name -> the module that defines it ("registry" is the module itself).
_EXPORTS = {
    "Method": "mobench.core.method",
    "FitContext": "mobench.core.method",
    "SteerablePolicy": "mobench.core.policy",
    "Generation": "mobench.core.policy",
    "generate_texts": "mobench.core.policy",
    "derive_seed": "mobench.core.policy",
    "Task": "mobench.core.task",
    "TaskInstance": "mobench.core.task",
    "TaskData": "mobench.core.task",
    "Scorer": "mobench.core.task",
    "check_scale": "mobench.core.task",
    "Objective": "mobench.core.specs",
    "DecodingConfig": "mobench.core.specs",
    "EvaluationConfig": "mobench.core.specs",
    "TrainingSpec": "mobench.core.specs",
    "TaskSpec": "mobench.core.specs",
    "CostRecord": "mobench.core.specs",
    "RunSpec": "mobench.core.specs",
    "MobenchError": "mobench.core.errors",
    "ConfigError": "mobench.core.errors",
    "RunFolderError": "mobench.core.errors",
    "registry": "mobench.core.registry",
}

__all__ = [
    "__version__", "Method", "FitContext", "SteerablePolicy", "Generation", "generate_texts",
    "derive_seed", "Task", "TaskInstance", "TaskData", "Scorer", "check_scale", "Objective",
    "DecodingConfig", "EvaluationConfig", "TrainingSpec", "TaskSpec", "CostRecord", "RunSpec",
    "MobenchError", "ConfigError", "RunFolderError", "registry",
]

if TYPE_CHECKING:
    from mobench.core import registry
    from mobench.core.errors import ConfigError, MobenchError, RunFolderError
    from mobench.core.method import FitContext, Method
    from mobench.core.policy import Generation, SteerablePolicy, derive_seed, generate_texts
    from mobench.core.specs import (
        CostRecord,
        DecodingConfig,
        EvaluationConfig,
        Objective,
        RunSpec,
        TaskSpec,
        TrainingSpec,
    )
    from mobench.core.task import Scorer, Task, TaskData, TaskInstance, check_scale


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mobench' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    value = module if name == "registry" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
