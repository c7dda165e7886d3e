"""Registries of methods and tasks: decorators plus Python entry points.

Built-in methods and tasks are declared as entry points in mobench's own pyproject.toml, exactly
as a separate package declares its own (groups ``mobench.methods`` and ``mobench.tasks``), so a
plugin needs no change to mobench. Entry points load lazily, on first lookup or listing.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from mobench.core.errors import MobenchError, UnknownNameError

T = TypeVar("T", bound=type)


@dataclass(frozen=True)
class RegistryEntry:
    """A registered class, its name, and the one line ``mobench list`` shows for it."""

    name: str
    target: type
    description: str


class Registry(Generic[T]):
    """Name -> class, filled by :meth:`register` and by the entry-point group ``group``."""

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self._entries: dict[str, RegistryEntry] = {}
        self._broken: dict[str, str] = {}
        self._entry_points_loaded = False

    def register(self, name: str, description: str | None = None) -> Callable[[T], T]:
        """Class decorator: ``@methods.register("panacea")``."""

        def decorate(cls: T) -> T:
            self._add(name, cls, description)
            return cls

        return decorate

    def _add(self, name: str, cls: type, description: str | None) -> None:
        existing = self._entries.get(name)
        if existing is not None and existing.target is not cls:
            raise MobenchError(f"{self.kind} {name!r} is registered twice: "
                               f"{_qualname(existing.target)} and {_qualname(cls)}")
        text = description or getattr(cls, "description", None) or _first_line(cls.__doc__)
        self._entries[name] = RegistryEntry(name, cls, text)

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for point in entry_points(group=self.group):
            if point.name in self._entries:
                continue  # registered by decorator when its module was imported
            try:
                target = point.load()
            except Exception as error:  # a broken plugin must not take down the others
                self._broken[point.name] = (f"{self.kind} {point.name!r} (entry point "
                                            f"{point.value!r}) failed to load: {error}")
                continue
            if not isinstance(target, type):
                self._broken[point.name] = (f"entry point {point.value!r} for {self.kind} "
                                            f"{point.name!r} is not a class")
                continue
            self._add(point.name, target, None)

    def refresh(self) -> None:
        """Look at the entry points again (after installing a plugin in the same process)."""
        self._entry_points_loaded = False
        self._broken.clear()

    def get(self, name: str) -> Any:
        """The class registered as ``name``; an unknown name lists the known ones."""
        self._load_entry_points()
        entry = self._entries.get(name)
        if entry is None and name in self._broken:
            raise MobenchError(self._broken[name])
        if entry is None:
            known = sorted(self._entries)
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UnknownNameError(f"unknown {self.kind} {name!r}.{hint} "
                                   f"Known {self.kind}s: {', '.join(known) or '(none)'}.")
        return entry.target

    def broken(self) -> dict[str, str]:
        """Entry points that failed to load, with the reason (``mobench list`` warns of them)."""
        self._load_entry_points()
        return dict(self._broken)

    def entries(self) -> list[RegistryEntry]:
        self._load_entry_points()
        return [self._entries[name] for name in sorted(self._entries)]

    def names(self) -> list[str]:
        return [e.name for e in self.entries()]

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if (doc or "").strip() else ""


def _qualname(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


methods: Registry[type] = Registry("method", "mobench.methods")
tasks: Registry[type] = Registry("task", "mobench.tasks")
