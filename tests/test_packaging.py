"""Layout: methods/ and tasks/ install as mobench.methods and mobench.tasks, nothing top-level;
mobench re-exports the contracts a plugin needs."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_methods_and_tasks_are_namespaced_subpackages():
    methods = importlib.import_module("mobench.methods")
    tasks = importlib.import_module("mobench.tasks")
    assert Path(methods.__file__).parent == ROOT / "methods"
    assert Path(tasks.__file__).parent == ROOT / "tasks"


def test_every_package_folder_is_declared():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    declared = set(config["packages"])
    mapping = config["package-dir"]
    found = set()
    for name, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *rel.parts]))
    assert found == declared


def test_builtin_entry_points_resolve():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    for group in ("mobench.methods", "mobench.tasks"):
        for name, target in config[group].items():
            module, _, attr = target.partition(":")
            assert module.startswith("mobench."), f"{name}: {target} is not namespaced"
            assert getattr(importlib.import_module(module), attr).name == name


def test_mobench_reexports_the_plugin_contracts_and_imports_them_lazily():
    import mobench

    for name in mobench.__all__:
        if name == "__version__":
            continue
        module = importlib.import_module(mobench._EXPORTS[name])
        want = module if name == "registry" else getattr(module, name)
        assert getattr(mobench, name) is want, name
    # cheap: no torch, and of mobench only what pins the CPU kernels before torch starts
    cheap = subprocess.run([sys.executable, "-c", "import sys, mobench; "
                            "print(sorted(m for m in sys.modules if m.startswith(('torch', "
                            "'mobench.'))))"], capture_output=True, text=True, check=True)
    assert cheap.stdout.strip() == str(["mobench.core", "mobench.core.errors",
                                        "mobench.core.threads"]), cheap.stdout
