"""The architecture's boundaries, checked on the source: task knowledge stays in tasks/, no task
imports another, no method imports another."""

from __future__ import annotations

import ast
from pathlib import Path

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
