"""`Adapt2Reward`: backbone + failure prompt pool + success head + learnable temperature.

The module computes features; the losses (a2r_core.losses) and the reward formula
(a2r_core.reward) consume them. `forward` returns everything one training step needs for a batch
of preprocessed clips, each with its own instruction and task index.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from .backbones import VideoTextBackbone, build_backbone
from .configuration_a2r import A2RConfig, normalize_instruction
from .preprocess import preprocess_clips
from .prompts import FailurePromptPool


class SuccessHead(nn.Module):
    """Success logit from a clip's video feature and its instruction's text feature.

    "mlp": MLP on [v, t, v*t] (instruction-conditioned; the last layer starts at zero so the
    initial probability is 0.5); "cosine": a * cos(v, t) + b with learnable a, b; "video": a linear
    layer on v alone (a plain success detector that ignores the instruction).
    """

    def __init__(self, kind: str, dim: int, hidden: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "mlp":
            self.net = nn.Sequential(nn.Linear(3 * dim, hidden), nn.GELU(), nn.Linear(hidden, 1))
            nn.init.zeros_(self.net[-1].weight)
            nn.init.zeros_(self.net[-1].bias)
        elif kind == "cosine":
            self.scale = nn.Parameter(torch.tensor(10.0))
            self.bias = nn.Parameter(torch.tensor(0.0))
        else:
            self.net = nn.Linear(dim, 1)
            nn.init.zeros_(self.net.weight)
            nn.init.zeros_(self.net.bias)

    def forward(self, v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.kind == "mlp":
            return self.net(torch.cat([v, t, v * t], dim=-1)).squeeze(-1)
        if self.kind == "cosine":
            return self.scale * (v * t).sum(-1) + self.bias
        return self.net(v).squeeze(-1)


class Adapt2Reward(nn.Module):
    """The Adapt2Reward model (see docs/model.md).

    `assets_dir` is for checkpoint loading only (a checkpoint's `backbone/` folder): the backbone is
    then rebuilt from it without loading pretrained weights. `config` is copied; fields fixed by a
    pretrained backbone (embed_dim, image_size, num_frames) are resolved in `self.config`.
    """

    def __init__(self, config: A2RConfig, assets_dir: Path | None = None) -> None:
        super().__init__()
        backbone = build_backbone(config, assets_dir)
        self.config = dataclasses.replace(config, embed_dim=backbone.embed_dim, image_size=backbone.image_size,
                                          num_frames=backbone.num_frames,
                                          tasks=list(config.tasks),
                                          task_instructions={k: list(v) for k, v in config.task_instructions.items()})
        self.backbone: VideoTextBackbone = backbone
        cfg = self.config
        self.prompts = FailurePromptPool(len(cfg.tasks), cfg.num_failure_prompts, cfg.prompt_length,
                                         backbone.text_width, cfg.prompt_init_std, cfg.unseen_task_prompts)
        self.success_head = SuccessHead(cfg.success_head, cfg.embed_dim, cfg.success_head_hidden)
        self.log_logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / cfg.init_temperature)))
        self._task_index = {t: i for i, t in enumerate(cfg.tasks)}
        self._instruction_task = {normalize_instruction(text): task
                                  for task, texts in cfg.task_instructions.items() for text in texts}

    # ---- bookkeeping ---------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.log_logit_scale.device

    @property
    def num_failure_prompts(self) -> int:
        """K when the model has a prompt pool, else 0."""
        return self.config.num_failure_prompts if self.prompts.enabled else 0

    def task_index(self, task: str) -> int:
        """Row of `task` in the prompt pool; -1 if unknown."""
        return self._task_index.get(task, -1)

    def task_for_instruction(self, instruction: str) -> str | None:
        """Task whose `task_instructions` paraphrases contain `instruction` (case/space normalised)."""
        return self._instruction_task.get(normalize_instruction(instruction))

    def instruction_task_index(self, instruction: str) -> int:
        """Prompt-pool row for an instruction; -1 for an unseen instruction/task."""
        task = self.task_for_instruction(instruction)
        return -1 if task is None else self.task_index(task)

    def persistent_state_dict(self) -> dict[str, torch.Tensor]:
        """State dict without what is reloaded from installed packages (checkpoint content)."""
        skip = tuple("backbone." + p for p in self.backbone.non_persistent_prefixes())
        return {k: v for k, v in self.state_dict().items() if not (skip and k.startswith(skip))}

    # ---- features ------------------------------------------------------------------------------
    @property
    def logit_scale(self) -> torch.Tensor:
        """exp(learnable log inverse temperature), clamped to <= config.max_logit_scale (CLIP)."""
        return self.log_logit_scale.exp().clamp(max=self.config.max_logit_scale)

    def preprocess(self, clips_uint8: torch.Tensor) -> torch.Tensor:
        """[B, T', H, W, 3] uint8 -> [B, T, 3, S, S] float on the model's device (see preprocess.py)."""
        b = self.backbone
        return preprocess_clips(clips_uint8.to(self.device), b.num_frames, b.image_size, b.image_mean, b.image_std)

    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        """[B, T, 3, S, S] -> [B, D], L2-normalised."""
        return self.backbone.encode_video(video)

    def encode_clips(self, clips_uint8: torch.Tensor) -> torch.Tensor:
        """uint8 clips [B, T', H, W, 3] -> [B, D], L2-normalised: `encode_video(preprocess(...))`.

        Why a separate entry: inference (RewardModel) hands over uint8 clips, and a backbone that
        can take them directly (a2r-small at its input size: `encode_uint8_clips`) skips the float
        preprocessing copies with the same result. The preprocessing fallback runs outside any
        autocast region (in float32, as training does), the encoder under the caller's.
        """
        clips_uint8 = clips_uint8.to(self.device)
        direct = getattr(self.backbone, "encode_uint8_clips", None)
        out = direct(clips_uint8) if direct is not None else None
        if out is not None:
            return out
        with torch.autocast(device_type=self.device.type, enabled=False):
            video = self.preprocess(clips_uint8)
        return self.encode_video(video)

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """[N] strings -> [N, D], L2-normalised; each distinct string is encoded once."""
        texts = list(texts)
        unique = list(dict.fromkeys(texts))
        feats = self.backbone.encode_text(unique)
        if len(unique) == len(texts):
            return feats
        pos = {t: i for i, t in enumerate(unique)}
        return feats[torch.tensor([pos[t] for t in texts], device=feats.device)]

    def failure_text_features(self, task_ids: torch.Tensor, instructions: Sequence[str]) -> torch.Tensor:
        """task_ids [N] long, N instructions -> [N, K, D], L2-normalised.

        Row n, mode k: prompt P[task_ids[n], k] spliced in front of instructions[n]'s tokens and run
        through the text encoder (gradients reach the prompt vectors). task_ids == -1 uses the
        shared mean prompts (`FailurePromptPool.shared`). Distinct (task, instruction) pairs are
        encoded once.
        """
        instructions = list(instructions)
        if task_ids.ndim != 1 or task_ids.shape[0] != len(instructions):
            raise ValueError(f"task_ids must be [{len(instructions)}], got {list(task_ids.shape)}")
        k, d = self.num_failure_prompts, self.config.embed_dim
        if k == 0 or not instructions:
            return self.log_logit_scale.new_zeros(len(instructions), k, d)
        keys = list(zip(task_ids.tolist(), instructions))
        unique = list(dict.fromkeys(keys))
        ids = torch.tensor([u[0] for u in unique], dtype=torch.long, device=self.device)
        prompts = self.prompts(ids)  # [U, K, L_p, E]
        texts = [u[1] for u in unique for _ in range(k)]
        feats = self.backbone.encode_text_with_prompts(prompts.flatten(0, 1), texts).view(len(unique), k, -1)
        if len(unique) == len(keys):
            return feats
        pos = {u: i for i, u in enumerate(unique)}
        return feats[torch.tensor([pos[key] for key in keys], device=feats.device)]

    def success_logit(self, video_features: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
        """[B, D], [B, D] -> [B] success logit (instruction-conditioned unless success_head="video")."""
        return self.success_head(video_features, text_features)

    def forward(self, video: torch.Tensor, instructions: Sequence[str],
                task_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """One training step's features; see the keys below (B clips, K prompts, D dims).

        video [B, T, 3, S, S] preprocessed; instructions: B strings; task_ids [B] long, -1 = no row.
        Returns video [B, D], text [B, D], failure_text [B, K, D] (zeros where task_ids == -1),
        failure_text_mask [B] bool, success_logit [B], logit_scale (scalar).
        """
        instructions = list(instructions)
        if len(instructions) != video.shape[0]:
            raise ValueError(f"{video.shape[0]} clips but {len(instructions)} instructions")
        task_ids = task_ids.to(device=self.device, dtype=torch.long)
        v = self.encode_video(video)
        t = self.encode_text(instructions)
        mask = task_ids >= 0
        ft = v.new_zeros(v.shape[0], self.num_failure_prompts, v.shape[1])
        if self.num_failure_prompts and bool(mask.any()):
            rows = mask.nonzero().squeeze(1)
            feats = self.failure_text_features(task_ids[rows], [instructions[i] for i in rows.tolist()])
            ft = ft.index_copy(0, rows, feats.to(ft.dtype))
        return {
            "video": v,
            "text": t,
            "failure_text": ft,
            "failure_text_mask": mask,
            "success_logit": self.success_logit(v, t),
            "logit_scale": self.logit_scale,
        }


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


__all__ = ["Adapt2Reward", "SuccessHead", "count_parameters"]
