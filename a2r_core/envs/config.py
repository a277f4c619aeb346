"""The configuration of a2r's gymnasium reward wrappers (single env and vector form).

One dataclass serves both wrappers so a single-env run and a vector run with the same values give
the same rewards. It validates itself in `__post_init__` (a2r_core.errors.ConfigError naming the
field), so a typo in a YAML file fails at construction, not after an hour of training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from a2r_core.clip_buffer import ClipBufferConfig
from a2r_core.dataclass_config import build_dataclass
from a2r_core.errors import ConfigError

MODES = ("replace", "add", "info")
BETWEEN_CLIPS = ("hold", "zero")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class A2RRewardConfig:
    """How an env's steps become a2r rewards.

    instruction:   the language instruction every clip is scored against.
    mode:          "replace": the step reward is the a2r reward; "add": env reward + weight * a2r
                   reward; "info": the env reward is untouched. In every mode `info["a2r"]` holds
                   the a2r numbers of the step.
    weight:        the a2r reward's factor in mode "add".
    between_clips: the a2r reward of a step whose frame completed no clip: "hold" (the reward of
                   the latest clip of the episode; `initial_reward` before the first one) or "zero".
    initial_reward: the a2r reward before the episode's first clip (with the buffer's default
                   min_frames=2 the first clip comes at the first step, so this rarely shows).
    fps:           the env's control frequency: the frame of step t is stamped t / fps seconds, and
                   the buffer's window and stride are in those seconds. None: the env's
                   `metadata["render_fps"]` (MetaWorld: 80).
    render_every:  render and buffer a frame every this many steps (1: every step). Rendering is
                   usually the costliest part of a step and a clip samples only `num_frames`
                   frames of its window, so 2-4 loses little; stamps stay step / fps.
    buffer:        the `ClipBuffer` settings (window, stride, frames per clip), the very class the
                   ROS reward node uses. None: `ClipBufferConfig(num_frames=<the model's>)`, the
                   node's defaults (2 s window, a clip every 0.5 s). A mapping is accepted (YAML).
    terminate_threshold: end the episode (`terminated=True`) once the success probability is >=
                   this for `terminate_after` consecutive scored clips. None (default): never.
    terminate_after: N above; a clip scoring below the threshold starts the count again.
    """

    instruction: str
    mode: str = "replace"
    weight: float = 1.0
    between_clips: str = "hold"
    initial_reward: float = 0.0
    fps: float | None = None
    render_every: int = 1
    buffer: ClipBufferConfig | None = None
    terminate_threshold: float | None = None
    terminate_after: int = 1

    def __post_init__(self) -> None:
        def need(cond: bool, message: str) -> None:
            if not cond:
                raise ConfigError(f"a2r reward wrapper: {message}")

        need(isinstance(self.instruction, str) and bool(self.instruction.strip()),
             f"instruction must be a non-empty string, got {self.instruction!r}")
        self.instruction = self.instruction.strip()
        need(self.mode in MODES, f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        need(_finite(self.weight), f"weight must be a finite number, got {self.weight!r}")
        need(self.between_clips in BETWEEN_CLIPS,
             f"between_clips must be one of {', '.join(BETWEEN_CLIPS)}, got {self.between_clips!r}")
        need(_finite(self.initial_reward), f"initial_reward must be a finite number, got {self.initial_reward!r}")
        need(self.fps is None or (_finite(self.fps) and self.fps > 0),
             f"fps must be None (the env's metadata['render_fps']) or a number > 0, got {self.fps!r}")
        need(isinstance(self.render_every, int) and not isinstance(self.render_every, bool) and self.render_every >= 1,
             f"render_every must be an integer >= 1, got {self.render_every!r}")
        if isinstance(self.buffer, dict):
            self.buffer = build_dataclass(ClipBufferConfig, self.buffer, "a2r reward wrapper: buffer")
        need(self.buffer is None or isinstance(self.buffer, ClipBufferConfig),
             f"buffer must be None, a ClipBufferConfig or a mapping of its fields, got {type(self.buffer).__name__}")
        need(self.terminate_threshold is None or (_finite(self.terminate_threshold) and 0.0 <= self.terminate_threshold <= 1.0),
             f"terminate_threshold must be None (no termination) or a probability in [0, 1], got {self.terminate_threshold!r}")
        need(isinstance(self.terminate_after, int) and not isinstance(self.terminate_after, bool) and self.terminate_after >= 1,
             f"terminate_after must be an integer >= 1 (consecutive scored clips), got {self.terminate_after!r}")

    @classmethod
    def from_arg(cls, config: "A2RRewardConfig | str", who: str) -> "A2RRewardConfig":
        """A wrapper's `config` argument: a config, or just the instruction text (all else default);
        ConfigError naming `who` for anything else."""
        if isinstance(config, str):
            return cls(instruction=config)
        if not isinstance(config, cls):
            raise ConfigError(f"{who}: config must be an A2RRewardConfig or an instruction string, "
                              f"got {type(config).__name__}")
        return config

    def buffer_config(self, model_num_frames: int) -> ClipBufferConfig:
        """The ClipBuffer settings to use with a model sampling `model_num_frames` per clip."""
        return self.buffer if self.buffer is not None else ClipBufferConfig(num_frames=int(model_num_frames))

    def combine(self, env_reward: float, a2r_reward: float) -> float:
        """The step reward the agent sees in this mode."""
        if self.mode == "replace":
            return float(a2r_reward)
        if self.mode == "add":
            return float(env_reward) + float(self.weight) * float(a2r_reward)
        return float(env_reward)
