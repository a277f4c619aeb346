"""Dataset construction by kind name (`data.kind` in a training config).

A small registry so new dataset kinds (the MetaWorld manifest, SS-V2, folders of videos) plug in
with one `register_dataset` line each, next to their own code, without touching the trainer. Only
kinds whose code exists are registered; asking for another names the known ones.

A builder takes the split's parameter mapping (`data.train` or `data.val`) and returns a torch
Dataset that yields `ClipItem`s and has `records: list[ClipRecord]`.
"""

from __future__ import annotations

from typing import Callable

from torch.utils.data import Dataset

from a2r_core.errors import ConfigError

DatasetBuilder = Callable[[dict], Dataset]
DATASET_KINDS: dict[str, DatasetBuilder] = {}


def register_dataset(kind: str, builder: DatasetBuilder) -> None:
    """Make `data.kind: <kind>` build datasets with `builder(params)`."""
    DATASET_KINDS[kind] = builder


def build_dataset(kind: str, params: dict, where: str = "data") -> Dataset:
    """The dataset of `kind` for one split; ConfigError for an unknown kind or bad parameters."""
    if kind not in DATASET_KINDS:
        raise ConfigError(f"{where}.kind: unknown dataset kind {kind!r}; known: {', '.join(sorted(DATASET_KINDS))}")
    try:
        dataset = DATASET_KINDS[kind](dict(params))
    except TypeError as exc:
        raise ConfigError(f"{where}: bad parameters for dataset kind {kind!r}: {exc}") from exc
    if not hasattr(dataset, "records"):
        raise ConfigError(f"{where}: dataset kind {kind!r} has no `records` list")
    return dataset


def _synthetic(params: dict) -> Dataset:
    from a2r_core.data.synthetic import SyntheticDataset

    return SyntheticDataset(**params)


register_dataset("synthetic", _synthetic)
