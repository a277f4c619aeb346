"""The Adapt2Reward training objectives, one function per loss, plus the baselines' objectives.

Every loss takes the feature dict returned by `Adapt2Reward.forward` and a `LossLabels`, and returns
a scalar tensor. All features are expected L2-normalised (the model does that); similarities are
cosines multiplied by a *scale* (the inverse temperature `1/tau`): the model's learnable
`logit_scale` unless the objective is configured with a fixed `temperature`.

Which clips each loss sees (the design's "The method" section, made precise):

- CDC (cross-domain contrast): anchors are the clips that *did* the task in one domain (human clips,
  robot success clips); candidates are the clips that did a task in the other domain; positives are
  candidates of the anchor's task. Robot failure clips take no part (they did not do their task).
  Bidirectional: human->robot and robot->human, averaged. Anchors without any positive are skipped;
  the loss is exactly 0 when a domain is absent or no task is shared.
- VLC (video-language contrast): per domain (human, robot), over the clips that did their task:
  video->text and text->video InfoNCE, averaged, then averaged over the domains present. For a
  robot success clip of task T the video->text denominator also holds T's K failure-text features
  (`failure_text`, where `failure_text_mask` is true), which are never positives.
- fVLC (failure VLC): a robot failure clip of task T with cluster c (>= 0) is pulled to
  `failure_text[i, c]` against T's other K-1 failure texts and all instruction texts of the batch
  (including its own instruction: "tried and failed" is pushed away from "did it").
- BCE: the success head's logit against the success label, robot clips only (human clips are all
  demonstrations, so including them would only teach "human-looking means success").

Duplicate instructions (and paraphrases) in a batch: contrastive positives are defined by TASK, not
by position. A clip's positives are all texts (or videos) of its task in the batch, and the loss is
the supervised-contrastive mean over positives: for anchor i with positive set P(i) among the
candidates C,  loss_i = -1/|P(i)| * sum_{p in P(i)} log( exp(s_ip) / sum_{j in C} exp(s_ij) ).
So two clips with the same instruction are never pushed apart, and with one positive per anchor
this is plain InfoNCE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from a2r_core.errors import ConfigError

HUMAN = 0
ROBOT = 1

OBJECTIVES = ("a2r", "no_failure_data", "bce_only", "dvd")
LOSS_NAMES = ("cdc", "vlc", "fvlc", "bce", "dvd", "progress", "branch")


@dataclass
class LossLabels:
    """Per-clip labels of a batch (all [B] tensors on the features' device).

    task: a task id shared by both domains (any consistent integer per task name, >= 0).
    domain: 0 human, 1 robot.  success: bool.  cluster: failure cluster of a robot failure clip,
    -1 when it has none (success clips, human clips, clips not yet clustered).
    """

    task: torch.Tensor
    domain: torch.Tensor
    success: torch.Tensor
    cluster: torch.Tensor

    def to(self, device: torch.device | str) -> "LossLabels":
        return LossLabels(*(t.to(device) for t in (self.task, self.domain, self.success, self.cluster)))


def _f32(x: torch.Tensor) -> torch.Tensor:
    """At least float32 (bf16 autocast outputs are upcast; float64 test inputs stay float64)."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def _zero(features: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """A 0 that stays in the autograd graph (so callers can always `.backward()` the total)."""
    return features["video"].sum() * 0.0


def _scale(features: Mapping[str, torch.Tensor], temperature: Optional[float]) -> torch.Tensor:
    if temperature is not None:
        return _f32(features["video"]).new_tensor(1.0 / temperature)
    return _f32(features["logit_scale"])


def multi_positive_infonce(logits: torch.Tensor, positives: torch.Tensor,
                           valid: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Mean over anchors of -mean_{p in P(i)} log softmax(logits_i)[p].

    logits [A, C] (already scaled; entries to exclude must be -inf), positives [A, C] bool.
    Anchors with no positive (or `valid` false) are skipped; returns 0 (still in the autograd graph)
    when no anchor is left.
    """
    has_pos = positives.any(dim=1)
    if valid is not None:
        has_pos = has_pos & valid
    if not bool(has_pos.any()):
        return logits.masked_fill(~torch.isfinite(logits), 0.0).sum() * 0.0
    logits = logits[has_pos]
    positives = positives[has_pos]
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pos_log_prob = torch.where(positives, log_prob, torch.zeros_like(log_prob)).sum(dim=1)
    return (-pos_log_prob / positives.sum(dim=1)).mean()


def cdc_loss(features: Mapping[str, torch.Tensor], labels: LossLabels,
             temperature: Optional[float] = None) -> torch.Tensor:
    """Cross-domain contrast (bidirectional multi-positive InfoNCE between human and robot clips)."""
    v = _f32(features["video"])
    did_task = labels.success.bool() | (labels.domain == HUMAN)
    human = (labels.domain == HUMAN) & did_task
    robot = (labels.domain == ROBOT) & did_task
    if not bool(human.any()) or not bool(robot.any()):
        return _zero(features)
    scale = _scale(features, temperature)
    vh, vr = v[human], v[robot]
    th, tr = labels.task[human], labels.task[robot]
    same = th[:, None] == tr[None, :]  # [H, R]
    if not bool(same.any()):
        return _zero(features)
    sim = scale * vh @ vr.T
    h2r = multi_positive_infonce(sim, same)
    r2h = multi_positive_infonce(sim.T, same.T)
    return 0.5 * (h2r + r2h)


def vlc_loss(features: Mapping[str, torch.Tensor], labels: LossLabels,
             temperature: Optional[float] = None, failure_negatives: bool = True) -> torch.Tensor:
    """Video-language contrast per domain; robot success clips also contrast with failure texts.

    With features["task_bank_text"] ([T, D]: one instruction of every training task, row = the
    task id of `labels.task`), each clip's video->text side also contrasts with every task's
    instruction (its own task's row is a positive), not only with the batch's few instructions
    (`ObjectiveConfig.vlc_task_bank`).
    """
    v = _f32(features["video"])
    t = _f32(features["text"])
    bank = features.get("task_bank_text")
    bank = None if bank is None else _f32(bank)
    scale = _scale(features, temperature)
    did_task = labels.success.bool() | (labels.domain == HUMAN)
    per_domain = []
    for domain in (HUMAN, ROBOT):
        sel = did_task & (labels.domain == domain)
        if not bool(sel.any()):
            continue
        vd, td, task = v[sel], t[sel], labels.task[sel]
        pos = task[:, None] == task[None, :]
        sim = scale * vd @ td.T  # [n, n]: video i vs text j
        v2t_logits, v2t_pos = sim, pos
        if bank is not None:
            if bool((task >= bank.shape[0]).any()):
                raise ValueError(f"task id {int(task.max())} has no row in the task bank ({bank.shape[0]} rows)")
            own = torch.arange(bank.shape[0], device=task.device)[None, :] == task[:, None]
            v2t_logits = torch.cat([sim, scale * vd @ bank.T], dim=1)
            v2t_pos = torch.cat([pos, own], dim=1)
        if failure_negatives and domain == ROBOT:
            ft = _f32(features["failure_text"])[sel]  # [n, K, D]
            mask = features["failure_text_mask"].bool()[sel]
            fsim = scale * torch.einsum("nd,nkd->nk", vd, ft)
            fsim = fsim.masked_fill(~mask[:, None], float("-inf"))
            v2t_logits = torch.cat([v2t_logits, fsim], dim=1)
            v2t_pos = torch.cat([v2t_pos, torch.zeros_like(fsim, dtype=torch.bool)], dim=1)
        v2t = multi_positive_infonce(v2t_logits, v2t_pos)
        t2v = multi_positive_infonce(sim.T, pos.T)
        per_domain.append(0.5 * (v2t + t2v))
    if not per_domain:
        return _zero(features)
    return torch.stack(per_domain).mean()


def fvlc_loss(features: Mapping[str, torch.Tensor], labels: LossLabels,
              temperature: Optional[float] = None) -> torch.Tensor:
    """Failure clip -> its cluster's failure text, against its task's other prompts and all texts."""
    sel = ((labels.domain == ROBOT) & ~labels.success.bool() & (labels.cluster >= 0)
           & features["failure_text_mask"].bool())
    if not bool(sel.any()) or features["failure_text"].shape[1] == 0:  # K = 0: no prompts to pull to
        return _zero(features)
    scale = _scale(features, temperature)
    v = _f32(features["video"])[sel]                      # [n, D]
    ft = _f32(features["failure_text"])[sel]              # [n, K, D]
    texts = _f32(features["text"])                        # [B, D]: every instruction in the batch
    cluster = labels.cluster[sel].long()
    if bool((cluster >= ft.shape[1]).any()):
        raise ValueError(f"failure cluster id {int(cluster.max())} >= number of prompts {ft.shape[1]}")
    logits = scale * torch.cat([torch.einsum("nd,nkd->nk", v, ft), v @ texts.T], dim=1)
    return F.cross_entropy(logits, cluster)


def bce_loss(features: Mapping[str, torch.Tensor], labels: LossLabels) -> torch.Tensor:
    """Success head vs the success label, on robot clips."""
    sel = labels.domain == ROBOT
    if not bool(sel.any()):
        return _zero(features)
    logit = _f32(features["success_logit"])[sel]
    return F.binary_cross_entropy_with_logits(logit, labels.success[sel].to(logit.dtype))


class DVDPairHead(nn.Module):
    """DVD-style discriminator (Chen et al., RSS 2021): does clip b show the same task as clip a?

    Acts on a pair of video features; input [v_a, v_b, v_a * v_b, |v_a - v_b|] (symmetric in
    content, cheap). Its weights are trained only by the "dvd" objective and saved with the
    checkpoint as extra tensors (prefix "dvd_head.").
    """

    def __init__(self, dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4 * dim, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def forward(self, va: torch.Tensor, vb: torch.Tensor) -> torch.Tensor:
        """[N, D], [N, D] -> [N] logits of "same task"."""
        x = torch.cat([va, vb, va * vb, (va - vb).abs()], dim=-1)
        return self.net(x).squeeze(-1)


def dvd_reward(head: DVDPairHead, clip_features: torch.Tensor, demo_features: torch.Tensor) -> torch.Tensor:
    """The DVD-style reward: each clip's mean "same task" probability against a task's demos.

    clip_features [B, D], demo_features [R, D] (the task's demonstration clips) -> [B] in [0, 1].
    The trainer's validation and the benchmark's DVD row both score with this.
    """
    b, r = clip_features.shape[0], demo_features.shape[0]
    pairs_a = clip_features[:, None].expand(b, r, -1).reshape(b * r, -1)
    pairs_b = demo_features[None].expand(b, r, -1).reshape(b * r, -1)
    return torch.sigmoid(head(pairs_a, pairs_b).float()).view(b, r).mean(dim=1)


def dvd_loss(features: Mapping[str, torch.Tensor], labels: LossLabels, head: DVDPairHead) -> torch.Tensor:
    """BCE of the pair head over all ordered pairs (i != j) in which at least one clip did its task.

    Label 1 iff both clips did their task and share it. Pairs of two failure clips are left out:
    "same task" is undefined for two clips that both did something else. Including success/failure
    pairs of the same task (label 0) is what makes this discriminator a success detector too.
    """
    v = _f32(features["video"])
    n = v.shape[0]
    did_task = labels.success.bool() | (labels.domain == HUMAN)
    ii, jj = torch.meshgrid(torch.arange(n, device=v.device), torch.arange(n, device=v.device), indexing="ij")
    keep = (ii != jj) & (did_task[:, None] | did_task[None, :])
    if not bool(keep.any()):
        return _zero(features)
    a, b = ii[keep], jj[keep]
    target = (did_task[a] & did_task[b] & (labels.task[a] == labels.task[b])).float()
    return F.binary_cross_entropy_with_logits(_f32(head(v[a], v[b])), target.to(v.dtype))


@dataclass
class ObjectiveConfig:
    """Which objective to train and how to weigh its parts.

    objective: "a2r" (CDC + VLC with failure-text negatives + fVLC + BCE), "no_failure_data"
    (CDC + VLC without failure texts; the sampler drops failure clips), "bce_only" (CDC + plain
    VLC + BCE: failures seen only through the success head), "dvd" (the pair discriminator only).
    temperature: fixed tau for every contrastive loss; None uses the model's learnable logit_scale.
    progress: add the progress objective (a2r_core.training.progress; beyond the paper, off by
    default so "a2r" stays the paper's method), weighted by weights["progress"]. It needs training
    clips that are whole episodes with more frames than the model samples (data num_frames, e.g.
    16), so prefixes can be cut. progress_rewind: also rank rewound attempts below the cut they were
    rewound from; progress_failures: rank robot failures below the batch's successes of the same
    task; progress_human: also cut prefix pairs from the second domain's demonstrations;
    progress_full_fraction: how often the later cut of a prefix pair is the whole clip.
    progress_branches: a branch-pair manifest (`a2r data branches`, `a2r data interventions`) or a
    list of them: each step also ranks `progress_branch_pairs` continuations above deviations from
    the same state, drawn from all of them together (a2r_core.training.branch_pairs), weighted by
    weights["branch"]; needs `progress`.
    vlc_task_bank: VLC's video->text side also contrasts each clip with one instruction of EVERY
    training task (a paraphrase drawn per step), not only the batch's: with 50 second-domain tasks
    and 8 second-domain clips a batch, in-batch VLC shows a clip at most 7 other tasks' words, so
    the alignment of tasks that exist only in the second domain is barely learned (beyond the
    paper; off by default; docs/model.md).
    """

    objective: str = "a2r"
    weights: dict[str, float] = field(default_factory=dict)
    temperature: Optional[float] = None
    dvd_hidden: int = 256
    progress: bool = False
    progress_rewind: bool = True
    progress_failures: bool = True
    progress_human: bool = False
    progress_full_fraction: float = 0.5
    progress_branches: Optional[Union[str, list[str]]] = None
    progress_branch_pairs: int = 8
    vlc_task_bank: bool = False

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"loss.objective: {self.objective!r} is not one of {', '.join(OBJECTIVES)}")
        unknown = set(self.weights) - set(LOSS_NAMES)
        if unknown:
            raise ConfigError(f"loss.weights: unknown loss name(s) {sorted(unknown)}; known: {LOSS_NAMES}")
        for name, w in self.weights.items():
            if not isinstance(w, (int, float)) or w < 0:
                raise ConfigError(f"loss.weights.{name}: must be a number >= 0, got {w!r}")
        self.weights = {name: float(self.weights.get(name, 1.0)) for name in LOSS_NAMES}
        if not 0.0 <= self.progress_full_fraction <= 1.0:
            raise ConfigError(f"loss.progress_full_fraction: must be in [0, 1], got {self.progress_full_fraction!r}")
        if isinstance(self.progress_branches, str):
            self.progress_branches = [self.progress_branches]
        if self.progress_branches is not None and (
                not self.progress_branches or not all(isinstance(m, str) and m for m in self.progress_branches)):
            raise ConfigError("loss.progress_branches: a manifest path or a non-empty list of them, "
                              f"got {self.progress_branches!r}")
        if self.progress_branches is not None and not self.progress:
            raise ConfigError("loss.progress_branches: branch pairs are part of the progress objective; set loss.progress: true")
        if not isinstance(self.progress_branch_pairs, int) or self.progress_branch_pairs < 1:
            raise ConfigError(f"loss.progress_branch_pairs: must be an integer >= 1, got {self.progress_branch_pairs!r}")
        if not isinstance(self.vlc_task_bank, bool):
            raise ConfigError(f"loss.vlc_task_bank: must be true or false, got {self.vlc_task_bank!r}")
        if self.vlc_task_bank and self.objective == "dvd":
            raise ConfigError("loss.vlc_task_bank: the dvd baseline has no VLC loss")
        if self.progress and self.objective == "dvd":
            raise ConfigError("loss.progress: the dvd baseline has no clip reward to rank; use it with another objective")
        if self.temperature is not None and not (isinstance(self.temperature, (int, float)) and self.temperature > 0):
            raise ConfigError(f"loss.temperature: must be > 0 or null, got {self.temperature!r}")

    @property
    def uses_failure_clips(self) -> bool:
        return self.objective != "no_failure_data"

    @property
    def active_losses(self) -> tuple[str, ...]:
        return {
            "a2r": ("cdc", "vlc", "fvlc", "bce"),
            "no_failure_data": ("cdc", "vlc"),
            "bce_only": ("cdc", "vlc", "bce"),
            "dvd": ("dvd",),
        }[self.objective]


class Objective(nn.Module):
    """The weighted total of the selected objective's losses.

    A module (not a function) because the "dvd" objective owns trainable parameters (the pair head);
    for the others it has none. `forward` returns (total, {loss name: unweighted value}).
    """

    def __init__(self, config: ObjectiveConfig, embed_dim: int) -> None:
        super().__init__()
        self.config = config
        self.dvd_head = DVDPairHead(embed_dim, config.dvd_hidden) if config.objective == "dvd" else None

    def forward(self, features: Mapping[str, torch.Tensor], labels: LossLabels
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg = self.config
        tau = cfg.temperature
        parts: dict[str, torch.Tensor] = {}
        for name in cfg.active_losses:
            if name == "cdc":
                parts[name] = cdc_loss(features, labels, tau)
            elif name == "vlc":
                parts[name] = vlc_loss(features, labels, tau, failure_negatives=cfg.objective == "a2r")
            elif name == "fvlc":
                parts[name] = fvlc_loss(features, labels, tau)
            elif name == "bce":
                parts[name] = bce_loss(features, labels)
            elif name == "dvd":
                assert self.dvd_head is not None
                parts[name] = dvd_loss(features, labels, self.dvd_head)
        total = sum(cfg.weights[name] * value for name, value in parts.items())
        # Keep every model output in the graph so DDP sees the same parameters used on each rank.
        total = total + _zero(features) + features["text"].sum() * 0.0 \
            + features["failure_text"].sum() * 0.0 + features["success_logit"].sum() * 0.0 \
            + features["logit_scale"] * 0.0
        return total, {k: v.detach() for k, v in parts.items()}
