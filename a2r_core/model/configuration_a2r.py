"""`A2RConfig`: everything needed to rebuild an `Adapt2Reward` module, stored as checkpoint config.json.

Why one dataclass: the trainer, the checkpoint loader and the reward API must agree on the exact
architecture; a checkpoint's config.json is this dataclass's `to_dict()`, and `from_dict()` rejects
unknown keys and bad values with a `ConfigError` naming the field, so a wrong or hand-edited config
fails at load time instead of deep inside a forward pass.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from a2r_core.dataclass_config import build_dataclass
from a2r_core.errors import ConfigError
from a2r_core.instructions import normalize as normalize_instruction  # the key of the instruction -> task lookup
from a2r_core.reward_modes import REWARD_MODES

BACKBONE_NAMES = ("a2r-small", "xclip", "clip")
SUCCESS_HEAD_KINDS = ("mlp", "cosine", "video")
UNSEEN_TASK_PROMPTS = ("omit", "mean")




@dataclass
class A2RConfig:
    """Architecture of an Adapt2Reward model.

    For the "xclip"/"clip" backbones `embed_dim`, `num_frames` (X-CLIP) and `image_size` are fixed
    by the pretrained model; `Adapt2Reward` overwrites them with the pretrained values when it is
    built, so the config stored in a checkpoint always describes the real module.
    """

    backbone: str = "a2r-small"
    backbone_path: str | None = None
    text_model_path: str | None = None
    embed_dim: int = 256
    num_frames: int = 8
    image_size: int = 112
    num_failure_prompts: int = 3
    prompt_length: int = 4
    tasks: list[str] = field(default_factory=list)
    task_instructions: dict[str, list[str]] = field(default_factory=dict)
    # a2r-small video encoder: per-frame ViT (patch embedding + `video_depth` blocks) then
    # `temporal_depth` blocks of attention over the frames' CLS tokens.
    patch_size: int = 16
    video_width: int = 192
    video_depth: int = 4
    video_heads: int = 3
    temporal_depth: int = 1
    # Motion input: each frame's patches also carry their change since the clip's first frame
    # (x_t - x_0), so what moved (the drawer, the button) stands out and the static scene (table,
    # light, clutter) cancels; the patch embedding then takes 2 x 3 x patch^2 numbers. Off by
    # default (older checkpoints have no such field and load as False).
    motion_input: bool = False
    # How frames and clips are read out: "cls" (a learned token attends to the patches, then one to
    # the frames, as ViT) or "mean" (the average of the patch tokens, then of the frame tokens).
    # From scratch on a few hundred clips, "cls" readouts collapse to a constant for the first
    # hundred-odd steps (measured: patch-embedding gradients fall 1000x while the loss sits at
    # chance) and "mean" does not; "cls" stays the default so older checkpoints load unchanged.
    video_pool: str = "cls"
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    # Text side.
    freeze_text: bool = True
    max_text_length: int = 32
    # Contrastive temperature: logit_scale = exp(learnable log(1 / init_temperature)), <= max.
    init_temperature: float = 0.07
    max_logit_scale: float = 100.0
    # Success head: "mlp" on [v, t, v*t] (instruction-conditioned, default), "cosine" (a*cos(v,t)+b)
    # or "video" (linear on v alone: the success-detector baseline, not instruction-conditioned).
    success_head: str = "mlp"
    success_head_hidden: int = 256
    # Failure prompts.
    prompt_init_std: float = 0.02
    unseen_task_prompts: str = "omit"  # "omit": no failure texts for unseen tasks; "mean": task-mean prompts
    # The reward RewardModel computes unless told otherwise (a2r_core.reward_modes, see
    # a2r_core.reward). The trainer records the one its best checkpoint was selected on, so a
    # deployed checkpoint scores the way it was validated.
    reward_mode: str = "cosine"

    def __post_init__(self) -> None:
        def pos_int(name: str, allow_zero: bool = False) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (0 if allow_zero else 1):
                raise ConfigError(f"model.{name}: must be an integer >= {0 if allow_zero else 1}, got {v!r}")

        if self.backbone not in BACKBONE_NAMES:
            raise ConfigError(f"model.backbone: must be one of {', '.join(BACKBONE_NAMES)}, got {self.backbone!r}")
        if self.backbone in ("xclip", "clip") and not self.backbone_path:
            raise ConfigError(f"model.backbone_path: required for backbone {self.backbone!r} (hub id or local dir)")
        for name in ("backbone_path", "text_model_path"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, str) or not v.strip()):
                raise ConfigError(f"model.{name}: must be a non-empty string or null, got {v!r}")
        for name in ("embed_dim", "num_frames", "image_size", "patch_size", "video_width", "video_depth",
                     "video_heads", "max_text_length", "success_head_hidden"):
            pos_int(name)
        for name in ("num_failure_prompts", "prompt_length", "temporal_depth"):
            pos_int(name, allow_zero=True)
        if self.num_failure_prompts > 0 and self.prompt_length == 0:
            raise ConfigError("model.prompt_length: must be >= 1 when num_failure_prompts > 0")
        if self.backbone == "a2r-small":
            if self.image_size % self.patch_size:
                raise ConfigError(f"model.image_size ({self.image_size}) must be a multiple of "
                                  f"model.patch_size ({self.patch_size})")
            if self.video_pool not in ("cls", "mean"):
                raise ConfigError(f"model.video_pool must be 'cls' or 'mean', got {self.video_pool!r}")
            if self.video_width % self.video_heads:
                raise ConfigError(f"model.video_width ({self.video_width}) must be a multiple of "
                                  f"model.video_heads ({self.video_heads})")
        for name, lo in (("mlp_ratio", 0.0), ("init_temperature", 0.0), ("max_logit_scale", 1.0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= lo:
                raise ConfigError(f"model.{name}: must be a finite number > {lo}, got {v!r}")
        if 1.0 / self.init_temperature > self.max_logit_scale:
            raise ConfigError(f"model.init_temperature: 1/{self.init_temperature} exceeds "
                              f"max_logit_scale {self.max_logit_scale}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ConfigError(f"model.dropout: must be in [0, 1), got {self.dropout!r}")
        if isinstance(self.prompt_init_std, bool) or not isinstance(self.prompt_init_std, (int, float)) \
                or self.prompt_init_std < 0:
            raise ConfigError(f"model.prompt_init_std: must be >= 0, got {self.prompt_init_std!r}")
        if not isinstance(self.freeze_text, bool):
            raise ConfigError(f"model.freeze_text: must be true or false, got {self.freeze_text!r}")
        if self.success_head not in SUCCESS_HEAD_KINDS:
            raise ConfigError(f"model.success_head: must be one of {', '.join(SUCCESS_HEAD_KINDS)}, "
                              f"got {self.success_head!r}")
        if self.reward_mode not in REWARD_MODES:
            raise ConfigError(f"model.reward_mode: must be one of {', '.join(REWARD_MODES)}, got {self.reward_mode!r}")
        if self.unseen_task_prompts not in UNSEEN_TASK_PROMPTS:
            raise ConfigError(f"model.unseen_task_prompts: must be one of {', '.join(UNSEEN_TASK_PROMPTS)}, "
                              f"got {self.unseen_task_prompts!r}")
        self._validate_tasks()

    def _validate_tasks(self) -> None:
        if not isinstance(self.tasks, (list, tuple)) or not all(isinstance(t, str) and t for t in self.tasks):
            raise ConfigError(f"model.tasks: must be a list of non-empty task names, got {self.tasks!r}")
        self.tasks = list(self.tasks)
        dup = sorted({t for t in self.tasks if self.tasks.count(t) > 1})
        if dup:
            raise ConfigError(f"model.tasks: duplicate task name(s) {dup}")
        if not isinstance(self.task_instructions, dict):
            raise ConfigError("model.task_instructions: must be a mapping task -> list of instructions")
        owner: dict[str, str] = {}
        for task, texts in self.task_instructions.items():
            if task not in self.tasks:
                raise ConfigError(f"model.task_instructions: task {task!r} is not in model.tasks")
            if isinstance(texts, str) or not isinstance(texts, (list, tuple)) or not texts \
                    or not all(isinstance(t, str) and t.strip() for t in texts):
                raise ConfigError(f"model.task_instructions[{task!r}]: must be a non-empty list of "
                                  f"non-empty strings, got {texts!r}")
            for text in texts:
                key = normalize_instruction(text)
                if owner.setdefault(key, task) != task:
                    raise ConfigError(f"model.task_instructions: instruction {text!r} is listed for both "
                                      f"{owner[key]!r} and {task!r}")
        self.task_instructions = {k: list(v) for k, v in self.task_instructions.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe plain dict (the checkpoint's config.json)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "A2RConfig":
        """Inverse of `to_dict`; unknown keys and bad values raise `ConfigError`."""
        if not isinstance(d, dict):
            raise ConfigError(f"model config: must be a mapping, got {type(d).__name__}")
        return build_dataclass(cls, d, "model config")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
