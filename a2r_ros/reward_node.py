"""The live reward node: camera frames -> ClipBuffer -> RewardModel.score -> a2r/reward.

One node, three jobs, one scoring path (`RewardModel.score`; the live path through
`a2r_core.scoring.score_clips`, the function bag scoring uses too):

- Live reward. Frames from `camera_topic` (Image or CompressedImage, sensor-data QoS by default;
  taken by the helper node `<name>_camera` on its own thread, a2r_ros.camera_intake) are converted to RGB (a zero-copy view for rgb8), shrunk ONCE to the model's input size
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
- Diagnostics on `/diagnostics` (a2r_ros.reward_report): latency, buffer, dropped frames and work,
  rejected frames per reason, and the camera input (a2r_ros.camera_input): frames lost or none for
  `stale_timeout_s` give a WARN line and a WARN / STALE status at once (checked every 0.25 s).

Instructions come from the `instructions` parameter (validated in the set-parameters callback; an
invalid value is rejected with its reason) and from std_msgs/String messages on `a2r/instruction`
(which set that parameter, so `ros2 param get` always shows what is scored).

A managed (lifecycle) node, as nav2's are: the constructor only declares the parameters;
`configure` validates them and loads the checkpoint (on failure: the reason in the log, nothing
kept, state unconfigured); `activate` creates the subscriptions, publishers, the query service,
the timers and the worker thread; `deactivate` stops and destroys them; `cleanup` releases the
model; `shutdown` releases everything. With `autostart` (default true) the constructor runs
configure + activate itself and raises the A2RError that made configure fail, so `ros2 run`,
`ros2 launch`, `a2r ros up` and in-process callers get today's behaviour (node_main: one FATAL
line, exit 1); with `autostart: false`, `ros2 lifecycle set` drives it.

Topic names are relative, so a namespace moves them all. Only rclpy API present in Humble, Jazzy
and Kilted is used (on-set parameter callbacks, not the Iron+ pre/post-set ones; rclpy.lifecycle's
LifecycleNode, State, TransitionCallbackReturn and trigger_* methods).
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Sequence

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.expand_topic_name import expand_topic_name
from rclpy.lifecycle import LifecycleNode, State, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.validate_full_topic_name import validate_full_topic_name
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String

from a2r_core.clip_buffer import Clip, ClipBuffer
from a2r_core.errors import A2RError, CheckpointError, ConfigError, InputError
from a2r_core.instructions import check_instructions
from a2r_core.instructions import describe as describe_resolution
from a2r_core.images import resize_frames
from a2r_core.scoring import score_clips
from a2r_ros.node_main import run_node
from a2r_ros.query_service import QueryLimits, answer_query
from a2r_ros import bringup_spec
from a2r_ros.camera_input import CHECK_PERIOD_S, CameraInputWatch
from a2r_ros.image_conversion import BACKEND, image_msg_to_rgb, stamp_to_ns
from a2r_ros.camera_intake import CameraIntake
from a2r_ros.node_util import ActivityGate, DropOldestQueue, ManagedEntities, NodeStats, RejectionLog, descriptor_for
from a2r_ros.reward_report import reward_node_status, row_to_msg
from a2r_ros.msg import RewardScore
from a2r_ros.srv import QueryReward

NODE_NAME = "reward_node"
REWARD_TOPIC = "a2r/reward"
INSTRUCTION_TOPIC = "a2r/instruction"
SERVICE_NAME = "a2r/query_reward"
MAX_NOTED_INSTRUCTIONS = 1024  # resolutions logged before the memory of them starts over


class RewardNode(LifecycleNode):
    """The a2r reward node (see the module docstring). With `autostart` (the default) the
    constructor configures and activates it and raises the A2RError (ConfigError,
    CheckpointError) that made that fail; `main` turns it into a log line and exit code 1."""

    def __init__(self, node_name: str = NODE_NAME, **node_kwargs: Any) -> None:
        super().__init__(node_name, **node_kwargs)
        self.model = None            # set by configure, released by cleanup / shutdown
        self.buffer: ClipBuffer | None = None
        self.input_watch: CameraInputWatch | None = None
        self.stats = NodeStats()
        self.rejections = RejectionLog()  # rejected camera frames per reason (log + diagnostics)
        self.transition_error: A2RError | None = None  # why the last configure / activate failed
        self._lock = threading.Lock()        # guards _instructions
        self._model_lock = threading.Lock()  # one forward pass at a time (worker and service)
        self._noted_instructions: set[str] = set()  # instructions whose resolution was logged
        self._gate = ActivityGate()          # image and query callbacks run only while active
        self._instructions: list[str] = []
        self._params: dict[str, Any] = {}
        self._query_limits: QueryLimits | None = None
        self._frame_size = 0
        self._entities = ManagedEntities(self)  # what activate created, for deactivate
        self._reward_pub = self._diag_pub = self._worker = None
        self._queue = DropOldestQueue(1)
        self._stop = threading.Event()
        try:
            for spec in bringup_spec.REWARD_NODE_PARAMETERS:
                self.declare_parameter(spec.name, spec.default, descriptor_for(spec))
        except (ParameterException, NameValidationException) as exc:
            Node.destroy_node(self)
            raise ConfigError(f"{node_name}: {exc}") from exc
        self.add_on_set_parameters_callback(self._on_set_parameters)
        if self.get_parameter("autostart").value:
            self._autostart()

    def _autostart(self) -> None:
        """configure + activate now; on failure destroy the node and raise the reason."""
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            error = self.transition_error or ConfigError(f"{self.get_name()}: configure failed (see the log)")
            self.destroy_node()  # a half-built node must not linger in the caller's context
            raise error
        if self.trigger_activate() != TransitionCallbackReturn.SUCCESS:
            error = self.transition_error or ConfigError(f"{self.get_name()}: activate failed (see the log)")
            self.destroy_node()
            raise error

    # -- lifecycle transitions ------------------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        """Validate the parameters and load the checkpoint; FAILURE (unconfigured) with the reason."""
        self.transition_error = None
        try:
            self._configure()
        except A2RError as exc:
            self.transition_error = exc
        except (ParameterException, NameValidationException, ValueError) as exc:
            self.transition_error = ConfigError(f"{self.get_name()}: {exc}")
        if self.transition_error is None:
            return TransitionCallbackReturn.SUCCESS
        self.get_logger().error(f"configure failed: {self.transition_error}")
        self._release()
        return TransitionCallbackReturn.FAILURE

    def _configure(self) -> None:
        p = {spec.name: self.get_parameter(spec.name).value for spec in bringup_spec.REWARD_NODE_PARAMETERS}
        try:
            instructions = check_instructions(list(p["instructions"]), p["max_instructions"])
        except InputError as exc:
            raise ConfigError(f"parameter instructions: {exc}") from exc
        try:  # a bad name must fail here, not when activate subscribes
            validate_full_topic_name(expand_topic_name(p["camera_topic"], self.get_name(), self.get_namespace()))
        except (ValueError, NameValidationException) as exc:
            raise ConfigError(f"parameter camera_topic: {exc}") from exc
        bringup_spec.clip_buffer_config(p, 1)  # a bad buffer setting fails before the slow load
        self._query_limits = QueryLimits.from_params(p)
        self.model = self._load_model(p["checkpoint"], p["device"], p["dtype"], p["reward_mode"] or None)
        self.buffer = ClipBuffer(bringup_spec.clip_buffer_config(p, self.model.num_frames))
        self._frame_size = self.model.image_size
        self._params = p
        with self._lock:
            self._instructions = instructions
        self.stats = NodeStats()
        self.rejections = RejectionLog()
        self.get_logger().info(f"configured: {self.model.model_id} on {p['device']} ({p['dtype']}), "
                               f"reward_mode {self.model.reward_mode}")

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        """Subscribe, publish, serve, start the worker; FAILURE (inactive) if any of it fails."""
        try:
            self._activate()
        except Exception as exc:  # noqa: BLE001 - a failed transition is reported, never raised
            self.transition_error = ConfigError(f"activate failed: {type(exc).__name__}: {exc}")
            self.get_logger().error(str(self.transition_error))
            self._deactivate()
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def _activate(self) -> None:
        p = self._params
        self.buffer.reset()  # frames from before a deactivate do not join new clips
        self._queue = DropOldestQueue(p["queue_size"])
        self._stop = threading.Event()
        reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self._reward_pub = self._entities.add(self.create_publisher(RewardScore, REWARD_TOPIC, reliable))
        self._diag_pub = self._entities.add(self.create_publisher(DiagnosticArray, "/diagnostics", reliable))
        image_qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=p["image_qos_depth"], durability=DurabilityPolicy.VOLATILE,
            reliability=ReliabilityPolicy.BEST_EFFORT if p["image_qos"] == "sensor_data" else ReliabilityPolicy.RELIABLE,
        )
        image_type, topic = Image, p["camera_topic"]
        if p["image_transport"] == "compressed":
            image_type, topic = CompressedImage, f"{topic.rstrip('/')}/compressed"
        # Missing frames (lost in transport, camera stopped): WARN + diagnostics, judged on a timer.
        self.input_watch = CameraInputWatch(self, p, self.buffer.config.num_frames,
                                            warn=lambda text: self._warn(text, throttle=False))
        self._gate.open()
        # Frames are taken by a helper node on its own single-threaded executor and thread
        # (a2r_ros.camera_intake: rclpy's MultiThreadedExecutor loses large frames), one
        # producer for the buffer, never waiting for a service call. The instruction topic and the
        # timers share the default group with the lifecycle services, so a transition never runs
        # beside them.
        image_sub = self._entities.add(CameraIntake(self, image_type, topic, self._on_image, image_qos))
        self._entities.add(self.create_subscription(String, INSTRUCTION_TOPIC, self._on_instruction, reliable))
        self._entities.add(self.create_service(QueryReward, SERVICE_NAME, self._serve_query,
                                                  callback_group=MutuallyExclusiveCallbackGroup()))
        self._entities.add(self.create_timer(p["diagnostics_period_s"], self.publish_diagnostics))
        self.input_watch.start(image_sub.topic_name)
        self._entities.add(self.create_timer(CHECK_PERIOD_S, self._check_input))
        self._worker = threading.Thread(target=self._work, args=(self._queue, self._stop),
                                        name="a2r_reward_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"scoring {image_sub.topic_name} with {self.model.model_id} on {p['device']} "
            f"({self.buffer.config.num_frames} frames over {p['window_s']} s, every {1.0 / p['rate_hz']:.3f} s); "
            f"instructions: {self.instructions}; images via {BACKEND}"
        )

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._deactivate()
        self.get_logger().info("deactivated: not subscribed, publishing or serving")
        return TransitionCallbackReturn.SUCCESS

    def _deactivate(self) -> None:
        """Stop everything activate started (idempotent): running image/query callbacks finish,
        the worker finishes its clip, then the entities go."""
        if not self._gate.close(timeout=30.0):
            self.get_logger().warning("a callback still runs after 30 s; destroying its entities anyway")
        self._stop.set()
        self._queue.close()
        if self._worker is not None and self._worker.is_alive():
            self._worker.join(timeout=30.0)
        self._worker = None
        self._entities.destroy_all()
        self._reward_pub = self._diag_pub = None

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self._release()
        self.get_logger().info("cleaned up: model released")
        return TransitionCallbackReturn.SUCCESS

    def _release(self) -> None:
        """Forget the model and the buffer (the memory goes with the last reference)."""
        with self._model_lock:
            self.model = None
        self.buffer = None
        self.input_watch = None

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        """Release everything (also on_error: a transition raised; back to unconfigured)."""
        self._deactivate()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    on_error = on_shutdown

    # -- start-up ------------------------------------------------------------------------------
    @staticmethod
    def _load_model(checkpoint: str, device: str, dtype: str, reward_mode: str | None):
        """RewardModel.load with errors a user can act on (CheckpointError / ConfigError)."""
        if not checkpoint.strip():
            raise ConfigError("parameter checkpoint is empty: set it to a checkpoint directory "
                              "(launch argument checkpoint:=DIR, or --set checkpoint=DIR)")
        from a2r_core.reward import RewardModel  # torch is imported here, not at module import

        try:
            return RewardModel.load(checkpoint, device=device, dtype=dtype, reward_mode=reward_mode)
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
                    new_instructions = check_instructions(list(param.value),
                                                          self.get_parameter("max_instructions").value)
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
        with self._gate.enter() as active:
            if active:  # a deactivate may be destroying the subscription
                self._buffer_frame(msg)

    def _buffer_frame(self, msg: Any) -> None:
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

    def _work(self, queue: DropOldestQueue, stop: threading.Event) -> None:
        """Worker thread: score queued clips and publish, until deactivated (its own queue and
        stop flag: a later activation starts a new worker with new ones)."""
        while not stop.is_set():
            clip = queue.get(timeout=0.2)
            if clip is None:
                continue
            try:
                self._score_and_publish(clip)
            except Exception as exc:  # noqa: BLE001 - the worker must survive any model failure
                self.stats.model_errors += 1
                self._warn(f"scoring failed: {type(exc).__name__}: {exc}", error=True)

    def _note_instructions(self, instructions: Sequence[str]) -> None:
        """Log, once per new instruction, which trained task the model takes it for."""
        for text in instructions:
            if text not in self._noted_instructions:
                if len(self._noted_instructions) >= MAX_NOTED_INSTRUCTIONS:  # bounded: a client may send many
                    self._noted_instructions.clear()
                self._noted_instructions.add(text)
                self.get_logger().info(describe_resolution(text, self.model.resolve_instruction(text)))

    def _score_and_publish(self, clip: Clip) -> None:
        """Score one clip through a2r_core.scoring.score_clips (the loop bag scoring shares) and
        publish its rows; non-finite scores are reported, never published."""
        instructions = self.instructions
        self._note_instructions(instructions)
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
        self._note_instructions(instructions)
        with self._model_lock:
            t0 = time.perf_counter()
            out = self.model.score(list(clips), list(instructions))
            latency_ms = (time.perf_counter() - t0) * 1e3
        self.stats.latencies_ms.append(latency_ms)
        return out, latency_ms

    # -- reward-query service -------------------------------------------------------------------
    def _serve_query(self, request: QueryReward.Request, response: QueryReward.Response) -> QueryReward.Response:
        """The service callback: a query that arrives while a deactivate runs is not served."""
        with self._gate.enter() as active:
            if active:
                return self._on_query(request, response)
        response.status, response.message = QueryReward.Response.STATUS_NOT_READY, "the node is being deactivated"
        return response

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
        if self._stop.is_set() or self.input_watch is None:  # deactivated: the publishers are gone
            return
        if self.input_watch.check():
            self.publish_diagnostics()

    def diagnostics(self) -> DiagnosticStatus:
        """The node's health as one DiagnosticStatus (also what publish_diagnostics sends)."""
        return reward_node_status(f"a2r: {self.get_fully_qualified_name()}", self.stats, self.buffer, self._queue,
                                  self.rejections, self.input_watch, self.instructions, str(self.model.model_id))

    def publish_diagnostics(self) -> None:
        """Publish `diagnostics()` (only while active: the publisher exists then)."""
        if self._diag_pub is None or self.buffer is None or self.input_watch is None:
            return
        array = DiagnosticArray(status=[self.diagnostics()])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(array)

    def destroy_node(self) -> None:
        """The shutdown transition (stop the worker, release the model), then destroy the node.
        After Ctrl-C the context is already shut down and a transition could not announce itself:
        the same release then happens without it."""
        if self.context.ok():
            with contextlib.suppress(Exception):  # finalized already
                self.trigger_shutdown()
        self._deactivate()
        self._release()
        super().destroy_node()


def main(argv: Sequence[str] | None = None) -> int:
    """`ros2 run a2r_ros reward_node [--ros-args -p checkpoint:=DIR ...]`: exit 1 with one log
    line (no traceback) when the checkpoint or a parameter is bad."""
    return run_node(RewardNode, NODE_NAME, argv)


if __name__ == "__main__":
    raise SystemExit(main())
