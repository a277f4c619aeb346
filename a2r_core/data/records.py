"""What a clip is, as every dataset, sampler and the trainer see it.

`ClipRecord` is the metadata of one clip (no pixels), cheap to hold for a whole dataset; samplers
balance batches over it. `ClipItem` is what a dataset's `__getitem__` returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional, TypedDict

import torch

Domain = Literal["robot", "human"]
DOMAINS: tuple[Domain, ...] = ("robot", "human")


@dataclass(frozen=True)
class ClipRecord:
    """Metadata of one clip.

    `success` is the environment's (or annotator's) label; human clips are demonstrations of the
    task and count as successes. `failure_source` names how a failure was produced (e.g. "noise",
    "early_stop", "random"); None for successes and for clips whose source is unknown.
    """

    task: str
    instruction: str
    domain: Domain
    success: bool
    path: str = ""
    failure_source: Optional[str] = None
    variant: str = "default"
    seed: Optional[int] = None
    num_frames: int = 0
    fps: float = 0.0
    extra: dict = field(default_factory=dict, compare=False, hash=False)


class ClipItem(TypedDict):
    """One decoded clip.

    frames: uint8 tensor [T, H, W, 3] (RGB); normalisation to the backbone's input happens in the
    model's preprocessing, so datasets stay backbone-agnostic.
    index: position of the clip in its dataset (keys per-clip state such as failure clusters).
    """

    frames: torch.Tensor
    instruction: str
    task: str
    domain: Domain
    success: bool
    index: int
