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


def _transform(params: dict):
    """`augment: true` (training splits) -> the uint8 training augmentations at `size`;
    `augment: {brightness: 0.5, hue: 0.1, ...}` -> the same with those `TrainTransform` fields set."""
    from a2r_core.data.transforms import TrainTransform
    from a2r_core.dataclass_config import build_dataclass

    augment, size = params.pop("augment", False), params.pop("size", None)
    if not augment:
        return {"train": False}
    fields = dict(augment) if isinstance(augment, dict) else {}
    if size:
        fields["size"] = size
    for key in ("scale", "ratio"):
        if key in fields:
            fields[key] = tuple(fields[key])
    return {"train": True, "transform": build_dataclass(TrainTransform, fields, "data.augment")}


def _manifest(params: dict) -> Dataset:
    """`kind: manifest`: an a2r JSONL manifest (`a2r data metaworld` output, or your own clips):
    `manifest`, `num_frames`, filters `domains`/`tasks`/`variants`/`success`/`failure_sources`,
    `augment`, `size`."""
    from a2r_core.data.datasets import ManifestDataset

    options = _transform(params)
    return ManifestDataset(**params, **options)


def _ssv2(params: dict) -> Dataset:
    """`kind: ssv2`: Something-Something-v2 layout: `labels_json`, `video_dir`, `task_map`, ..."""
    from a2r_core.data.datasets import SomethingSomethingDataset

    options = _transform(params)
    return SomethingSomethingDataset(**params, **options)


def _folder(params: dict) -> Dataset:
    """`kind: folder`: a folder of videos + CSV: `csv_path`, `root`, `num_frames`, ..."""
    from a2r_core.data.datasets import VideoFolderDataset

    options = _transform(params)
    return VideoFolderDataset(**params, **options)


def _mixed(params: dict) -> Dataset:
    """`kind: mixed`: `sources: [{kind: manifest, ...}, {kind: ssv2, ...}]`, concatenated (e.g.
    robot clips plus a human domain). Keys other than `sources` apply to every source. A source's
    `repeat: N` (default 1) lists its clips N times, so the balanced sampler draws them N times as
    often (a small set that matters, e.g. the planner's own attempts, config/train_loop.yaml)."""
    from a2r_core.data.datasets import ConcatClipDataset

    sources = params.pop("sources", None)
    if not isinstance(sources, list) or not sources:
        raise ConfigError("kind mixed: `sources` must be a non-empty list of {kind: ..., ...} mappings")
    parts = []
    for i, source in enumerate(sources):
        if not isinstance(source, dict) or "kind" not in source:
            raise ConfigError(f"kind mixed: sources[{i}] must be a mapping with a `kind`")
        kind = source["kind"]
        repeat = source.get("repeat", 1)
        if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
            raise ConfigError(f"kind mixed: sources[{i}].repeat must be an integer >= 1, got {repeat!r}")
        part = build_dataset(kind, {**params, **{k: v for k, v in source.items() if k not in ("kind", "repeat")}},
                             where=f"sources[{i}]")
        parts.extend([part] * repeat)
    return ConcatClipDataset(parts)


register_dataset("synthetic", _synthetic)
register_dataset("manifest", _manifest)
register_dataset("ssv2", _ssv2)
register_dataset("folder", _folder)
register_dataset("mixed", _mixed)
