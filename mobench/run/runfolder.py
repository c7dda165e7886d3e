"""Guarding a run folder: it must be empty, or hold this very run when ``--resume`` is given.

The checks run twice: once before the lock is taken (to fail fast, writing nothing) and once under
it (another process may have started the run in between).
"""

from __future__ import annotations

import os
from pathlib import Path

from mobench.core import store
from mobench.core.errors import RunFolderError
from mobench.core.specs import RunSpec
from mobench.run.runspec import run_identity


def check_writable(folder: Path) -> None:
    """Refuse, before anything is written, a folder that cannot be created or written in: one
    under a regular file, on a read-only file system, immutable, or without write permission."""
    ancestor = next((p for p in (folder, *folder.parents) if p.exists()), Path(folder.anchor))
    if not ancestor.is_dir():
        raise RunFolderError(f"cannot create {str(folder)!r}: {str(ancestor)!r} is a file, not "
                             "a folder")
    wanted = os.W_OK | os.X_OK | (os.R_OK if ancestor == folder else 0)
    if not os.access(ancestor, wanted):  # access() also says no for read-only and immutable
        raise RunFolderError(f"cannot write to {str(folder)!r}: {str(ancestor)!r} is not "
                             "writable (permissions, a read-only file system or an immutable "
                             "folder); choose another folder")


def check_run_folder(folder: Path, spec: RunSpec, resume: bool) -> None:
    """Refuse a folder holding another run, or holding this one without ``--resume``, or one
    that cannot be written."""
    spec_file = folder / store.SPEC_FILE
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"output {str(folder)!r} exists and is not a folder")
    check_writable(folder)
    if not spec_file.exists():
        if folder.exists() and any(p.name != store.LOCK_FILE for p in folder.iterdir()):
            raise RunFolderError(f"output folder {str(folder)!r} is not empty and holds no "
                                 "mobench run; choose another --output")
        return
    saved = store.read_json(spec_file).get("identity")
    if not resume:
        raise RunFolderError(f"output folder {str(folder)!r} already holds a run; pass --resume "
                             "to continue it, or choose another --output")
    if saved != run_identity(spec):
        current = run_identity(spec)
        differing = sorted(k for k in current if saved is None or saved.get(k) != current[k])
        raise RunFolderError(f"cannot resume {str(folder)!r}: its spec differs in "
                             f"{', '.join(differing)}")
