"""Typed dataclass configs from plain mappings (YAML, JSON), with errors that name the path."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

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
