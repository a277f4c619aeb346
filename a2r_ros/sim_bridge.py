"""One simulator bridge node over the `RolloutModel` protocol (a2r_core.planning).

MetaWorld (a2r_ros.metaworld_bridge) and PyBullet (a2r_ros.pybullet_bridge) differ only in how the
simulator is built; everything ROS-facing is here, once:

- `sim/action` (std_msgs/Float32MultiArray): one message = one or more simulator steps, `data`
  holding rows of `action_dim` numbers (the layout field is not needed and is ignored). After a
  message is applied, ONE frame is rendered and published, and kept in the episode history (the
  context an MPC planner prepends to its candidate clips). Actions past `max_steps` are ignored
  and counted until a reset.
- `camera/image_raw` (sensor_msgs/Image rgb8, sensor-data QoS): that frame; header.stamp from the
  simulated clock (default: simulated seconds, which jump by `episode_gap_s` at every reset so a
  reward node's clip window never spans two episodes) or the node's ROS clock; frame_id parameter.
- `sim/success` (std_msgs/Bool, reliable, transient local): the task's success flag after each
  message and reset.
- `sim/observation` (std_msgs/Float32MultiArray, reliable; only for simulators that have an
  observation, e.g. MetaWorld's 39 numbers): published after the frame and the success flag of
  every applied message and reset, exactly once per state, so a controller can run in lock-step
  (observation -> one action message -> next observation), the way a robot's controller reads its
  state and commands the next move (a2r_ros.scripted_operator).
- `sim/reset` (std_srvs/Trigger): next episode, seed = `seed` + episode index.
- `sim/rollout` (a2r_ros/srv/RolloutCandidates): candidate action sequences rolled out from the
  current state with `a2r_core.planning.rollout_candidates` (restore before each candidate and
  after the last, so the live episode is unchanged), their futures rendered and returned as
  `a2r_ros/msg/Clip`s with stamps, plus each candidate's success flag and dense (oracle) reward.

The simulator is not thread-safe and MuJoCo's EGL context can only be current in the thread that
made it, so the simulator is built and used on ONE thread of its own (`run_in_sim`), and every
callback is in one mutually exclusive callback group: actions that arrive during a rollout request
wait for it. The simulator is only stepped by actions
(never by a timer): a planner that thinks for seconds between actions sees the world wait for it,
as simulated MPC evaluation needs.
"""

from __future__ import annotations

import collections
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Bool, Float32MultiArray
from std_srvs.srv import Trigger

from a2r_core.errors import ConfigError, InputError
from a2r_core.planning.rollout import RolloutModel, rollout_candidates, subsample_frames
from a2r_ros import sim_spec
from a2r_ros.bringup_spec import ParamSpec
from a2r_ros.image_conversion import ns_to_stamp, rgb_frames_to_image_msgs, rgb_to_image_msg
from a2r_ros.msg import Clip
from a2r_ros.node_util import descriptor_for
from a2r_ros.srv import RolloutCandidates

_NS = 1_000_000_000


@dataclass
class Simulation:
    """What a bridge needs from a simulator: the rollout model, how to start an episode, the
    simulated seconds per step, and how to free it."""

    model: RolloutModel
    reset: Callable[[int], Any]
    dt: float
    close: Callable[[], None]
    description: str
    # The current observation as a flat float vector, or None for a simulator without one.
    observe: Optional[Callable[[], np.ndarray]] = None


