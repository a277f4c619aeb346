"""Torch datasets of video clips: a2r manifests, Something-Something-v2, folder + CSV.

All three hold a list of `ClipRecord`s (metadata, no pixels: samplers balance batches over
`dataset.records` without decoding anything) and decode on `__getitem__` into a `ClipItem` whose
frames are uint8 [T, H, W, 3], T sampled uniformly over the video (jittered within each segment when
`train=True`), then passed through `transform` (e.g. `TrainTransform`, `EvalTransform`).

Why a bad video never crashes an epoch: one unreadable file in a 100k-clip set should cost one
clip, not a training run. A clip that fails to decode is counted (`skipped`, `bad_paths`), warned
about once, and replaced by the next readable clip of the same (task, domain, success) group (else
of the same domain and label, else any), so a balanced batch stays balanced. Only when no clip of
the dataset is readable does `__getitem__` raise `DataError`. The counts are per process (each DataLoader worker keeps its own).
"""

from __future__ import annotations

import copy
import csv
import json
import logging
import re
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterator, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from a2r_core.data.manifest import read_manifest, resolve_path
from a2r_core.data.records import DOMAINS, ClipItem, ClipRecord
from a2r_core.data.video_io import read_video
from a2r_core.errors import ConfigError, DataError

log = logging.getLogger(__name__)
PathLike = Union[str, Path]
Transform = Callable[[torch.Tensor, Optional[np.random.Generator]], torch.Tensor]


class ClipDataset(Dataset):
    """Decodes the clips of `records` (paths absolute, or relative to `base_dir`)."""

    def __init__(self, records: Sequence[ClipRecord], base_dir: Optional[PathLike] = None,
                 num_frames: int = 8, train: bool = False, transform: Optional[Transform] = None,
                 seed: int = 0) -> None:
        if num_frames < 1:
            raise ConfigError(f"num_frames must be >= 1, got {num_frames}")
        self.records = list(records)
        self.base_dir = Path(base_dir) if base_dir is not None else None
        self.num_frames = num_frames
        self.train = train
        self.transform = transform
        self.seed = seed
        self.skipped = 0
        self.bad_paths: set[str] = set()
        self._rng: Optional[np.random.Generator] = None
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, record in enumerate(self.records):
            groups[self._group(record)].append(i)
        self._groups = dict(groups)
        self._position = {i: k for members in self._groups.values() for k, i in enumerate(members)}

    @staticmethod
    def _group(record: ClipRecord) -> tuple:
        return (record.task, record.domain, record.success)

    def __len__(self) -> int:
        return len(self.records)

    def path_of(self, index: int) -> Path:
        path = Path(self.records[index].path)
        if path.is_absolute() or self.base_dir is None:
            return path
        return self.base_dir / path

    def eval_view(self) -> "ClipDataset":
        """The same clips without training jitter: frames sampled evenly, the transform's
        evaluation form (`TrainTransform` -> its centre-crop `EvalTransform`). The trainer embeds
        failure clips through it for clustering, which must see clips as inference will."""
        view = copy.copy(self)
        view.train = False
        to_eval = getattr(self.transform, "eval_transform", None)
        view.transform = to_eval() if to_eval is not None else self.transform
        view._rng = None
        return view

    def rng(self) -> np.random.Generator:
        """This process's jitter generator: seeded from torch's per-worker seed, so DataLoader
        workers differ from each other and from epoch to epoch, yet a seeded run repeats."""
        if self._rng is None:
            self._rng = np.random.default_rng([self.seed, torch.initial_seed() % (2**63)])
        return self._rng

    def _load(self, index: int) -> ClipItem:
        record = self.records[index]
        rng = self.rng() if self.train else None
        frames = torch.from_numpy(read_video(self.path_of(index), num_frames=self.num_frames, rng=rng))
        if self.transform is not None:
            frames = self.transform(frames, rng)
        return ClipItem(frames=frames, instruction=record.instruction, task=record.task,
                        domain=record.domain, success=record.success, index=index)

    def _candidates(self, index: int) -> Iterator[int]:
        """Where to look for a readable clip in place of `index`: itself, then the rest of its
        (task, domain, success) group, then clips of the same domain and label, then any clip.
        A generator, so the common case (the clip reads fine) costs nothing extra."""
        record = self.records[index]
        group = self._groups[self._group(record)]
        start = self._position[index]
        yield from group[start:] + group[:start]
        same = [i for i in range(len(self.records))
                if self.records[i].domain == record.domain and self.records[i].success == record.success]
        yield from same
        yield from range(len(self.records))

    def __getitem__(self, index: int) -> ClipItem:
        if not 0 <= index < len(self.records):
            raise IndexError(f"clip index {index} out of range for {len(self.records)} clips")
        for candidate in self._candidates(index):
            if str(self.path_of(candidate)) in self.bad_paths:
                continue
            try:
                return self._load(candidate)
            except DataError as exc:
                self.skipped += 1
                self.bad_paths.add(str(self.path_of(candidate)))
                log.warning("skipping unreadable clip %d (%s); %d skipped so far: %s",
                            candidate, self.path_of(candidate), self.skipped, exc)
        raise DataError(f"no clip of this dataset is readable ({len(self.records)} clips, "
                        f"e.g. {self.path_of(index)})")


