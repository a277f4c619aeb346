"""Helpers the a2r nodes share: parameter descriptors, the drop-oldest hand-off queue, the reward
node's counters, the latched QoS of result topics, the gate that lets a lifecycle transition wait
for running callbacks, and the per-reason count of rejected camera frames.

Why here and not in one node: the planner and the simulator bridges declare their parameters with
the same descriptors, and none of these depends on the reward node (structure.md: helpers shared
by nodes live in a util module).
"""

from __future__ import annotations

import collections
import re
import threading
import time
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from a2r_ros import bringup_spec

_PARAM_TYPES = {
    bringup_spec.STRING: ParameterType.PARAMETER_STRING,
    bringup_spec.DOUBLE: ParameterType.PARAMETER_DOUBLE,
    bringup_spec.INTEGER: ParameterType.PARAMETER_INTEGER,
    bringup_spec.BOOL: ParameterType.PARAMETER_BOOL,
    bringup_spec.STRING_ARRAY: ParameterType.PARAMETER_STRING_ARRAY,
}


def descriptor_for(spec: bringup_spec.ParamSpec) -> ParameterDescriptor:
    """The ROS parameter descriptor of a ParamSpec: type, description, range, read-only."""
    description = spec.description
    if spec.choices:
        description += f" One of: {', '.join(spec.choices)}."
    descriptor = ParameterDescriptor(name=spec.name, type=_PARAM_TYPES[spec.type], description=description,
                                     read_only=not spec.dynamic)
    if spec.type == bringup_spec.DOUBLE and (spec.min is not None or spec.max is not None):
        descriptor.floating_point_range = [FloatingPointRange(from_value=float(spec.min), to_value=float(spec.max), step=0.0)]
    if spec.type == bringup_spec.INTEGER and (spec.min is not None or spec.max is not None):
        descriptor.integer_range = [IntegerRange(from_value=int(spec.min), to_value=int(spec.max), step=0)]
    return descriptor


