"""Apply each curated mutation (``mutants.py``) in a scratch copy of the tree, run the CI checks
that should catch it, and print the detection matrix.

    python tests/mutations/run.py [--only NAME ...] [--cheap] [--keep DIR] [--list]

The scratch workspace is built once: the working tree's files (``git ls-files -co
--exclude-standard``, so uncommitted changes are included), and a copy of the current virtual
environment with mobench installed from the workspace in editable mode (``mobench.methods`` and
``mobench.tasks`` come from an import finder, so ``PYTHONPATH`` would not do). Every check first
runs unmutated (it must pass; a check that fails without the mutation is reported as such, never
as a catch); then each mutation is applied alone, its checks run with ``python -m pytest -q -x``
(``CI=true``, one ``MOBENCH_CACHE`` for the whole run), and the file is restored. Nothing in the
repository itself is touched.

The matrix is a Markdown table (caught / missed / ``-`` where a check is not one of the mutation's,
``fails unmutated`` where the check fails on the clean tree), followed by "N of M mutations
caught". The exit status is 1 when some mutation is caught by none of its checks, 2 when the list
cannot be applied (a snippet missing or repeated, an unknown name) or the workspace cannot be built.
Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the mutations package

from mutations.mutants import MUTATIONS, REPO, Mutation, by_name  # noqa: E402

CAUGHT, MISSED, BROKEN, TIMEOUT, NOT_RUN = "caught", "missed", "fails unmutated", "timeout", "-"
STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[mutations {time.monotonic() - STARTED:7.1f}s] {message}", file=sys.stderr,
          flush=True)


@dataclass
class Workspace:
    """A scratch copy of the tree and of the virtual environment, mobench installed from it."""

    root: Path  # the temporary folder holding everything
    tree: Path = field(init=False)
    venv: Path = field(init=False)
    cache: Path = field(init=False)

    def __post_init__(self) -> None:
        self.tree = self.root / "tree"
        self.venv = self.root / "venv"
        self.cache = self.root / "cache"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(CI="true", MOBENCH_CACHE=str(self.cache), VIRTUAL_ENV=str(self.venv),
                   PATH=os.pathsep.join([str(self.venv / "bin"), env.get("PATH", "")]))
        for name in ("PYTHONPATH", "PYTHONHOME", "MOBENCH_TEST_KILL"):
            env.pop(name, None)
        return env

    def build(self, source_venv: Path) -> None:
        started = time.monotonic()
        files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                               check=True, capture_output=True).stdout.decode().split("\0")
        copied = 0
        for name in filter(None, files):
            source = REPO / name
            if not source.is_file():  # deleted in the working tree, still in the index
                continue
            target = self.tree / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)
            copied += 1
        log(f"copied {copied} files of the working tree to {self.tree} "
            f"({time.monotonic() - started:.1f}s)")
        started = time.monotonic()
        subprocess.run(["cp", "-a", str(source_venv), str(self.venv)], check=True)
        log(f"copied the virtual environment {source_venv} ({time.monotonic() - started:.1f}s)")
        started = time.monotonic()
        subprocess.run([str(self.python), "-m", "pip", "install", "-q", "--no-deps",
                        "--no-build-isolation", "-e", str(self.tree)], cwd=self.root,
                       env=self.env(), check=True)
        log(f"installed mobench from the workspace in editable mode "
            f"({time.monotonic() - started:.1f}s)")
        self.cache.mkdir(exist_ok=True)
        self.check_imports()

    def check_imports(self) -> None:
        """Abort unless mobench, mobench.methods and mobench.tasks import from the workspace."""
        probe = ("import mobench, mobench.methods.base, mobench.tasks;"
                 "print(mobench.__file__); print(mobench.methods.base.__file__);"
                 "print(mobench.tasks.__file__)")
        out = subprocess.run([str(self.python), "-c", probe], cwd=self.root, env=self.env(),
                             check=True, capture_output=True, text=True).stdout.split()
        tree = self.tree.resolve()
        outside = [p for p in out if not Path(p).resolve().is_relative_to(tree)]
        if len(out) != 3 or outside:
            raise RuntimeError(f"the workspace's python imports mobench from {outside or out}, "
                               f"not from {tree}; refusing to run the mutations")
        log(f"mobench.methods.base imports from {out[1]}")

    def pytest(self, checks: Sequence[str], timeout: float,
               *options: str) -> tuple[str, float, str]:
        """Run ``checks`` in the workspace: (outcome, seconds, output). A non-zero exit is
        ``caught`` (a check failed), zero is ``missed``."""
        started = time.monotonic()
        command = [str(self.python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *options,
                   *checks]
        try:
            result = subprocess.run(command, cwd=self.tree, env=self.env(), timeout=timeout,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        except subprocess.TimeoutExpired:
            return TIMEOUT, time.monotonic() - started, ""
        seconds = time.monotonic() - started
        if result.returncode != 0:
            tail = [line for line in result.stdout.splitlines() if line.strip()][-1:]
            log(f"  exit {result.returncode}: {tail[0] if tail else '(no output)'}")
        return (CAUGHT if result.returncode != 0 else MISSED), seconds, result.stdout


def drop_bytecode(path: Path) -> None:
    """Remove ``path``'s compiled bytecode, so the next import reads the source as it is now
    (a restored file can share its mutant's size and modification second)."""
    cache = path.parent / "__pycache__"
    for compiled in cache.glob(f"{path.stem}.*.pyc"):
        compiled.unlink(missing_ok=True)


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    drop_bytecode(path)


def distinct_checks(mutations: Sequence[Mutation]) -> list[str]:
    out: list[str] = []
    for mutation in mutations:
        out += [c for c in mutation.checks if c not in out]
    return out


def baseline(workspace: Workspace, checks: list[str], timeout: float) -> set[str]:
    """The checks that fail on the unmutated tree: all in one pytest call, its failures read from
    the short summary (one by one where that does not tell)."""
    log(f"running the {len(checks)} checks unmutated")
    outcome, seconds, output = workspace.pytest(checks, timeout, "-rfE")
    log(f"unmutated: {'every check passes' if outcome == MISSED else outcome} ({seconds:.1f}s)")
    if outcome == MISSED:
        return set()
    failed = [line.split()[1] for line in output.splitlines()
              if line.startswith(("FAILED ", "ERROR ")) and len(line.split()) > 1]
    broken = {c for c in checks for f in failed
              if f == c or f.startswith((f"{c}::", f"{c}["))}
    if not broken:  # a collection error, a crash, a timeout: try each check alone
        for check in checks:
            if workspace.pytest([check], timeout, "-x")[0] != MISSED:
                broken.add(check)
    for check in checks:
        if check in broken:
            log(f"FAILS WITHOUT ANY MUTATION: {check}")
    return broken


def run_mutation(workspace: Workspace, mutation: Mutation, broken: set[str],
                 timeout: float) -> dict[str, str]:
    target = workspace.tree / mutation.path
    original = target.read_text(encoding="utf-8")
    cells: dict[str, str] = {}
    write(target, mutation.mutate(original))
    try:
        for check in mutation.checks:
            if check in broken:
                cells[check] = BROKEN
                continue
            outcome, seconds, _ = workspace.pytest([check], timeout, "-x")
            cells[check] = outcome
            log(f"{mutation.name}: {outcome} by {check} ({seconds:.1f}s)")
    finally:
        write(target, original)
    return cells


def matrix(mutations: Sequence[Mutation], checks: list[str],
           results: dict[str, dict[str, str]]) -> str:
    lines = ["| mutation | " + " | ".join(f"`{c}`" for c in checks) + " |",
             "|---|" + "---|" * len(checks)]
    for mutation in mutations:
        cells = [results[mutation.name].get(c, NOT_RUN) for c in checks]
        lines.append(f"| {mutation.name} | " + " | ".join(cells) + " |")
    caught = sum(CAUGHT in results[m.name].values() for m in mutations)
    lines += ["", f"{caught} of {len(mutations)} mutations caught"]
    return "\n".join(lines)


def source_venv() -> Path:
    if sys.prefix == sys.base_prefix:
        raise RuntimeError("run this with a virtual environment's python (the one with "
                           "mobench installed); it is copied into the workspace")
    return Path(sys.prefix)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", metavar="NAME", default=None,
                        help="run only these mutations")
    parser.add_argument("--cheap", action="store_true",
                        help="only the mutations whose checks are fast unit tests (CI's part)")
    parser.add_argument("--keep", type=Path, metavar="DIR", default=None,
                        help="build the workspace in DIR (empty or new) and keep it")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds one pytest call may take (default 1800)")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        mutations = by_name(args.only) if args.only else list(MUTATIONS)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.cheap:
        mutations = [m for m in mutations if m.cheap]
    if args.list:
        for m in mutations:
            print(f"{m.name:32} {'cheap' if m.cheap else 'full '} {m.path}: {m.description}")
        return 0
    problems = [f"{m.name}: {p}" for m in mutations for p in m.problems()]
    if problems:
        print("error: the mutation list does not apply to this tree:\n  "
              + "\n  ".join(problems), file=sys.stderr)
        return 2
    if not mutations:
        print("error: no mutation selected", file=sys.stderr)
        return 2

    if args.keep is not None:
        if args.keep.exists() and any(args.keep.iterdir()):
            print(f"error: --keep {args.keep} is not empty", file=sys.stderr)
            return 2
        args.keep.mkdir(parents=True, exist_ok=True)
        root = args.keep.resolve()
    else:
        root = Path(tempfile.mkdtemp(prefix="mobench-mutations-"))
    workspace = Workspace(root)
    try:
        try:
            workspace.build(source_venv())
        except (RuntimeError, subprocess.CalledProcessError) as error:
            print(f"error: could not build the workspace: {error}", file=sys.stderr)
            return 2
        checks = distinct_checks(mutations)
        broken = baseline(workspace, checks, args.timeout)
        results = {}
        for index, mutation in enumerate(mutations, 1):
            log(f"[{index}/{len(mutations)}] {mutation.name} in {mutation.path}")
            results[mutation.name] = run_mutation(workspace, mutation, broken, args.timeout)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
        else:
            log(f"kept the workspace in {root}")
    print(matrix(mutations, checks, results))
    if broken:
        print("checks that fail without any mutation (fix them first): "
              + ", ".join(c for c in checks if c in broken))
    missed = [m.name for m in mutations if CAUGHT not in results[m.name].values()]
    if missed:
        print(f"caught by none of their checks: {', '.join(missed)}")
    log(f"done in {time.monotonic() - STARTED:.1f}s")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
