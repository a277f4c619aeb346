"""Typed dataclass configs from plain mappings (YAML, JSON), with errors that name the path."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import yaml

from a2r_core.errors import ConfigError

T = TypeVar("T")


def build_dataclass(cls: type[T], mapping: Any, where: str) -> T:
    """`cls(**mapping)`; a non-mapping, unknown keys or bad values raise ConfigError naming `where`.

    None counts as an empty mapping (every field at its default); the dataclass's own
    `__post_init__` does the value checks.
    """
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where}: must be a mapping, got {type(mapping).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(names)}")
    try:
        return cls(**mapping)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def check_int_ranges(config: Any, ranges: dict[str, tuple[int, int]], where: str) -> None:
    """ConfigError unless each named field of `config` is an int in its [low, high]; the message
    starts with `where` (e.g. "BranchConfig.")."""
    for name, (low, high) in ranges.items():
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(f"{where}{name} must be an int in [{low}, {high}], got {value!r}")


def read_yaml_mapping(path: str | Path, what: str) -> dict:
    """The top-level mapping of a YAML file (`yaml.safe_load`; an empty file is {}). A missing
    file, invalid YAML or a non-mapping raises ConfigError naming the file and `what` it is."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: {what} file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level of a {what} must be a mapping")
    return raw