class SimBridgeNode(Node):
    """The bridge node (see the module docstring). Subclasses set `NAME`, `PARAMETERS` and
    `make_simulation(params) -> Simulation`."""

    NAME = "sim_bridge"
    PARAMETERS: tuple[ParamSpec, ...] = sim_spec.BRIDGE_COMMON_PARAMETERS

    def __init__(self, node_name: Optional[str] = None, **node_kwargs: Any) -> None:
        super().__init__(node_name or self.NAME, **node_kwargs)
        self.sim: Optional[Simulation] = None
        self._sim_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="a2r_sim")
        try:
            self._setup()
        except (ParameterException, NameValidationException) as exc:
            name = self.get_name()
            self._teardown()
            raise ConfigError(f"{name}: {exc}") from exc
        except BaseException:
            self._teardown()
            raise

    def make_simulation(self, p: dict[str, Any]) -> Simulation:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- start-up ------------------------------------------------------------------------------
    def _setup(self) -> None:
        for spec in self.PARAMETERS:
            self.declare_parameter(spec.name, spec.default, descriptor_for(spec))
        p = {spec.name: self.get_parameter(spec.name).value for spec in self.PARAMETERS}
        self.params = p
        self.sim = self.run_in_sim(self.make_simulation, p)
        low, high = (np.asarray(b, dtype=np.float64) for b in self.sim.model.action_bounds)
        self.action_low, self.action_high = low, high
        self.action_dim = int(low.size)
        self._dt_ns = int(round(self.sim.dt * _NS))
        self.episode = 0
        self.step = 0
        self._sim_ns = _NS  # the simulated clock starts at 1 s (a zero stamp reads as "unset")
        self.history: collections.deque = collections.deque(maxlen=p["max_history_frames"])
        self.actions_ignored = 0
        self.actions_rejected = 0
        self.rollouts_served = 0

        group = MutuallyExclusiveCallbackGroup()
        sensor = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.BEST_EFFORT,
                            durability=DurabilityPolicy.VOLATILE)
        latched = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        commands = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self._image_pub = self.create_publisher(Image, p["camera_topic"], sensor)
        self._success_pub = self.create_publisher(Bool, sim_spec.SUCCESS_TOPIC, latched)
        self._observation_pub = (self.create_publisher(Float32MultiArray, sim_spec.OBSERVATION_TOPIC, commands)
                                 if self.sim.observe is not None else None)
        self._action_sub = self.create_subscription(Float32MultiArray, sim_spec.ACTION_TOPIC, self._on_action,
                                                    commands, callback_group=group)
        self._reset_srv = self.create_service(Trigger, sim_spec.RESET_SERVICE, self._on_reset, callback_group=group)
        self._rollout_srv = self.create_service(RolloutCandidates, sim_spec.ROLLOUT_SERVICE, self._on_rollout,
                                                callback_group=group)
        self.run_in_sim(self._start_episode)
        self.get_logger().info(
            f"{self.sim.description}: {self.action_dim}-D actions on {self._action_sub.topic_name}, frames on "
            f"{self._image_pub.topic_name} ({p['image_size']}x{p['image_size']}, {p['stamp_source']} stamps)")

    def run_in_sim(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn(*args)` on the simulator's own thread and return its result (or raise)."""
        return self._sim_thread.submit(fn, *args).result()

    def _close_sim(self) -> None:
        if self.sim is not None:
            self.run_in_sim(self.sim.close)
            self.sim = None
        self._sim_thread.shutdown(wait=True)

    def _teardown(self) -> None:
        self._close_sim()
        Node.destroy_node(self)

    def destroy_node(self) -> None:
        """Free the simulator, then destroy the node."""
        self._close_sim()
        super().destroy_node()

    # -- episode ---------------------------------------------------------------------------------
    @property
    def seed(self) -> int:
        return int(self.params["seed"]) + self.episode

    def _start_episode(self) -> None:
        self.sim.reset(self.seed)
        self.step = 0
        self.history.clear()
        self._publish_state()

    def _now_ns(self) -> int:
        if self.params["stamp_source"] == "sim":
            return self._sim_ns
        return self.get_clock().now().nanoseconds

    def _publish_state(self) -> None:
        """Render the current state, publish it and the success flag, keep the frame as history."""
        frame = self.sim.model.render()
        stamp_ns = self._now_ns()
        self.history.append((stamp_ns, frame))
        self._image_pub.publish(rgb_to_image_msg(frame, "rgb8", ns_to_stamp(stamp_ns), self.params["frame_id"]))
        self._success_pub.publish(Bool(data=bool(self.sim.model.success())))
        if self._observation_pub is not None:
            observation = np.asarray(self.sim.observe(), dtype=np.float32).reshape(-1)
            self._observation_pub.publish(Float32MultiArray(data=observation.tolist()))

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        return self.run_in_sim(self._reset, response)

    def _reset(self, response: Trigger.Response) -> Trigger.Response:
        self.episode += 1
        self._sim_ns += int(round(self.params["episode_gap_s"] * _NS))
        try:
            self._start_episode()
        except Exception as exc:  # noqa: BLE001 - a service answers, whatever the simulator does
            response.success, response.message = False, f"reset failed: {type(exc).__name__}: {exc}"
            self.get_logger().error(response.message)
            return response
        response.success, response.message = True, f"episode {self.episode} (seed {self.seed})"
        return response

    # -- actions ---------------------------------------------------------------------------------
    def _on_action(self, msg: Float32MultiArray) -> None:
        try:
            self.run_in_sim(self._apply_action, msg)
        except Exception as exc:  # noqa: BLE001 - a failing step is logged; the node keeps running
            self.actions_rejected += 1
            self.get_logger().error(f"action failed: {type(exc).__name__}: {exc}", throttle_duration_sec=5.0)

    def _apply_action(self, msg: Float32MultiArray) -> None:
        data = np.asarray(msg.data, dtype=np.float64)
        if data.size == 0 or data.size % self.action_dim or not np.all(np.isfinite(data)):
            self.actions_rejected += 1
            self.get_logger().warning(
                f"rejected action message: {data.size} numbers, need a non-empty multiple of {self.action_dim}, "
                f"all finite", throttle_duration_sec=5.0)
            return
        rows = np.clip(data.reshape(-1, self.action_dim), self.action_low, self.action_high)
        applied = 0
        for row in rows:
            if self.step >= self.params["max_steps"]:
                self.actions_ignored += len(rows) - applied
                self.get_logger().warning(f"episode {self.episode} is at max_steps={self.params['max_steps']}; "
                                          f"actions ignored until sim/reset", throttle_duration_sec=5.0)
                break
            self.sim.model.step(row)
            self.step += 1
            self._sim_ns += self._dt_ns
            applied += 1
        if applied:
            self._publish_state()

    # -- rollouts --------------------------------------------------------------------------------
    def _on_rollout(self, request: RolloutCandidates.Request,
                    response: RolloutCandidates.Response) -> RolloutCandidates.Response:
        try:
            return self.run_in_sim(self._rollout, request, response)
        except Exception as exc:  # noqa: BLE001 - a service answers, whatever the simulator does
            response.status = RolloutCandidates.Response.STATUS_SIM_ERROR
            response.message = f"{type(exc).__name__}: {exc}"
            self.get_logger().error(f"rollout failed: {response.message}")
            return response

    def _rollout(self, request: RolloutCandidates.Request,
                 response: RolloutCandidates.Response) -> RolloutCandidates.Response:
        R = RolloutCandidates.Response
        response.episode, response.step = self.episode, self.step
        response.success = bool(self.sim.model.success())
        response.action_low = self.action_low.astype(np.float32).tolist()
        response.action_high = self.action_high.astype(np.float32).tolist()
        if (request.expected_episode >= 0 and request.expected_episode != self.episode) or (
                request.expected_step >= 0 and request.expected_step != self.step):
            response.status = R.STATUS_STATE_MISMATCH
            response.message = (f"bridge is at episode {self.episode} step {self.step}, request expects episode "
                                f"{request.expected_episode} step {request.expected_step}")
            return response
        n, horizon, repeat = int(request.num_candidates), int(request.horizon), int(request.action_repeat)
        if n == 0:
            response.status = R.STATUS_OK
            return response
        p = self.params
        if horizon < 1 or repeat < 1:
            response.status, response.message = R.STATUS_INVALID_REQUEST, "horizon and action_repeat must be >= 1"
            return response
        if n > p["max_candidates"] or horizon > p["max_horizon"] or repeat > p["max_action_repeat"]:
            response.status = R.STATUS_TOO_LARGE
            response.message = (f"{n} candidates x horizon {horizon} x repeat {repeat} exceeds max_candidates="
                                f"{p['max_candidates']}, max_horizon={p['max_horizon']}, "
                                f"max_action_repeat={p['max_action_repeat']}")
            return response
        actions = np.asarray(request.actions, dtype=np.float64)
        if actions.size != n * horizon * self.action_dim or not np.all(np.isfinite(actions)):
            response.status = R.STATUS_INVALID_REQUEST
            response.message = (f"actions must hold {n} x {horizon} x {self.action_dim} = "
                                f"{n * horizon * self.action_dim} finite numbers, got {actions.size}")
            return response
        actions = np.clip(actions.reshape(n, horizon, self.action_dim), self.action_low, self.action_high)
        context = list(self.history)[-int(request.context_frames):] if request.render and request.context_frames else []
        t0 = time.perf_counter()
        start = self.sim.model.snapshot()
        try:
            batch = rollout_candidates(
                self.sim.model, start, actions, repeat, render=bool(request.render),
                context_frames=np.stack([f for _, f in context]) if context else None,
                max_clip_frames=int(request.max_clip_frames) or None)
        except InputError as exc:
            self.sim.model.restore(start)
            response.status, response.message = R.STATUS_INVALID_REQUEST, str(exc)
            return response
        except Exception as exc:  # noqa: BLE001 - a service answers, whatever the simulator does
            self.sim.model.restore(start)
            response.status, response.message = R.STATUS_SIM_ERROR, f"{type(exc).__name__}: {exc}"
            self.get_logger().error(f"rollout failed: {response.message}")
            return response
        response.successes = [bool(s) for s in batch.successes]
        response.dense_rewards = [float(info.get("dense_reward", np.nan)) for info in batch.infos]
        if batch.clips is not None:
            stamps = self._clip_stamps([s for s, _ in context], horizon, repeat, int(request.max_clip_frames) or None)
            stamp_msgs = [ns_to_stamp(s) for s in stamps]
            frame_id = p["frame_id"]
            response.clips = [Clip(frames=rgb_frames_to_image_msgs(clip, "rgb8", stamp_msgs, frame_id),
                                   stamps=stamp_msgs)
                              for clip in batch.clips]
        response.latency_ms = float((time.perf_counter() - t0) * 1e3)
        response.status = R.STATUS_OK
        self.rollouts_served += n
        return response

    def _clip_stamps(self, context_ns: Sequence[int], horizon: int, repeat: int,
                     max_frames: Optional[int]) -> np.ndarray:
        """Stamps of a candidate clip, thinned exactly like its frames: the context frames' own,
        then the current stamp plus (h + 1) * repeat simulated steps for future frame h."""
        now = self.history[-1][0] if self.history else self._now_ns()
        future = now + (np.arange(1, horizon + 1, dtype=np.int64) * repeat * self._dt_ns)
        stamps = np.concatenate([np.asarray(context_ns, dtype=np.int64), future])
        return subsample_frames(stamps.reshape(-1, 1, 1, 1), max_frames).reshape(-1)

