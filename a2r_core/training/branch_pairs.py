"""Branch pairs in training: the demonstration's continuation must score above a deviation that
left the same state (`loss.progress_branches`; the data: `a2r data branches`, a2r_core.data.branches,
from expert states, and `a2r data interventions`, a2r_core.data.interventions, from the planner's).

Why (beyond the paper, beside the progress objective): the progress objective orders cuts of
*different* lengths of one episode, and failures below successes; a planner instead compares
futures of the *same* length from one shared history. Measured on the progress recipe, its ranking
of a CEM population correlates with the simulator's progress at 0.23 and MPC with it never
succeeds (docs/planning.md). A branch pair is that comparison with a known answer: both clips run
from the episode start to the same step, share every frame up to the branch, and differ only in
the last `future_steps` steps; the continuation is ranked above the deviation with the same
Bradley-Terry cost as the progress pairs (`progress_loss`), on the reward the planner reads
(`clip_rewards`). Pairs whose deviation itself succeeded are left out (no order is known).

Each training step draws `per_batch` pairs (seeded, so a run repeats), thins both clips by the one
clip rule to the model's frame count and appends them after the batch and the progress clips.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import torch

from a2r_core.clips import clip_indices
from a2r_core.data.manifest import read_manifest, resolve_path
from a2r_core.data.video_io import read_video
from a2r_core.errors import ConfigError


@dataclass
class BranchPair:
    task: str
    instruction: str
    continuation: torch.Tensor  # uint8 [num_frames, H, W, 3]
    deviation: torch.Tensor


class BranchPairs:
    """The usable pairs of one or more branch manifests, for training tasks `tasks`."""

    def __init__(self, manifests: Union[str, Path, Sequence[Union[str, Path]]], tasks: set[str],
                 per_batch: int) -> None:
        self.records, self.paths = [], []
        for path in [Path(manifests)] if isinstance(manifests, (str, Path)) else [Path(m) for m in manifests]:
            if not path.is_file():
                raise ConfigError(f"loss.progress_branches: {path} does not exist (make it with `a2r data branches` "
                                  "or `a2r data interventions`)")
            records = [r for r in read_manifest(path) if not r.success and r.task in tasks]
            if not records:
                raise ConfigError(f"loss.progress_branches: {path} has no pairs of the training tasks "
                                  f"({', '.join(sorted(tasks))}) whose deviation failed")
            self.records += records
            self.paths += [(resolve_path(path, r), path.resolve().parent / r.extra["pair_path"]) for r in records]
        self.per_batch = per_batch

    def __len__(self) -> int:
        return len(self.records)

    def draw(self, rng: np.random.Generator, num_frames: int) -> list[BranchPair]:
        """`per_batch` pairs drawn without replacement (all of them if fewer)."""
        chosen = rng.choice(len(self.records), size=min(self.per_batch, len(self.records)), replace=False)
        out = []
        for i in chosen:
            record, (deviation, continuation) = self.records[int(i)], self.paths[int(i)]
            pair = [read_video(p) for p in (continuation, deviation)]
            pair = [torch.from_numpy(np.ascontiguousarray(f[clip_indices(len(f), num_frames)])) for f in pair]
            out.append(BranchPair(record.task, record.instruction, pair[0], pair[1]))
        return out


__all__ = ["BranchPair", "BranchPairs"]
