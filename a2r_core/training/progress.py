"""The progress objective: a reward that rises as the task advances, for planners.

Why (beyond the paper): the paper's four losses (CDC, VLC, fVLC, BCE) judge whole clips: did this
clip do the task, and if not, how did it fail. A planner asks something else: of many partial
attempts from the same state (the frames executed so far + a short candidate future), which one
got furthest? Measured on the default checkpoint trained with the four losses alone, its ranking of
a CEM population correlates with the simulator's progress at -0.01 (docs/planning.md), and MPC
with it never succeeds. This objective trains that ranking directly, on the reward the planner
reads (the checkpoint's own `reward_mode`), with clips cut by the one clip rule (`a2r_core.clips`):

- prefix order (Video-Language Critic, Alakuijala et al. 2024): two cuts e1 < e2 of the same
  success episode; the later cut must score higher.
- rewound attempts (ReWiND, Zhang et al. 2025): the episode played to e2 and then backwards to an
  earlier frame must score below the cut at e2: undoing progress is not progress.
- failures stay low: a robot failure clip of task T, and a random cut of it, must score below
  every robot success clip of T in the batch (the clip-level ranking the four losses imply, stated
  on the reward, and for attempts still under way);
- attempts going nowhere stay low: a cut of a failure whose motion has nothing to do with the task
  (`nowhere_sources`: random exploration, another task's expert) must score below a success of T
  cut at least half-way. Without this, "the scene changed a lot since the first frame" is a
  shortcut to a high reward (later cuts of successes do differ more from their first frame), and
  a planner is steered towards candidates that move the arm a lot, anywhere (measured: the
  planner's ranking on window-open fell to Spearman -0.88 mid-episode, docs/planning.md).

Each pair (hi, lo) costs softplus(-(r_hi - r_lo)) (a Bradley-Terry likelihood of the order).
How it plays with the failure prompts: with reward_mode "contrast" the reward is the log-softmax
of the instruction among {instruction, K failure texts}, so an early prefix is pushed towards the
task's failure texts (not yet done looks like not done), which fVLC also pulls failures to; the
prompts keep their cluster meaning because fVLC alone decides which prompt a clip belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from a2r_core.clips import clip_indices, prefix_clip, rewound_clip


@dataclass
class ProgressBatch:
    """The extra clips of one batch and the ranked pairs.

    frames: the extra clips (uint8 [num_frames, H, W, 3] each, already thinned); source: for each
    extra clip, the batch row it was cut from (instruction, task and prompt row are that clip's);
    pairs: [P, 2] long, (hi, lo) indices into the batch rows followed by the extra clips.
    """

    frames: list[torch.Tensor] = field(default_factory=list)
    source: list[int] = field(default_factory=list)
    pairs: list[tuple[int, int]] = field(default_factory=list)

    def pair_tensor(self, device: torch.device | str) -> torch.Tensor:
        return torch.tensor(self.pairs, dtype=torch.long, device=device).view(-1, 2)


def _fixed_length(frames: np.ndarray, num_frames: int) -> torch.Tensor:
    """A clip resampled to exactly `num_frames` by the one clip rule (what the model's own
    preprocessing would pick), so extra clips stack with the batch."""
    return torch.from_numpy(np.ascontiguousarray(frames[clip_indices(len(frames), num_frames)]))


NOWHERE_SOURCES = ("random", "other_expert")


def make_progress_batch(frames: Sequence[torch.Tensor], did_task: Sequence[bool], is_robot: Sequence[bool],
                        tasks: Sequence[str], num_frames: int, rng: np.random.Generator,
                        rewind: bool = True, failures: bool = True, human: bool = False,
                        full_fraction: float = 0.5, sources: Optional[Sequence[Optional[str]]] = None,
                        nowhere_sources: Sequence[str] = NOWHERE_SOURCES) -> ProgressBatch:
    """Cut the extra clips of a batch and list the ranked pairs (module doc).

    frames: each batch clip's frames, uint8 [T_i, H, W, 3] (whole episodes: every stored frame);
    did_task / is_robot / tasks: per clip. Prefix pairs are cut from robot success clips (and from
    human demonstrations when `human`); `full_fraction` of the time the later cut is the whole
    clip (already in the batch, no extra clip). `sources`: each clip's failure source (None:
    unknown), which decides the "going nowhere" pairs.
    """
    out = ProgressBatch()
    n = len(frames)

    def add(clip: np.ndarray, src: int) -> int:
        out.frames.append(_fixed_length(clip, num_frames))
        out.source.append(src)
        return n + len(out.frames) - 1

    halfway: list[int] = []  # robot success cuts at least half-way through their episode
    for i in range(n):
        if not did_task[i] or not (is_robot[i] or human):
            continue
        f = frames[i].numpy()
        t = len(f)
        if t < 3:
            continue
        e2 = t - 1 if rng.random() < full_fraction else int(rng.integers(2, t - 1))
        hi = i if e2 == t - 1 else add(prefix_clip(f, e2, None), i)
        if is_robot[i] and 2 * e2 >= t - 1:
            halfway.append(hi)
        e1 = int(rng.integers(0, e2))
        out.pairs.append((hi, add(prefix_clip(f, e1, None), i)))
        if rewind and is_robot[i]:
            out.pairs.append((hi, add(rewound_clip(f, e2, int(rng.integers(0, e2)), None), i)))
    if failures:
        successes = [i for i in range(n) if is_robot[i] and did_task[i]]
        for j in range(n):
            if not is_robot[j] or did_task[j]:
                continue
            f = frames[j].numpy()
            cut = add(prefix_clip(f, int(rng.integers(1, len(f))), None), j) if len(f) > 1 else j
            for i in successes:
                if tasks[i] == tasks[j]:
                    out.pairs.extend([(i, j), (i, cut)])
            if sources is not None and sources[j] in nowhere_sources:
                # whole success clips are already above every failure of their task
                out.pairs.extend((h, low) for h in halfway if h >= n and tasks[out.source[h - n]] == tasks[j]
                                 for low in (j, cut))
    return out


def clip_rewards(features: Mapping[str, torch.Tensor], reward_mode: str) -> torch.Tensor:
    """The reward `RewardModel.score` would give each row for its own instruction, differentiable:
    "contrast" = log-softmax of the instruction among {it, its K failure texts} at logit_scale
    (rows without failure texts fall back to the scaled cosine), "cosine" = scaled cosine (the
    scale keeps the pairwise loss's slope comparable between the modes). "grounded" trains as
    "contrast": for one instruction the other tasks' texts only add terms to the softmax, and
    VLC's in-batch contrast already keeps the other tasks' instructions apart."""
    v = features["video"].float()
    t = features["text"].float()
    scale = features["logit_scale"].float()
    sim = (v * t).sum(-1)
    if reward_mode not in ("contrast", "grounded") or features["failure_text"].shape[1] == 0:
        return scale * sim
    ft = features["failure_text"].float()
    logits = scale * torch.cat([sim[:, None], torch.einsum("nd,nkd->nk", v, ft)], dim=1)
    contrast = torch.log_softmax(logits, dim=1)[:, 0]
    return torch.where(features["failure_text_mask"].bool(), contrast, scale * sim)


def progress_loss(rewards: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """Mean over pairs (hi, lo) of softplus(-(r_hi - r_lo)); 0 (in the graph) without pairs."""
    if pairs.numel() == 0:
        return rewards.sum() * 0.0
    return F.softplus(-(rewards[pairs[:, 0]] - rewards[pairs[:, 1]])).mean()


__all__ = ["ProgressBatch", "clip_rewards", "make_progress_batch", "progress_loss"]
