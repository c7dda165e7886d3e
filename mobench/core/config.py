"""Config files and ``key=value`` overrides, read safely into frozen dataclasses.

YAML is read with a safe loader only: nothing in a config is ever executed or unpickled. A key
repeated in one mapping is refused (YAML would keep the last one silently). Every key must name a
field; values are checked against the field's type, so a typo fails with the list of valid keys
instead of being ignored, and every number must be finite (``nan`` and ``inf`` would pass range
checks such as ``temperature > 0`` and fail deep inside a run).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import yaml

from mobench.core.errors import ConfigError, UnknownNameError


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a key that a mapping repeats."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode,
                    deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"repeats the key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def load_yaml_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from ``path`` with the safe loader; errors name the file and problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read config file {str(path)!r}: "
                          f"{error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"config file {str(path)!r} is not UTF-8 text (byte "
                          f"0x{error.object[error.start]:02x} at offset {error.start})") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = str(getattr(error, "problem", None) or "")
        if problem.startswith("repeats the key"):
            raise ConfigError(f"config file {str(path)!r} {problem}{where}; keep one") from None
        raise ConfigError(f"config file {str(path)!r} is not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of keys to values")
    return data


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` -> ``{"a": {"b": 1}, "c": "x"}``; values parsed as YAML scalars."""
    tree: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r} conflicts with another override of {part!r}")
            node = child
        node[parts[-1]] = value
    return tree


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge of nested mappings; ``update`` wins."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def build_dataclass(cls: type, data: Mapping[str, Any] | None, where: str,
                    base: Any = None) -> Any:
    """Instantiate the frozen dataclass ``cls`` from ``data``, checking keys and value types.

    ``where`` names the section in messages (``"method"``, ``"eval.decoding"``...). With ``base``
    (an instance of ``cls``), ``data`` overrides its values; otherwise the class defaults.
    """
    data = dict(data or {})
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(str(key), list(fields), n=1)
        hint = f" Did you mean {where}.{close[0]}?" if close else ""
        valid = ", ".join(f"{where}.{n}" for n in fields) or "(none)"
        raise UnknownNameError(f"unknown config key {where}.{key}.{hint} Valid keys: {valid}.")
    defaults = {name: getattr(base, name) if base is not None else _default(fields[name])
                for name in data}
    values = {name: _coerce(value, hints[name], f"{where}.{name}", defaults[name])
              for name, value in data.items()}
    try:
        return dataclasses.replace(base, **values) if base is not None else cls(**values)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"invalid {where} config: {error}") from None


def _default(field: dataclasses.Field[Any]) -> Any:
    """A field's default value (None when it has none)."""
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _coerce(value: Any, annotation: Any, where: str, default: Any = None) -> Any:
    """Check ``value`` against a field's type annotation, converting the YAML-friendly forms.

    A mapping for a dataclass field overrides the field's default instance key by key, so
    ``train.ppo.rollout_prompts`` keeps the other PPO settings the parent chose for it (not those
    of a bare ``PPOConfig()``).
    """
    origin = get_origin(annotation)
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a mapping of its fields")
        return build_dataclass(annotation, value, where,
                               base=default if isinstance(default, annotation) else None)
    if annotation is Any:
        return value
    if origin is Literal:
        choices = get_args(annotation)
        if value not in choices:
            listed = ", ".join(map(repr, choices))
            raise ConfigError(f"{where} must be one of {listed}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        options = get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where, default)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] if errors else f"{where} has an invalid value {value!r}")
    if origin is tuple:
        args = get_args(annotation)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{where} must have {len(args)} items, got {len(value)}")
        return tuple(_coerce(v, a, f"{where}[{i}]")
                     for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a mapping")
        return dict(value)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be an integer, got {value!r}")
    if annotation is float:
        number: float | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            try:
                number = float(value)
            except ValueError:
                pass
        if number is None:
            raise ConfigError(f"{where} must be a number, got {value!r}")
        if not math.isfinite(number):
            raise ConfigError(f"{where} must be a finite number, got {value!r}")
        return number
    if annotation is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where} must be a string, got {value!r}")
    raise ConfigError(f"{where}: fields of type {annotation!r} cannot be set from a config")


def to_plain(obj: Any) -> Any:
    """A frozen config (nested dataclasses, tuples) as plain JSON-friendly data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    return obj
