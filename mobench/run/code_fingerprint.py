"""The source a run ran: which modules of mobench, methods, tasks (and of a plugin's method or
task) it had loaded, and a digest of their files.

A run records both in ``spec.json`` when it finishes (:func:`loaded_code`). Whether a recorded run
would still come out the same is then a question about files, not commits
(:func:`code_unchanged`): the regeneration reruns only runs whose recorded modules changed, and a
leaderboard change that touches no module a run loaded leaves its committed results standing.

Left out on purpose: the CLI and the leaderboard, which choose which runs are made and show them
but compute nothing inside one (what they pass in is in the run's identity), the sweep driver,
and the record keeping (this module, provenance, published results), which writes down where a
run came from and reads results back but computes no number of it. So is the check of a finished
run's files (:mod:`mobench.run.artifacts`): it reads and judges them, computes no number, and when
they are damaged removes the derived ones for the unchanged runner to recompute.
A module that is added to a run's imports must be imported by a module the run already loads, so
a recorded list that still hashes the same cannot miss it (a plugin registered through an entry
point is the exception: its module is recorded once loaded, since it defines the method or task).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

TRACKED_PACKAGES = ("mobench", "methods", "tasks")
METHODS_PACKAGE, TASKS_PACKAGE = "mobench.methods", "mobench.tasks"
UNTRACKED_PREFIXES = ("mobench.cli", "mobench.leaderboard", "mobench.run.sweep",
                      "mobench.run.code_fingerprint", "mobench.run.provenance",
                      "mobench.run.published", "mobench.run.artifacts")


def _is_tracked(name: str, extra: Sequence[str]) -> bool:
    if any(name == p or name.startswith(p + ".") for p in UNTRACKED_PREFIXES):
        return False
    top = name.partition(".")[0]
    return top in TRACKED_PACKAGES or any(name == e or name.startswith(e + ".") for e in extra)


def _source_root(module_name: str, file: Path) -> Path:
    """The folder a module's dotted name is relative to (its top package's parent)."""
    depth = module_name.count(".") + (1 if file.name == "__init__.py" else 0)
    return file.parents[depth]


def _another_methods_or_tasks(name: str, own: Sequence[str]) -> bool:
    """Whether ``name`` is a built-in method or task module other than the run's own (``own``:
    its method's module, its task's package) or their parents."""
    for package in (METHODS_PACKAGE, TASKS_PACKAGE):
        if name.startswith(package + "."):
            return not any(name == o or name.startswith(o + ".") or o.startswith(name + ".")
                           for o in own)
    return False


def loaded_modules(extra_packages: Sequence[str] = (), own: Sequence[str] = ()
                   ) -> dict[str, Path]:
    """Module name -> source file of every tracked module loaded in this process now. With
    ``own`` (the run's method module and task package), the other built-in methods' and tasks'
    modules are left out: a sweep worker has every method of the sweep loaded, but a method
    never reaches into another method, nor a task into another task (mobench's layers), so
    editing one method leaves the other methods' runs current."""
    found: dict[str, Path] = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file or not _is_tracked(name, extra_packages) or not file.endswith(".py"):
            continue
        if own and _another_methods_or_tasks(name, own):
            continue
        found[name] = Path(file).resolve()
    return dict(sorted(found.items()))


def module_file(name: str) -> Path | None:
    """Where module ``name`` lives now (without importing it); None if it is gone."""
    from importlib.util import find_spec

    try:
        spec = find_spec(name)
    except (ImportError, ValueError):
        return None
    origin = getattr(spec, "origin", None)
    return Path(origin).resolve() if origin and origin.endswith(".py") else None


def digest_of(modules: Mapping[str, Path | None]) -> str:
    """SHA-256 over each module's name and file bytes, in name order (a missing file counts)."""
    digest = hashlib.sha256()
    for name in sorted(modules):
        path = modules[name]
        digest.update(name.encode() + b"\0")
        if path is None or not path.is_file():
            digest.update(b"<missing>")
        else:
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def loaded_code(extra_packages: Sequence[str] = (),
                earlier: Mapping[str, Any] | None = None, own: Sequence[str] = ()
                ) -> dict[str, Any]:
    """What ``spec.json`` records: the loaded modules' names and their digest (``own``: see
    :func:`loaded_modules`). A resumed run adds the modules of its earlier legs (``earlier``), so
    that training modules a resumed evaluation never imports stay covered."""
    modules = loaded_modules(extra_packages, own)
    names = set(modules) | set((earlier or {}).get("modules", ()))
    files = {name: modules.get(name) or module_file(name) for name in names}
    return {"modules": sorted(names), "digest": digest_of(files)}


def current_digest(names: Iterable[str]) -> str:
    """The digest the modules ``names`` have now, as :func:`loaded_code` computes it."""
    return digest_of({name: module_file(name) for name in names})


def code_unchanged(recorded: Mapping[str, Any] | None) -> bool:
    """Whether the modules a run recorded hash the same today (False for a run that recorded
    none: an older run, which cannot be told current)."""
    if not recorded or not recorded.get("modules") or not recorded.get("digest"):
        return False
    return current_digest(recorded["modules"]) == recorded["digest"]
