"""Stamped frames -> ClipBuffer -> RewardModel.score -> reward rows: the ONE scoring loop.

Why one place: the live reward node and offline bag scoring (`a2r score-bag`) must publish the
same rewards for the same frames. Both push (stamp, RGB frame) pairs into a `StreamScorer`, which
owns the `ClipBuffer` (stamp-ordered window, stride, resets) and turns every clip it emits into one
`ScoreRow` per instruction through `RewardModel.score`. A consumer only decides where rows go
(a RewardScore publisher, a CSV, a bag) and, for throughput, how many clips to batch per forward.

Batching does not change which clips are scored, only how many go through one `score` call: the
rows are the same up to float rounding of batched matrix products (~1e-6).

Pure Python, no rclpy (a2r_core rule); the node converts rows to `a2r_ros/msg/RewardScore` itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from a2r_core.clip_buffer import Clip, ClipBuffer, ClipBufferConfig
from a2r_core.errors import ConfigError
from a2r_core.instructions import check_instructions

if TYPE_CHECKING:  # the reward model pulls in torch; importing it here only for types
    from a2r_core.reward import RewardModel


@dataclass(frozen=True)
class ScoreRow:
    """The reward of one clip for one instruction: exactly the payload of a RewardScore message.

    `stamp_ns` is the newest frame's header stamp (RewardScore.header.stamp / clip_end);
    `log_time_ns` is the arrival/record time of the frame whose arrival completed the clip (the
    moment a live node would have emitted it; the newest frame unless frames arrived out of
    order), when the producer knows it (bag scoring: the bag's log time, so a reward lands next
    to its image on playback), else -1.
    """

    stamp_ns: int
    clip_start_ns: int
    frame_count: int
    frame_id: str
    instruction: str
    reward: float
    success_probability: float
    failure_mode_scores: tuple[float, ...]  # K probabilities; () when the instruction's task has no failure prompts
    most_likely_failure_mode: int           # index into failure_mode_scores; -1 when it is empty
    model_id: str
    inference_latency_ms: float
    log_time_ns: int = -1
    resolved_task: str = ""  # the task the instruction was taken for (RewardModel.resolve_instruction); "": unseen

    def as_record(self) -> dict:
        """JSON/CSV-friendly dict (stamps in ns and in seconds)."""
        return {
            "stamp_ns": self.stamp_ns,
            "stamp_s": self.stamp_ns / 1e9,
            "clip_start_ns": self.clip_start_ns,
            "frame_count": self.frame_count,
            "frame_id": self.frame_id,
            "instruction": self.instruction,
            "reward": self.reward,
            "success_probability": self.success_probability,
            "most_likely_failure_mode": self.most_likely_failure_mode,
            "failure_mode_scores": list(self.failure_mode_scores),
            "model_id": self.model_id,
            "inference_latency_ms": self.inference_latency_ms,
            "resolved_task": self.resolved_task,
        }


def score_clips(
    model: "RewardModel",
    clips: Sequence[Clip],
    instructions: Sequence[str],
    log_times_ns: Sequence[int] | None = None,
) -> list[ScoreRow]:
    """Score `clips` x `instructions` in one `RewardModel.score` call -> rows, clip-major.

    `inference_latency_ms` of each row is the forward's wall time divided by the number of clips
    (the share of one clip; for a single clip, the forward time itself).
    """
    if not clips:
        return []
    started = time.perf_counter()
    out = model.score([c.frames for c in clips], list(instructions))
    latency_ms = (time.perf_counter() - started) * 1000.0 / len(clips)
    reward = np.asarray(out.reward, dtype=np.float32)
    success = np.asarray(out.success_prob, dtype=np.float32)
    modes = np.asarray(out.failure_mode_probs, dtype=np.float32)
    best = np.asarray(out.most_likely_failure_mode, dtype=np.int32)
    rows: list[ScoreRow] = []
    for c, clip in enumerate(clips):
        log_time = int(log_times_ns[c]) if log_times_ns is not None else -1
        for i, text in enumerate(instructions):
            rows.append(
                ScoreRow(
                    stamp_ns=clip.end_ns,
                    clip_start_ns=clip.start_ns,
                    frame_count=clip.num_frames,
                    frame_id=clip.frame_id,
                    instruction=text,
                    reward=float(reward[c, i]),
                    success_probability=float(success[c, i]),
                    # RewardOutput pads an instruction without failure texts with K zeros (its
                    # arrays are [B, I, K]); a row, a RewardScore and a CSV cell say "none" with
                    # an empty list and mode -1, as RewardScore.msg documents.
                    failure_mode_scores=tuple(float(x) for x in modes[c, i]) if best[c, i] >= 0 else (),
                    most_likely_failure_mode=int(best[c, i]) if best[c, i] >= 0 else -1,
                    model_id=str(model.model_id),
                    inference_latency_ms=float(latency_ms),
                    log_time_ns=log_time,
                    resolved_task=(out.resolved_tasks[i] or "") if out.resolutions else "",
                )
            )
    return rows


class StreamScorer:
    """Frames in, reward rows out: a ClipBuffer feeding RewardModel.score, batched.

    `push` returns the rows that became ready (possibly none); `flush` scores clips still waiting
    for a full batch. With `batch_size=1` every clip is scored as soon as the buffer emits it (what
    a live node wants for latency); bag scoring batches for throughput.
    """

    def __init__(
        self,
        model: "RewardModel",
        instructions: Sequence[str],
        buffer_config: ClipBufferConfig | None = None,
        batch_size: int = 1,
    ) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        self.model = model
        self.instructions = check_instructions(list(instructions))
        self.buffer = ClipBuffer(buffer_config or ClipBufferConfig(num_frames=int(model.num_frames)))
        self.batch_size = batch_size
        self._pending: list[Clip] = []
        self._pending_log: list[int] = []
        self.events: list[str] = []  # buffer resets and drops, for a summary line
        self.last_clip: Clip | None = None  # the clip the latest push emitted (None: it emitted none)

    def push(self, stamp_ns: int, frame: np.ndarray, frame_id: str = "", log_time_ns: int = -1) -> list[ScoreRow]:
        """Add one RGB uint8 [H, W, 3] frame stamped `stamp_ns` (header stamp, ns)."""
        result = self.buffer.push(stamp_ns, frame, frame_id)
        if result.event:
            self.events.append(f"{stamp_ns / 1e9:.3f} s: {result.event}")
        self.last_clip = result.clip
        if result.clip is None:
            return []
        self._pending.append(result.clip)
        self._pending_log.append(int(log_time_ns))
        if len(self._pending) >= self.batch_size:
            return self.flush()
        return []

    def flush(self) -> list[ScoreRow]:
        """Score every clip waiting for a batch."""
        clips, logs = self._pending, self._pending_log
        self._pending, self._pending_log = [], []
        return score_clips(self.model, clips, self.instructions, logs)