class ManifestDataset(ClipDataset):
    """The clips of an a2r manifest (e.g. from `a2r data metaworld`), filtered if asked.

    `domains`, `tasks`, `variants`: keep only records whose field is in the given set; `success`:
    keep only successes (True) or failures (False). E.g. alternate-embodiment clips play human
    demonstrations, so a trainer may load them with `success=True` to leave out the few episodes
    whose expert failed. `failure_sources`: keep robot failures only from these sources (successes
    and other domains are kept): the single-failure-source ablation.
    """

    def __init__(self, manifest: PathLike, num_frames: int = 8, train: bool = False,
                 transform: Optional[Transform] = None, seed: int = 0,
                 domains: Optional[Sequence[str]] = None, tasks: Optional[Sequence[str]] = None,
                 variants: Optional[Sequence[str]] = None, success: Optional[bool] = None,
                 failure_sources: Optional[Sequence[str]] = None) -> None:
        self.manifest = Path(manifest)
        records = read_manifest(self.manifest)
        if success is not None:
            records = [r for r in records if r.success == success]
        if failure_sources is not None:
            records = [r for r in records
                       if r.success or r.domain != "robot" or r.failure_source in set(failure_sources)]
        for name, allowed in (("domain", domains), ("task", tasks), ("variant", variants)):
            if allowed is not None:
                records = [r for r in records if getattr(r, name) in set(allowed)]
        records = [_with_path(r, str(resolve_path(self.manifest, r))) for r in records]
        super().__init__(records, None, num_frames, train, transform, seed)


def _with_path(record: ClipRecord, path: str) -> ClipRecord:
    from dataclasses import replace

    return replace(record, path=path)


_PLACEHOLDER = re.compile(r"\[([^\]]*)\]")


def ssv2_task(template: str) -> str:
    """SS-v2's class name for a template: brackets dropped ("Pushing [something] from left to
    right" -> "Pushing something from left to right"), as in its labels.json."""
    return _PLACEHOLDER.sub(r"\1", template).strip()


class SomethingSomethingDataset(ClipDataset):
    """Human clips in the Something-Something-v2 layout.

    `labels_json`: a list of {"id", "label", "template", "placeholders"} (train.json /
    validation.json); `video_dir`: where `<id>.webm` live. The task is the template's class name
    (see `ssv2_task`), or `task_map[class name]` to align SS-v2 classes with robot tasks (classes
    absent from a given `task_map` are dropped). The instruction is the filled-in label ("pushing
    a cup from left to right"), or the template with "something" when the label is missing. Every
    clip is a success (SS-v2 shows people doing the thing).
    """

    def __init__(self, labels_json: PathLike, video_dir: PathLike, num_frames: int = 8,
                 train: bool = False, transform: Optional[Transform] = None, seed: int = 0,
                 task_map: Optional[Mapping[str, str]] = None, extension: str = ".webm") -> None:
        labels_json, video_dir = Path(labels_json), Path(video_dir)
        try:
            entries = json.loads(labels_json.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"cannot read SS-v2 labels {labels_json}: {exc}") from exc
        if not isinstance(entries, list):
            raise DataError(f"{labels_json}: expected a JSON list of clips")
        records = []
        for number, entry in enumerate(entries):
            if not isinstance(entry, dict) or "id" not in entry or "template" not in entry:
                raise DataError(f"{labels_json} entry {number}: needs 'id' and 'template', got {entry!r}")
            cls = ssv2_task(str(entry["template"]))
            if task_map is not None:
                if cls not in task_map:
                    continue
                task = task_map[cls]
            else:
                task = cls
            instruction = str(entry.get("label") or cls).strip()
            records.append(ClipRecord(
                task=task, instruction=instruction, domain="human", success=True,
                path=str(video_dir / f"{entry['id']}{extension}"), variant="ssv2",
                extra={"ssv2_id": str(entry["id"]), "template": entry["template"],
                       "placeholders": list(entry.get("placeholders", []))}))
        super().__init__(records, None, num_frames, train, transform, seed)


