"""Task -> natural-language instructions, read from the one file that holds them.

Why one file: the instruction a clip is trained with, the instruction a user types into the ROS node
and the instruction an evaluation scores against must come from the same list, or results quietly
depend on wording. `instructions.yaml` (shipped inside the package) holds, per task, the canonical
instruction first and then paraphrases; training samples among the paraphrases.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Optional, Union

import numpy as np
import yaml

from a2r_core.errors import ConfigError, DataError

DEFAULT_PATH = Path(__file__).with_name("instructions.yaml")


@functools.lru_cache(maxsize=8)
def _load(path: str) -> dict[str, dict[str, tuple[str, ...]]]:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"cannot read instructions file {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a mapping of suite -> task -> list of instructions")
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for suite, tasks in raw.items():
        if not isinstance(tasks, dict):
            raise DataError(f"{path}: suite {suite!r} must map task names to lists")
        out[str(suite)] = {}
        for task, phrases in tasks.items():
            if not isinstance(phrases, list) or not phrases or not all(
                    isinstance(p, str) and p.strip() for p in phrases):
                raise DataError(f"{path}: task {task!r} needs a non-empty list of non-empty strings")
            out[str(suite)][str(task)] = tuple(p.strip() for p in phrases)
    return out


def all_instructions(path: Union[str, Path, None] = None) -> dict[str, tuple[str, ...]]:
    """Every task (all suites merged) -> its instructions, canonical first."""
    merged: dict[str, tuple[str, ...]] = {}
    for tasks in _load(str(path or DEFAULT_PATH)).values():
        merged.update(tasks)
    return merged


def paraphrases(task: str, path: Union[str, Path, None] = None) -> tuple[str, ...]:
    """All instructions of `task`, canonical first; ConfigError if the task has none."""
    table = all_instructions(path)
    if task not in table:
        raise ConfigError(f"no instructions for task {task!r} in {path or DEFAULT_PATH}")
    return table[task]


def canonical(task: str, path: Union[str, Path, None] = None) -> str:
    """The task's canonical (first) instruction."""
    return paraphrases(task, path)[0]


def pick(task: str, rng: np.random.Generator, path: Union[str, Path, None] = None) -> str:
    """One of the task's instructions, chosen uniformly with `rng` (deterministic for a seed)."""
    options = paraphrases(task, path)
    return options[int(rng.integers(len(options)))]


def task_of(instruction: str, path: Union[str, Path, None] = None) -> Optional[str]:
    """The task whose instruction list contains `instruction` (case/space-insensitive), or None."""
    from a2r_core.instructions import normalize

    key = normalize(instruction)
    for task, options in all_instructions(path).items():
        if any(normalize(o) == key for o in options):
            return task
    return None
