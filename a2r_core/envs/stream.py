"""One env's frames -> clips -> a2r numbers: the part the single and vector wrappers share.

Why a separate piece: the vector wrapper must give exactly the single wrapper's numbers on the same
seeds, so both keep one `RewardStream` per env (the same `ClipBuffer`, stamps, hold and termination
rules) and differ only in how many clips go into one `RewardModel.score` call
(`score_stream_clips`: one call for all sub-envs' clips of a step).

Frames are resized to the model's input size once, on arrival, with `a2r_core.images.resize_frames`
(what the ROS reward node does with camera frames and what `RewardModel.score` does to larger
clips), so the buffer holds small frames and the scores equal those of scoring the full-size clip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from a2r_core.clip_buffer import Clip, ClipBuffer, NS_PER_S
from a2r_core.envs.config import A2RRewardConfig
from a2r_core.errors import ConfigError, InputError
from a2r_core.images import resize_frames
from a2r_core.scoring import score_clips

if TYPE_CHECKING:  # torch comes with the model; only for types here
    from a2r_core.reward import RewardModel


@dataclass(frozen=True)
class ClipScore:
    """The a2r numbers of one scored clip."""

    reward: float
    success_probability: float
    most_likely_failure_mode: int


def resolve_fps(config: A2RRewardConfig, metadata: Mapping[str, Any] | None) -> float:
    """The control frequency that turns step indices into stamps: `config.fps`, else the env's
    `metadata["render_fps"]`; ConfigError when neither is a positive number."""
    if config.fps is not None:
        return float(config.fps)
    fps = (metadata or {}).get("render_fps")
    if fps is None or not isinstance(fps, (int, float)) or not np.isfinite(fps) or fps <= 0:
        raise ConfigError(
            f"a2r reward wrapper: the env's metadata has no usable 'render_fps' ({fps!r}); give the env's control "
            f"frequency as A2RRewardConfig(fps=...) (steps per second: the clip window and stride are in seconds)")
    return float(fps)


def check_frame(frame: Any, where: str) -> np.ndarray:
    """A rendered frame must be RGB uint8 [H, W, 3]; anything else is a clear InputError."""
    if frame is None:
        raise InputError(f"{where}: render() returned None; create the env with render_mode='rgb_array'")
    arr = np.asarray(frame)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise InputError(f"{where}: render() must return an RGB uint8 [H, W, 3] frame, got {arr.dtype} {tuple(arr.shape)}")
    return arr


class RewardStream:
    """The a2r state of one env episode: its ClipBuffer, step index, held reward, success streak."""

    def __init__(self, config: A2RRewardConfig, num_frames: int, image_size: int, fps: float) -> None:
        self.config = config
        self.buffer = ClipBuffer(config.buffer_config(num_frames))
        self.image_size = int(image_size)
        self.fps = float(fps)
        self.step_index = 0
        self.reset()

    def reset(self) -> None:
        """A new episode: empty buffer, step 0, nothing scored yet."""
        self.buffer.reset()
        self.step_index = 0
        self.last = ClipScore(float(self.config.initial_reward), 0.0, -1)
        self.streak = 0

    def stamp_ns(self, step_index: int) -> int:
        return int(round(step_index * NS_PER_S / self.fps))

    def wants_frame(self) -> bool:
        """Whether the current step's frame is rendered (every `render_every` steps, and step 0)."""
        return self.step_index % self.config.render_every == 0

    def push(self, frame: np.ndarray) -> Clip | None:
        """Buffer the current step's frame (resized once to the model's size); the clip it
        completes, if any."""
        # Contiguous first: gymnasium's MuJoCo renderer returns a vertically flipped view (negative
        # stride), which torch (the resize) cannot read.
        small = resize_frames(np.ascontiguousarray(frame), self.image_size)
        if small is frame:  # neither copied nor resized: own the pixels (an env may reuse its buffer)
            small = np.array(frame, copy=True)
        return self.buffer.push(self.stamp_ns(self.step_index), small).clip

    def update(self, score: ClipScore | None) -> dict[str, Any]:
        """Record this step's score (None: no clip this step) -> the numbers of `info["a2r"]`.

        `terminate` is True when the success probability has been >= the threshold for
        `terminate_after` consecutive scored clips (never when termination is off).
        """
        cfg = self.config
        fresh = score is not None
        if fresh:
            self.last = score
            above = cfg.terminate_threshold is not None and score.success_probability >= cfg.terminate_threshold
            self.streak = self.streak + 1 if above else 0
        reward = self.last.reward if (fresh or cfg.between_clips == "hold") else 0.0
        return {
            "reward": float(reward),
            "success_probability": float(self.last.success_probability),
            "most_likely_failure_mode": int(self.last.most_likely_failure_mode),
            "fresh": fresh,
            "stamp_s": self.step_index / self.fps,
            "success_streak": int(self.streak),
            "terminate": cfg.terminate_threshold is not None and self.streak >= cfg.terminate_after,
        }


def score_stream_clips(model: "RewardModel", clips: Sequence[Clip], instructions: Sequence[str]) -> list[ClipScore]:
    """Score clip b against instructions[b], all clips in ONE `RewardModel.score` call (through
    `a2r_core.scoring.score_clips`, the path the node and bag scoring use)."""
    if not clips:
        return []
    if len(clips) != len(instructions):
        raise InputError(f"{len(clips)} clips but {len(instructions)} instructions (one per clip)")
    distinct = list(dict.fromkeys(instructions))
    rows = score_clips(model, list(clips), distinct)  # clip-major: rows[b * I + i]
    out = []
    for b, text in enumerate(instructions):
        row = rows[b * len(distinct) + distinct.index(text)]
        out.append(ClipScore(row.reward, row.success_probability, row.most_likely_failure_mode))
    return out