_TRUE = {"1", "true", "yes", "y", "success"}
_FALSE = {"0", "false", "no", "n", "failure", "fail"}


class VideoFolderDataset(ClipDataset):
    """Any folder of videos described by a CSV with a header row.

    Columns: `path` (relative to the CSV's folder or `root`) and `instruction` are required;
    optional `task` (default: the instruction), `domain` ("human" or "robot", default "human"),
    `success` (true/false/1/0, default true), `failure_source`, `variant`.
    """

    def __init__(self, csv_path: PathLike, root: Optional[PathLike] = None, num_frames: int = 8,
                 train: bool = False, transform: Optional[Transform] = None, seed: int = 0) -> None:
        csv_path = Path(csv_path)
        base = Path(root) if root is not None else csv_path.parent
        try:
            with csv_path.open(newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
                header = rows[0].keys() if rows else []
        except OSError as exc:
            raise DataError(f"cannot read {csv_path}: {exc}") from exc
        for column in ("path", "instruction"):
            if rows and column not in header:
                raise DataError(f"{csv_path}: missing column {column!r} (has {list(header)})")
        records = []
        for line, row in enumerate(rows, start=2):
            where = f"{csv_path} line {line}"
            if not (row.get("path") or "").strip() or not (row.get("instruction") or "").strip():
                raise DataError(f"{where}: 'path' and 'instruction' must not be empty")
            domain = (row.get("domain") or "human").strip()
            if domain not in DOMAINS:
                raise DataError(f"{where}: domain must be one of {list(DOMAINS)}, got {domain!r}")
            flag = (row.get("success") or "true").strip().lower()
            if flag not in _TRUE | _FALSE:
                raise DataError(f"{where}: success must be true/false/1/0, got {flag!r}")
            path = Path(row["path"].strip())
            records.append(ClipRecord(
                task=(row.get("task") or row["instruction"]).strip(),
                instruction=row["instruction"].strip(), domain=domain,  # type: ignore[arg-type]
                success=flag in _TRUE, path=str(path if path.is_absolute() else base / path),
                failure_source=(row.get("failure_source") or "").strip() or None,
                variant=(row.get("variant") or "default").strip() or "default"))
        super().__init__(records, None, num_frames, train, transform, seed)


def collate_clips(items: Sequence[ClipItem]) -> dict:
    """Stack a list of ClipItems (same T, H, W) into a batch dict: frames [B, T, H, W, 3] uint8,
    lists for the strings, tensors for success and index."""
    return {
        "frames": torch.stack([item["frames"] for item in items]),
        "instruction": [item["instruction"] for item in items],
        "task": [item["task"] for item in items],
        "domain": [item["domain"] for item in items],
        "success": torch.tensor([item["success"] for item in items], dtype=torch.bool),
        "index": torch.tensor([item["index"] for item in items], dtype=torch.long),
    }


class ConcatClipDataset(Dataset):
    """Several clip datasets as one (e.g. a robot manifest plus a human-domain manifest).

    `records` is the concatenation, and every item's `index` is its position in THIS dataset, so
    per-clip training state (failure clusters) keys correctly across the parts.
    """

    def __init__(self, parts: Sequence[Dataset]) -> None:
        if not parts:
            raise ConfigError("ConcatClipDataset needs at least one dataset")
        self.parts = list(parts)
        self.records: list[ClipRecord] = [r for part in self.parts for r in part.records]
        self._offsets = np.cumsum([0] + [len(part.records) for part in self.parts])

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> ClipItem:
        if not 0 <= index < len(self.records):
            raise IndexError(f"clip index {index} out of range for {len(self.records)} clips")
        part = int(np.searchsorted(self._offsets, index, side="right") - 1)
        item = self.parts[part][index - int(self._offsets[part])]
        return ClipItem(**{**item, "index": int(self._offsets[part]) + item["index"]})

    def eval_view(self) -> "ConcatClipDataset":
        """Every part's `eval_view` (parts without one as they are), same indices."""
        return ConcatClipDataset([part.eval_view() if hasattr(part, "eval_view") else part for part in self.parts])

    @property
    def skipped(self) -> int:
        """Unreadable clips skipped so far, over all parts."""
        return sum(getattr(part, "skipped", 0) for part in self.parts)
