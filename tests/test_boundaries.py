"""The architecture's boundaries, checked on the source: task knowledge stays in tasks/, no task
imports another, no method imports another, and mobench's layers hold (the import-linter contract
of pyproject.toml, run by tests/layers.py, which fails on an upward import or a cycle)."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest
from layers import check_layers

from mobench.core import registry

ROOT = Path(__file__).resolve().parents[1]


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def string_literals(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                       ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_registered_task_name_is_written_in_methods_or_the_harness():
    builtin_tasks = {entry.name for entry in registry.tasks.entries()
                     if entry.target.__module__.startswith("mobench.tasks")}
    assert {"hh", "hhc", "chat3", "chat10", "hh-rlhf"} <= builtin_tasks
    offenders = []
    for folder in (ROOT / "methods", ROOT / "mobench"):
        for path in python_files(folder):
            found = string_literals(path) & builtin_tasks
            if found:
                offenders.append(f"{path.relative_to(ROOT)}: {sorted(found)}")
    assert not offenders, "task names outside tasks/:\n" + "\n".join(offenders)


def test_no_task_imports_another_task():
    offenders = []
    for task_folder in sorted(p for p in (ROOT / "tasks").iterdir() if p.is_dir()
                              and (p / "__init__.py").exists()):
        own = f"mobench.tasks.{task_folder.name}"
        for path in python_files(task_folder):
            others = {m for m in imported_modules(path)
                      if m.startswith("mobench.tasks.") and not m.startswith(own)}
            if others:
                offenders.append(f"{path.relative_to(ROOT)}: {sorted(others)}")
    assert not offenders, "\n".join(offenders)


def test_no_method_imports_another_method():
    offenders = []
    for path in python_files(ROOT / "methods"):
        own = f"mobench.methods.{path.stem}"
        others = {m for m in imported_modules(path)
                  if m.startswith("mobench.methods") and m != own}
        if others:
            offenders.append(f"{path.relative_to(ROOT)}: {sorted(others)}")
    assert not offenders, "\n".join(offenders)


def test_the_layer_contract_holds():
    result = check_layers(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout, result.stdout


# (file, the line appended to it, what the contract must then report)
BAD_IMPORTS = [
    ("mobench/core/errors.py", "import mobench.run.runner",
     ["mobench.core is not allowed to import mobench.run",
      "mobench.core.errors -> mobench.run.runner"]),
    ("mobench/toolkit/grids.py", "from mobench.methods import base",
     ["mobench.toolkit is not allowed to import mobench.methods",
      "mobench.toolkit.grids -> mobench.methods.base"]),
    ("methods/base.py", "import mobench.tasks.hh",
     ["mobench.methods is not allowed to import mobench.tasks",
      "mobench.methods.base -> mobench.tasks.hh"]),
    ("tasks/hh/__init__.py", "import mobench.leaderboard",
     ["mobench.tasks is not allowed to import mobench.leaderboard",
      "mobench.tasks.hh -> mobench.leaderboard"]),
    ("methods/mod.py", "import mobench.methods.rewarded_soups",
     ["mobench.methods.mod is not allowed to import mobench.methods.rewarded_soups"]),
    ("mobench/cli/leaderboard.py", "from mobench.cli.main import main",
     ["No cycles are allowed in mobench.cli", ".main -> .leaderboard"]),
]


@pytest.mark.parametrize(("path", "line", "expected"), BAD_IMPORTS,
                         ids=[path for path, _, _ in BAD_IMPORTS])
def test_a_deliberate_bad_import_breaks_the_contract(tmp_path, path, line, expected):
    for folder in ("mobench", "methods", "tasks"):
        shutil.copytree(ROOT / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with open(tmp_path / path, "a", encoding="utf-8") as file:
        file.write(f"\n{line}  # deliberately against the layers\n")
    result = check_layers(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    for text in expected:
        assert text in result.stdout, result.stdout
