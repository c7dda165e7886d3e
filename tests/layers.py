"""The layer contract of ``[tool.importlinter]`` in pyproject.toml, checked on the whole harness.

methods/ and tasks/ live at the top of the repository but install as ``mobench.methods`` and
``mobench.tasks``; an import graph built from mobench/'s folder does not see them. So the check
stages a copy of the Python files laid out as installed (mobench/, with methods/ and tasks/ as
mobench/methods and mobench/tasks) and runs import-linter on it, in a separate process whose
``mobench`` is the staged one. ``python tests/layers.py [ROOT]`` runs it (CI: .ci/run).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Where each installed package's sources live, relative to the repository root.
LAYOUT = {"mobench": "mobench", "mobench/methods": "methods", "mobench/tasks": "tasks"}
LINT = ("import sys; from importlinter.cli import lint_imports_command; "
        "sys.exit(lint_imports_command())")


def stage(root: Path, into: Path) -> Path:
    """Copy root's sources into ``into`` laid out as installed; returns ``into``."""
    for installed, folder in LAYOUT.items():
        shutil.copytree(root / folder, into / installed, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return into


def check_layers(root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run the contract of root/pyproject.toml on root's tree; returncode 0 when it is kept."""
    with tempfile.TemporaryDirectory(prefix="mobench-layers-") as tmp:
        staged = stage(root, Path(tmp))
        return subprocess.run([sys.executable, "-c", LINT, "--no-cache", "--no-logo",
                               str(root / "pyproject.toml")],
                              cwd=staged, capture_output=True, text=True, check=False)


def main(argv: list[str]) -> int:
    result = check_layers(Path(argv[0]).resolve() if argv else ROOT)
    print(result.stdout, end="")
    print(result.stderr, end="", file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
