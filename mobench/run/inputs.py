"""Prompt and preference files given on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mobench.core.errors import ConfigError, MobenchError
from mobench.core.specs import parse_preference


def read_prompts(path: str) -> list[tuple[str, str]]:
    """Prompts from a file: JSONL with ``prompt`` (optional ``prompt_id``), else one a line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read prompts file {path!r}: {error}") from None
    prompts: list[tuple[str, str]] = []
    lines = [line for line in text.splitlines() if line.strip()]
    jsonl = path.endswith(".jsonl")
    for n, line in enumerate(lines, 1):
        if jsonl:
            try:
                row = json.loads(line)
                prompts.append((str(row.get("prompt_id", f"p{n}")), str(row["prompt"])))
            except (ValueError, KeyError, AttributeError):
                raise ConfigError(f"{path}:{n}: expected a JSON object with a 'prompt'") from None
        else:
            prompts.append((f"p{n}", line.strip()))
    if not prompts:
        raise ConfigError(f"prompts file {path!r} holds no prompt")
    if len({pid for pid, _ in prompts}) != len(prompts):
        raise ConfigError(f"prompts file {path!r} repeats a prompt_id")
    return prompts


def read_preferences(path: str, n_objectives: int) -> np.ndarray:
    """Preference vectors from a file, one comma-separated vector per line."""
    try:
        lines = [ln.strip() for ln in Path(path).read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read preferences file {path!r}: {error}") from None
    rows = []
    for n, line in enumerate(lines, 1):
        if not line or line.startswith("#"):
            continue
        try:
            rows.append(parse_preference(line, n_objectives))
        except MobenchError as error:
            raise ConfigError(f"{path}:{n}: {error}") from None
    if not rows:
        raise ConfigError(f"preferences file {path!r} holds no preference vector")
    return np.stack(rows)