def latched_qos(depth: int) -> QoSProfile:
    """Reliable + transient-local, the last `depth` messages kept: for results published once (the
    planner's per-episode result), which a subscriber matched after the publish must still get.
    Publisher and subscriber both use it; a volatile subscriber still matches but sees only later
    messages."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


class DropOldestQueue:
    """A bounded hand-off queue: put() never blocks; when full the OLDEST item is dropped (so a
    consumer that falls behind works on recent items, as image_pipeline's calibrator does)."""

    def __init__(self, maxsize: int) -> None:
        self._items: collections.deque = collections.deque()
        self._maxsize = maxsize
        self._cond = threading.Condition()
        self.dropped = 0
        self.closed = False

    def put(self, item: Any) -> None:
        with self._cond:
            if len(self._items) >= self._maxsize:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify()

    def get(self, timeout: float) -> Any | None:
        with self._cond:
            if not self._items and not self.closed:
                self._cond.wait(timeout)
            return self._items.popleft() if self._items else None

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        return len(self._items)


class ActivityGate:
    """Lets a lifecycle transition (deactivate, cleanup, shutdown) stop callbacks that run on
    other executor threads without pulling their publishers, buffer or model out from under them.

    A callback runs its body only inside `with gate.enter() as ok: if ok: ...`; `close()` makes
    later entries report False and waits for the ones inside to leave. Many callbacks may be inside
    at once (unlike a lock, a long service call does not block the image callback).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._inside = 0
        self._open = False

    def open(self) -> None:
        with self._cond:
            self._open = True

    @property
    def is_open(self) -> bool:
        return self._open

    def close(self, timeout: float = 30.0) -> bool:
        """Refuse new entries; wait up to `timeout` s for running ones. False if some still run."""
        with self._cond:
            self._open = False
            return self._cond.wait_for(lambda: self._inside == 0, timeout)

    def enter(self) -> "_GatePass":
        with self._cond:
            admitted = self._open
            if admitted:
                self._inside += 1
        return _GatePass(self, admitted)

    def _leave(self) -> None:
        with self._cond:
            self._inside -= 1
            self._cond.notify_all()


class _GatePass:
    def __init__(self, gate: ActivityGate, admitted: bool) -> None:
        self._gate, self.admitted = gate, admitted

    def __enter__(self) -> bool:
        return self.admitted

    def __exit__(self, *exc: object) -> None:
        if self.admitted:
            self._gate._leave()


class NodeStats:
    """The reward node's counters for /diagnostics (written from several threads; int updates
    under the GIL are atomic enough for counters)."""

    def __init__(self) -> None:
        self.frames_received = 0
        self.frames_rejected = 0
        self.clips_scored = 0
        self.rewards_published = 0
        self.non_finite = 0
        self.model_errors = 0
        self.queries = 0
        self.queries_rejected = 0
        self.latencies_ms: collections.deque = collections.deque(maxlen=100)
        self.last_warning = ""


_QUOTED_OR_NUMBER = re.compile(r"'[^']*'|\"[^\"]*\"|\b\d+\b")


def rejection_reason(message: str) -> str:
    """The kind of problem an InputError message describes, without the numbers of one frame:
    "image data holds 1152 bytes, expected step*height = 96*24 = 2304 (32x24 bgr8)" ->
    "image data holds N bytes, expected step*height = N*N = N". Quoted names stay (an encoding
    '32FC1' and an encoding 'yuv422' are two reasons); parenthesised details and a "; hint" go."""
    text = message.split("; ")[0]
    text = re.sub(r"\s*\([^)]*\)", "", text)
    text = _QUOTED_OR_NUMBER.sub(lambda m: m.group(0) if m.group(0)[0] in "'\"" else "N", text)
    return text.strip() or "unknown"


class RejectionLog:
    """Counts rejected camera frames per reason and decides which rejections are logged.

    Why: with one 5 s throttle for every rejection, a camera sending several kinds of bad frame
    showed one reason in nine (issue 15). Each NEW reason is logged at once; repeats share the
    `throttle_s` throttle. At most `max_reasons` distinct reasons are kept (then "other"), so a
    stream of ever-different messages cannot grow the diagnostics without bound.
    """

    def __init__(self, throttle_s: float = 5.0, max_reasons: int = 32) -> None:
        self.throttle_s = throttle_s
        self.max_reasons = max_reasons
        self.counts: dict[str, int] = {}
        self._last_log = float("-inf")
        self._lock = threading.Lock()

    def record(self, message: str) -> bool:
        """Count one rejection; True when it should be logged now."""
        reason = rejection_reason(message)
        now = time.monotonic()
        with self._lock:
            if reason not in self.counts and len(self.counts) >= self.max_reasons:
                reason = "other"
            new = reason not in self.counts
            self.counts[reason] = self.counts.get(reason, 0) + 1
            if new or now - self._last_log >= self.throttle_s:
                self._last_log = now
                return True
            return False

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)


class ManagedEntities:
    """The publishers, subscriptions, services, timers (and closable helpers such as
    a2r_ros.camera_intake.CameraIntake) a lifecycle node's `activate` created,
    destroyed newest first by `deactivate` (so a node that is deactivated and activated again
    holds exactly one set)."""

    def __init__(self, node: Any) -> None:
        self._node = node
        self._items: list[Any] = []

    def add(self, entity: Any) -> Any:
        self._items.append(entity)
        return entity

    def destroy_all(self) -> None:
        from rclpy.publisher import Publisher
        from rclpy.service import Service
        from rclpy.subscription import Subscription
        from rclpy.timer import Timer

        node = self._node
        for entity in reversed(self._items):
            destroy = (node.destroy_publisher if isinstance(entity, Publisher) else
                       node.destroy_subscription if isinstance(entity, Subscription) else
                       node.destroy_service if isinstance(entity, Service) else
                       node.destroy_timer if isinstance(entity, Timer) else None)
            try:
                if destroy is not None:
                    destroy(entity)
                elif hasattr(entity, "close"):  # e.g. a CameraIntake (its own helper node)
                    entity.close()
            except Exception:  # noqa: BLE001 - the context may be gone already (process shutdown)
                pass
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
