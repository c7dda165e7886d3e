"""Loading a run's saved policy and its cost record, with one line naming what is damaged.

A policy folder is written in one rename, so it is whole when training ends; it can still be
damaged afterwards (a disk error, a copy cut short, a hand edit). Loading it then fails deep inside
safetensors, peft or json; here the folder's files are checked first (every ``.safetensors``
header and every ``.json`` file), so the message names the file, and any other loading error is
reported in one line too. Either way the message says how to recover: the policy is rebuilt from
the training checkpoints that ``work/`` keeps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from mobench.core import store
from mobench.core.errors import MobenchError, RunFolderError
from mobench.core.specs import CostRecord
from mobench.data.sources import one_line

if TYPE_CHECKING:
    from mobench.core.method import FitContext, Method
    from mobench.core.policy import SteerablePolicy


def recovery_hint(run_folder: Path) -> str:
    """How to rebuild a damaged policy of the run in ``run_folder``."""
    policy = run_folder / store.POLICY_DIR
    return (f"to rebuild it, remove {str(policy)!r} and rerun this run's `mobench run ... "
            f"--output {run_folder} --resume` (training continues from its last checkpoint in "
            f"{str(run_folder / store.WORK_DIR)!r})")


def damaged_policy_file(directory: Path) -> str | None:
    """The first file of a policy folder that cannot be read, and why; None when all can."""
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        if path.suffix == ".safetensors":
            problem = _safetensors_problem(path)
        elif path.suffix == ".json":
            problem = _json_problem(path)
        else:
            continue
        if problem:
            return f"{str(path)!r} {problem}"
    return None


def _safetensors_problem(path: Path) -> str | None:
    from safetensors import SafetensorError, safe_open

    try:  # the header names every tensor's byte range: a truncated file fails here, cheaply
        with safe_open(str(path), framework="pt") as handle:
            handle.keys()
    except (SafetensorError, OSError) as error:
        return f"is not a readable safetensors file ({one_line(str(error))})"
    return None


def _json_problem(path: Path) -> str | None:
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        return f"cannot be read ({error})"
    except ValueError as error:
        return f"is not valid JSON ({error})"
    return None


def load_saved_policy(method: Method, run_folder: Path, context: FitContext) -> SteerablePolicy:
    """``method.load_policy`` on the run's ``policy/`` folder, or one line saying what is wrong
    and how to recover."""
    directory = run_folder / store.POLICY_DIR
    damaged = damaged_policy_file(directory)
    if damaged:
        raise RunFolderError(f"the trained policy is damaged: {damaged}; "
                             f"{recovery_hint(run_folder)}")
    try:
        return method.load_policy(directory, context)
    except MobenchError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as error:
        raise RunFolderError(f"cannot load the trained policy in {str(directory)!r} "
                             f"({type(error).__name__}: {one_line(str(error))}); "
                             f"{recovery_hint(run_folder)}") from None


def read_cost_record(run_folder: Path) -> CostRecord:
    """The cost record saved with the run's policy, or one line saying it is damaged."""
    path = run_folder / store.POLICY_DIR / store.COST_FILE
    saved = store.read_json(path)
    try:
        return CostRecord(**saved)
    except TypeError:
        raise RunFolderError(f"{str(path)!r} is not a cost record; "
                             f"{recovery_hint(run_folder)}") from None
