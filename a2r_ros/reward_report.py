"""What the reward node publishes besides being a node: a `RewardScore` per scoring row, and its
health as one `DiagnosticStatus`.

Kept apart from a2r_ros.reward_node so the node file holds the node's life (parameters,
lifecycle, callbacks) and this one the content of its messages; neither needs the other's state
beyond what is passed in.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from a2r_core.clip_buffer import ClipBuffer
from a2r_core.scoring import ScoreRow
from a2r_ros.camera_input import CameraInputWatch
from a2r_ros.image_conversion import BACKEND, ns_to_stamp
from a2r_ros.msg import RewardScore
from a2r_ros.node_util import DropOldestQueue, NodeStats, RejectionLog


def row_to_msg(row: ScoreRow) -> RewardScore:
    """A scoring row (a2r_core.scoring) -> the RewardScore message the node publishes."""
    msg = RewardScore()
    msg.header.stamp = ns_to_stamp(row.stamp_ns)
    msg.header.frame_id = row.frame_id
    msg.instruction = row.instruction
    msg.reward = float(row.reward)
    msg.success_probability = float(row.success_probability)
    msg.failure_mode_scores = [float(x) if np.isfinite(x) else 0.0 for x in row.failure_mode_scores]
    msg.most_likely_failure_mode = int(row.most_likely_failure_mode)
    msg.resolved_task = row.resolved_task
    msg.clip_start = ns_to_stamp(row.clip_start_ns)
    msg.clip_end = ns_to_stamp(row.stamp_ns)
    msg.frame_count = int(row.frame_count)
    msg.model_id = row.model_id
    msg.inference_latency_ms = float(row.inference_latency_ms)
    return msg


def reward_node_status(name: str, s: NodeStats, buffer: ClipBuffer, queue: DropOldestQueue,
                       rejections: RejectionLog, input_watch: CameraInputWatch, instructions: Sequence[str],
                       model_id: str) -> DiagnosticStatus:
    """The reward node's health (docs/ros.md, Diagnostics): counters, latency, the camera input's
    verdict and one `rejected: <reason>` value per kind of rejected frame; the level is the worst
    of model errors (ERROR), input problems (STALE / WARN), dropped frames or work (WARN)."""
    b = buffer.stats
    latencies = list(s.latencies_ms)
    values = {
        "inference_latency_ms_last": f"{latencies[-1]:.2f}" if latencies else "",
        "inference_latency_ms_mean": f"{np.mean(latencies):.2f}" if latencies else "",
        "inference_latency_ms_max": f"{np.max(latencies):.2f}" if latencies else "",
        "buffer_frames": str(len(buffer)),
        "buffer_fill": f"{buffer.fill:.3f}",
        "frames_received": str(s.frames_received),
        "frames_rejected": str(s.frames_rejected),
        "frames_dropped": str(b.dropped + s.frames_rejected),
        "buffer_resets": str(b.resets_backwards + b.resets_size),
        "clips_emitted": str(b.clips),
        "work_dropped": str(queue.dropped),
        "queue_depth": str(len(queue)),
        "clips_scored": str(s.clips_scored),
        "rewards_published": str(s.rewards_published),
        "non_finite_outputs": str(s.non_finite),
        "model_errors": str(s.model_errors),
        "queries": str(s.queries),
        "queries_rejected": str(s.queries_rejected),
        "instructions": " | ".join(instructions),
        "model_id": model_id,
        "image_backend": BACKEND,
        "last_warning": s.last_warning,
        **input_watch.values(),
        # one value per kind of rejected frame: "rejected: unsupported image encoding '32FC1'"
        **{f"rejected: {reason}": str(n) for reason, n in rejections.snapshot().items()},
    }
    input_problem = input_watch.level()
    if s.model_errors or s.non_finite:
        level, message = DiagnosticStatus.ERROR, "model errors"
    elif input_problem is not None:
        level, message = input_problem  # STALE (no frame for stale_timeout_s) or WARN (frames lost)
    elif queue.dropped or s.frames_rejected or b.dropped:
        level, message = DiagnosticStatus.WARN, "dropping frames or work"
    elif s.frames_received == 0:
        level, message = DiagnosticStatus.WARN, "no camera frames received yet"
    else:
        level, message = DiagnosticStatus.OK, "scoring"
    return DiagnosticStatus(level=level, name=name, message=message, hardware_id=model_id,
                            values=[KeyValue(key=k, value=v) for k, v in values.items()])
