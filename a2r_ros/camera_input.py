"""The reward node's watch on its camera input: missing frames become a WARN and a diagnostics status.

Why: frames lost on the way from a camera process (best-effort QoS without a shared-memory
profile, issue 15) used to leave the node silent: fewer rewards, clips of 3 frames instead of 8,
or none. The verdicts come from `a2r_core.frame_monitor.FrameMonitor` (received frames against
the rate the header stamps imply, stamp gaps, staleness); this module turns them into what a ROS
user reads: a WARN line when the input goes bad (at once, then at most one per kind of problem
per `REPEAT_S`), an INFO line when it recovers, and diagnostics values and level. The node's
timer calls `check()` every `CHECK_PERIOD_S`, so a problem reaches /diagnostics within
stale_timeout_s + 0.25 s (the node publishes its diagnostics on every change of state).

The image callback only calls `on_frame` / `on_clip` (a deque append under a lock); all
judging happens in the timer.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Mapping

from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.node import Node

from a2r_core import frame_monitor as fm

CHECK_PERIOD_S = 0.25
REPEAT_S = 10.0
_TRANSPORT_HINT = ("a camera in another process publishing raw images needs a2r's DDS profile in both processes "
                   "(source scripts/env.sh in each, or FASTDDS_DEFAULT_PROFILES_FILE=<share/a2r_ros>/config/"
                   "fastdds_shm.xml), or image_transport compressed; see docs/ros.md")


class CameraInputWatch:
    """FrameMonitor for one node's camera subscription, with the node's logging and diagnostics."""

    def __init__(self, node: Node, params: Mapping[str, Any], clip_frames: int,
                 warn: Callable[[str], None] | None = None) -> None:
        """`warn`: how a problem is logged (the reward node's own warning path, which also
        records it as `last_warning`); default: the node's logger. Not throttled by the logger:
        `check()` logs each kind of problem at most once per REPEAT_S."""
        self._node = node
        self._warn = warn or node.get_logger().warning
        self._clip_frames = int(clip_frames)
        self.monitor = fm.FrameMonitor(fm.FrameMonitorConfig(
            stale_after_s=float(params["stale_timeout_s"]),
            loss_warn_ratio=float(params["frame_loss_warn_ratio"]),
            expected_rate_hz=float(params["camera_rate_hz"]),
            reset_backwards_s=float(params["reset_backwards_s"]),
        ))
        self.topic = ""
        self.status: fm.FrameStatus | None = None
        self.short_clips = 0
        self.last_clip_frames = 0
        self._last_logged: dict[str, float] = {}
        self._recovery_due = False

    def start(self, topic: str) -> None:
        """The subscription exists: staleness counts from now."""
        self.topic = topic
        self.monitor.start(time.monotonic())

    def on_frame(self, stamp_ns: int) -> None:
        """A frame arrived (image callback): cheap."""
        self.monitor.record(stamp_ns, time.monotonic())

    def on_clip(self, frames: int, window_fill: float) -> None:
        """A clip was cut with `frames` frames; short of the model's T with a full window means
        frames are missing (while the window fills, clips are short by design)."""
        self.last_clip_frames = int(frames)
        if frames < self._clip_frames and window_fill >= 0.99:
            self.short_clips += 1

    def check(self) -> bool:
        """Judge the input now; log a problem (once per state per REPEAT_S) and a recovery.
        Returns True when the state changed (the caller then publishes diagnostics at once)."""
        now = time.monotonic()
        previous = self.status
        self.status = status = self.monitor.status(now)
        changed = previous is None or previous.state != status.state
        # One line per state per REPEAT_S: the first at once; input that flickers between stale
        # and arriving (most frames lost) does not flood the log; diagnostics follow every change.
        if status.problem:
            if now - self._last_logged.get(status.state, float("-inf")) >= REPEAT_S:
                self._last_logged[status.state] = now
                self._warn(self.describe(status))
            self._recovery_due = True
        elif self._recovery_due and status.state == fm.OK and math.isfinite(status.received_ratio):
            # only a judged recovery: one frame after a stale spell, with most lost, is not one
            self._recovery_due = False
            self._node.get_logger().info(f"camera input on {self.topic} back to normal: {status.message}")
        return changed

    def describe(self, status: fm.FrameStatus) -> str:
        """The log line for a problem: what, on which topic, and the likely cause."""
        text = f"{self.topic}: {status.message}"
        if status.state == fm.LOSING:
            if self.last_clip_frames and self.last_clip_frames < self._clip_frames:
                text += f"; the last clip held {self.last_clip_frames} of {self._clip_frames} frames"
            return f"{text}. {_TRANSPORT_HINT[0].upper()}{_TRANSPORT_HINT[1:]}"
        publishers = self._publishers()
        if status.state == fm.NO_INPUT and publishers == 0:
            return f"{text}; nothing publishes on {self.topic} (check camera_topic and image_transport)"
        if publishers:
            return f"{text} ({publishers} publisher(s) on the topic; if frames are sent but never arrive: {_TRANSPORT_HINT})"
        return text

    def _publishers(self) -> int:
        try:
            return int(self._node.count_publishers(self.topic))
        except Exception:  # noqa: BLE001 - a context shutting down: no count, no crash
            return 0

    def level(self) -> tuple[bytes, str] | None:
        """(DiagnosticStatus level, message) when the input is bad, else None."""
        status = self.status
        if status is None or not status.problem:
            return None
        if status.state == fm.STALE:
            return DiagnosticStatus.STALE, status.message
        return DiagnosticStatus.WARN, status.message

    def values(self) -> dict[str, str]:
        """Diagnostics key/values of the input check."""
        s = self.status
        if s is None:
            return {"input_state": "", "input_message": ""}

        def num(x: float, fmt: str = ".2f") -> str:
            return format(x, fmt) if x == x else ""  # nan -> ""

        return {
            "input_state": s.state,
            "input_message": s.message,
            "received_rate_hz": num(s.received_rate_hz),
            "stamp_rate_hz": num(s.stamp_rate_hz),
            "received_of_stamped": num(s.received_ratio, ".3f"),
            "stamp_gaps": str(s.stamp_gaps),
            "largest_stamp_gap_s": f"{s.largest_gap_s:.3f}",
            "since_last_frame_s": f"{s.since_last_frame_s:.2f}",
            "clip_frames_last": str(self.last_clip_frames),
            "clips_short": str(self.short_clips),
        }
