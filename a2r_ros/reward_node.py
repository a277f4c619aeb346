"""The live reward node: camera frames -> ClipBuffer -> RewardModel.score -> a2r/reward.

One node, three jobs, one scoring path (`RewardModel.score`; the live path through
`a2r_core.scoring.score_clips`, the function bag scoring uses too):

- Live reward. Frames from `camera_topic` (Image or CompressedImage, sensor-data QoS by default)
  are converted to RGB (a zero-copy view for rgb8), shrunk ONCE to the model's input size
  (`a2r_core.images.resize_frames`, what `RewardModel.score` does to larger clips, so live and
  direct scores agree) and pushed into a `ClipBuffer` (a2r_core.clip_buffer, the same object bag
  scoring uses). Every `1/rate_hz` seconds of HEADER-STAMP time the buffer emits a clip; the clip
  goes on a bounded queue and a worker thread scores it against the current instructions and
  publishes one `RewardScore` per instruction on `a2r/reward`, stamped with the newest frame of the
  clip. The image callback only converts and buffers, so frames are never blocked by inference;
  when the worker falls behind, the OLDEST waiting clip is dropped and counted (as
  image_pipeline's camera_calibration does with its queue).
- Reward queries. The `a2r/query_reward` service (a2r_ros/srv/QueryReward) scores a batch of
  candidate clips x instructions; limits give STATUS_TOO_LARGE, malformed requests
  STATUS_INVALID_REQUEST, never an exception.
- Diagnostics on `/diagnostics`: inference latency, buffer fill, dropped frames, dropped work, and
  the camera input (a2r_ros.camera_input): frames received against the rate the header stamps
  imply, stamp gaps, time since the last frame. Frames being lost or no frame for
  `stale_timeout_s` give a WARN line and a WARN / STALE status at once (checked every 0.25 s).

Instructions come from the `instructions` parameter (validated in the set-parameters callback; an
invalid value is rejected with its reason) and from std_msgs/String messages on `a2r/instruction`
(which set that parameter, so `ros2 param get` always shows what is scored).

Topic names are relative, so a namespace moves them all. Only rclpy API present in Humble, Jazzy
and Kilted is used (on-set parameter callbacks, not the Iron+ pre/post-set ones).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Sequence

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String

from a2r_core.clip_buffer import Clip, ClipBuffer
from a2r_core.errors import A2RError, CheckpointError, ConfigError, InputError
from a2r_core.instructions import check_instructions
from a2r_core.images import resize_frames
from a2r_core.scoring import ScoreRow, score_clips
from a2r_ros.node_main import run_node
from a2r_ros.query_service import QueryLimits, answer_query
from a2r_ros import bringup_spec
from a2r_ros.camera_input import CHECK_PERIOD_S, CameraInputWatch
from a2r_ros.image_conversion import BACKEND, image_msg_to_rgb, ns_to_stamp, stamp_to_ns
from a2r_ros.node_util import DropOldestQueue, NodeStats, RejectionLog, descriptor_for
from a2r_ros.msg import RewardScore
from a2r_ros.srv import QueryReward

NODE_NAME = "reward_node"
REWARD_TOPIC = "a2r/reward"
INSTRUCTION_TOPIC = "a2r/instruction"
SERVICE_NAME = "a2r/query_reward"


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
    msg.clip_start = ns_to_stamp(row.clip_start_ns)
    msg.clip_end = ns_to_stamp(row.stamp_ns)
    msg.frame_count = int(row.frame_count)
    msg.model_id = row.model_id
    msg.inference_latency_ms = float(row.inference_latency_ms)
    return msg


class RewardNode(Node):
    """The a2r reward node (see the module docstring). Raises A2RError from the constructor when
    the checkpoint is missing or corrupt or a parameter is invalid; `main` turns that into a log
    line and exit code 1."""

    def __init__(self, node_name: str = NODE_NAME, **node_kwargs: Any) -> None:
        super().__init__(node_name, **node_kwargs)
        try:
            self._setup()
        except (ParameterException, NameValidationException) as exc:
            Node.destroy_node(self)
            raise ConfigError(f"{node_name}: {exc}") from exc
        except BaseException:
            Node.destroy_node(self)  # a half-built node must not linger in the caller's context
            raise

    def _setup(self) -> None:
        self._specs = {spec.name: spec for spec in bringup_spec.REWARD_NODE_PARAMETERS}
        for spec in bringup_spec.REWARD_NODE_PARAMETERS:
            self.declare_parameter(spec.name, spec.default, descriptor_for(spec))
        p = {name: self.get_parameter(name).value for name in self._specs}
        self.stats = NodeStats()
        self.rejections = RejectionLog()  # rejected camera frames per reason (log + diagnostics)
        self._lock = threading.Lock()        # guards _instructions
        self._model_lock = threading.Lock()  # one forward pass at a time (worker and service)
        try:
            self._instructions = check_instructions(list(p["instructions"]), p["max_instructions"])
        except InputError as exc:
            raise ConfigError(f"parameter instructions: {exc}") from exc
        self._max_instructions = p["max_instructions"]
        self._query_limits = QueryLimits.from_params(p)

        self.model = self._load_model(p["checkpoint"], p["device"], p["dtype"])
        self._frame_size = self.model.image_size
        self.buffer = ClipBuffer(bringup_spec.clip_buffer_config(p, self.model.num_frames))
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self._queue = DropOldestQueue(p["queue_size"])
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name="a2r_reward_worker", daemon=True)

        reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self._reward_pub = self.create_publisher(RewardScore, REWARD_TOPIC, reliable)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", reliable)
        image_qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=p["image_qos_depth"], durability=DurabilityPolicy.VOLATILE,
            reliability=ReliabilityPolicy.BEST_EFFORT if p["image_qos"] == "sensor_data" else ReliabilityPolicy.RELIABLE,
        )
        image_type, topic = Image, p["camera_topic"]
        if p["image_transport"] == "compressed":
            image_type, topic = CompressedImage, f"{topic.rstrip('/')}/compressed"
        # The image callback has its own group so that on a MultiThreadedExecutor it never waits
        # for a service call; it is mutually exclusive so the buffer has one producer.
        self._image_sub = self.create_subscription(image_type, topic, self._on_image, image_qos,
                                                   callback_group=MutuallyExclusiveCallbackGroup())
        self._instruction_sub = self.create_subscription(String, INSTRUCTION_TOPIC, self._on_instruction, reliable)
        self._service = self.create_service(QueryReward, SERVICE_NAME, self._on_query,
                                            callback_group=MutuallyExclusiveCallbackGroup())
        self._diag_timer = self.create_timer(p["diagnostics_period_s"], self.publish_diagnostics)
        # Missing frames (lost in transport, camera stopped): WARN + diagnostics, judged on a timer.
        self.input_watch = CameraInputWatch(self, p, self.buffer.config.num_frames,
                                            warn=lambda text: self._warn(text, throttle=False))
        self.input_watch.start(self._image_sub.topic_name)
        self._input_timer = self.create_timer(CHECK_PERIOD_S, self._check_input)
        self._worker.start()
        self.get_logger().info(
            f"scoring {self._image_sub.topic_name} with {self.model.model_id} on {p['device']} "
            f"({self.buffer.config.num_frames} frames over {p['window_s']} s, every {1.0 / p['rate_hz']:.3f} s); "
            f"instructions: {self._instructions}; images via {BACKEND}"
        )

    # -- start-up ------------------------------------------------------------------------------
    @staticmethod
    def _load_model(checkpoint: str, device: str, dtype: str):
        """RewardModel.load with errors a user can act on (CheckpointError / ConfigError)."""
        if not checkpoint.strip():
            raise ConfigError("parameter checkpoint is empty: set it to a checkpoint directory "
                              "(launch argument checkpoint:=DIR, or --set checkpoint=DIR)")
        from a2r_core.reward import RewardModel  # torch is imported here, not at module import

        try:
            return RewardModel.load(checkpoint, device=device, dtype=dtype)
        except A2RError:
            raise
        except (OSError, RuntimeError, ValueError) as exc:  # e.g. an unknown torch device
            raise CheckpointError(f"cannot load checkpoint {checkpoint!r} on {device} ({dtype}): {exc}") from exc

    # -- instructions ---------------------------------------------------------------------------
    @property
    def instructions(self) -> list[str]:
        with self._lock:
            return list(self._instructions)

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Validate run-time changes; apply them only when every one is valid."""
        new_instructions = None
        for param in params:
            if param.name == "instructions":
                try:
                    new_instructions = check_instructions(list(param.value), self._max_instructions)
                except InputError as exc:
                    return SetParametersResult(successful=False, reason=str(exc))
        if new_instructions is not None:
            with self._lock:
                self._instructions = new_instructions
            self.get_logger().info(f"instructions: {new_instructions}")
        return SetParametersResult(successful=True)

    def _on_instruction(self, msg: String) -> None:
        result = self.set_parameters([Parameter("instructions", Parameter.Type.STRING_ARRAY, [msg.data])])[0]
        if not result.successful:
            self._warn(f"ignored instruction message {msg.data!r}: {result.reason}")

    # -- live path ------------------------------------------------------------------------------
    def _on_image(self, msg: Any) -> None:
        """Convert and buffer; hand any completed clip to the worker. Never runs the model."""
        self.stats.frames_received += 1
        self.input_watch.on_frame(stamp_to_ns(msg.header.stamp))
        try:
            # Once per frame, on arrival: RGB view of the message bytes -> the model's input size
            # (uint8, the preprocessing filter). The buffer then holds small frames that own their
            # pixels (the message is freed), and a clip costs the model no resize.
            frame = resize_frames(image_msg_to_rgb(msg), self._frame_size)
            result = self.buffer.push(stamp_to_ns(msg.header.stamp), frame, msg.header.frame_id)
        except InputError as exc:
            self.stats.frames_rejected += 1
            # A new reason is logged at once; repeats share one 5 s throttle (RejectionLog).
            text = f"rejected camera frame: {exc}"
            if self.rejections.record(str(exc)):
                self._warn(text, throttle=False)
            else:
                self.stats.last_warning = text
            return
        if result.event and result.event.startswith("reset"):
            self._warn(f"clip buffer {result.event}")
        if result.clip is not None:
            self.input_watch.on_clip(len(result.clip.stamps_ns), self.buffer.fill)
            self._queue.put(result.clip)

    def _work(self) -> None:
        """Worker thread: score queued clips and publish, until the node is destroyed."""
        while not self._stop.is_set():
            clip = self._queue.get(timeout=0.2)
            if clip is None:
                continue
            try:
                self._score_and_publish(clip)
            except Exception as exc:  # noqa: BLE001 - the worker must survive any model failure
                self.stats.model_errors += 1
                self._warn(f"scoring failed: {type(exc).__name__}: {exc}", error=True)

    def _score_and_publish(self, clip: Clip) -> None:
        """Score one clip through a2r_core.scoring.score_clips (the loop bag scoring shares) and
        publish its rows; non-finite scores are reported, never published."""
        instructions = self.instructions
        with self._model_lock:
            rows = score_clips(self.model, [clip], instructions)
        if not rows:
            return
        self.stats.latencies_ms.append(rows[0].inference_latency_ms)
        if not all(np.isfinite([r.reward, r.success_probability]).all() for r in rows):
            self.stats.non_finite += 1
            self._warn(f"model returned non-finite scores for the clip ending at {clip.end_ns} ns; nothing published")
            return
        self.stats.clips_scored += 1
        for row in rows:
            self._reward_pub.publish(row_to_msg(row))
            self.stats.rewards_published += 1

    def score(self, clips: Sequence[np.ndarray], instructions: Sequence[str]):
        """`RewardModel.score` under the model lock, timed: (RewardOutput, latency in ms)."""
        with self._model_lock:
            t0 = time.perf_counter()
            out = self.model.score(list(clips), list(instructions))
            latency_ms = (time.perf_counter() - t0) * 1e3
        self.stats.latencies_ms.append(latency_ms)
        return out, latency_ms

    # -- reward-query service -------------------------------------------------------------------
    def _on_query(self, request: QueryReward.Request, response: QueryReward.Response) -> QueryReward.Response:
        """The `a2r/query_reward` service (a2r_ros.query_service); counted in the diagnostics."""
        self.stats.queries += 1
        model = getattr(self, "model", None)
        response, outcome = answer_query(request, response, self._query_limits, self.score if model else None,
                                         (model.num_frames, model.image_size) if model else None)
        if outcome in ("rejected", "not_ready"):
            self.stats.queries_rejected += 1
            self.get_logger().warning(f"query rejected: {response.message}")
        elif outcome == "model_error":
            self.stats.model_errors += 1
            self.get_logger().error(f"query failed: {response.message}")
        elif outcome == "non_finite":
            self.stats.non_finite += 1
        return response

    # -- diagnostics ----------------------------------------------------------------------------
    def _warn(self, text: str, error: bool = False, throttle: bool = True) -> None:
        self.stats.last_warning = text
        log = self.get_logger().error if error else self.get_logger().warning
        if throttle:
            log(text, throttle_duration_sec=5.0)
        else:
            log(text)

    def _check_input(self) -> None:
        """Timer: judge the camera input; a change of state is on /diagnostics at once."""
        if self._stop.is_set():  # being destroyed: the publishers may be gone
            return
        if self.input_watch.check():
            self.publish_diagnostics()

    def diagnostics(self) -> DiagnosticStatus:
        """The node's health as one DiagnosticStatus (also what publish_diagnostics sends)."""
        s, b = self.stats, self.buffer.stats
        latencies = list(s.latencies_ms)
        values = {
            "inference_latency_ms_last": f"{latencies[-1]:.2f}" if latencies else "",
            "inference_latency_ms_mean": f"{np.mean(latencies):.2f}" if latencies else "",
            "inference_latency_ms_max": f"{np.max(latencies):.2f}" if latencies else "",
            "buffer_frames": str(len(self.buffer)),
            "buffer_fill": f"{self.buffer.fill:.3f}",
            "frames_received": str(s.frames_received),
            "frames_rejected": str(s.frames_rejected),
            "frames_dropped": str(b.dropped + s.frames_rejected),
            "buffer_resets": str(b.resets_backwards + b.resets_size),
            "clips_emitted": str(b.clips),
            "work_dropped": str(self._queue.dropped),
            "queue_depth": str(len(self._queue)),
            "clips_scored": str(s.clips_scored),
            "rewards_published": str(s.rewards_published),
            "non_finite_outputs": str(s.non_finite),
            "model_errors": str(s.model_errors),
            "queries": str(s.queries),
            "queries_rejected": str(s.queries_rejected),
            "instructions": " | ".join(self.instructions),
            "model_id": str(self.model.model_id),
            "image_backend": BACKEND,
            "last_warning": s.last_warning,
            **self.input_watch.values(),
            # one value per kind of rejected frame: "rejected: unsupported image encoding '32FC1'"
            **{f"rejected: {reason}": str(n) for reason, n in self.rejections.snapshot().items()},
        }
        input_problem = self.input_watch.level()
        if s.model_errors or s.non_finite:
            level, message = DiagnosticStatus.ERROR, "model errors"
        elif input_problem is not None:
            level, message = input_problem  # STALE (no frame for stale_timeout_s) or WARN (frames lost)
        elif self._queue.dropped or s.frames_rejected or b.dropped:
            level, message = DiagnosticStatus.WARN, "dropping frames or work"
        elif s.frames_received == 0:
            level, message = DiagnosticStatus.WARN, "no camera frames received yet"
        else:
            level, message = DiagnosticStatus.OK, "scoring"
        return DiagnosticStatus(level=level, name=f"a2r: {self.get_fully_qualified_name()}", message=message,
                                hardware_id=str(self.model.model_id),
                                values=[KeyValue(key=k, value=v) for k, v in values.items()])

    def publish_diagnostics(self) -> None:
        array = DiagnosticArray(status=[self.diagnostics()])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(array)

    def destroy_node(self) -> None:
        """Stop the worker thread, then destroy the node."""
        self._stop.set()
        self._queue.close()
        if self._worker.is_alive():
            self._worker.join(timeout=30.0)
        super().destroy_node()


def main(argv: Sequence[str] | None = None) -> int:
    """`ros2 run a2r_ros reward_node [--ros-args -p checkpoint:=DIR ...]`: exit 1 with one log
    line (no traceback) when the checkpoint or a parameter is bad."""
    return run_node(RewardNode, NODE_NAME, argv)


if __name__ == "__main__":
    raise SystemExit(main())
