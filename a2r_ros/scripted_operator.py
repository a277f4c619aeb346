"""A scripted controller that drives a simulator bridge over ROS, the way a robot's controller would.

Why a node and not a call into the simulator: the main job (a2r_ros.demo) must stream its success
and failure episodes THROUGH the bridge's camera topic, with the bridge's simulated-time stamps,
into the reward node, exactly as a real robot's camera would. MetaWorld's scripted experts and the
failure sources of `a2r_core.sim.policies` need the simulator's observation, so the bridge
publishes it (`sim/observation`, once per state) and this node answers each observation with the
policy's next action on `sim/action`: observation -> action -> next observation, in lock-step.

Episode flow (`run_episode`, blocking; an executor must spin the node in another thread):
1. `sim/reset` (std_srvs/Trigger) starts a fresh episode; the first observation after it is the
   reset state's.
2. For each step: action = policy(observation, step); publish it; wait for the next observation.
   Optional real-time pacing keeps the camera stream at the simulator's rate (`step_period_s` per
   step), like a real robot, so a reward node scoring every 1/rate_hz camera seconds keeps up.
3. Stop after `max_steps`, or `success_tail` steps after `sim/success` first reads true.
4. The outcome's success flag is the bridge's own answer at the end (an info request on
   `sim/rollout`, served on the simulator's thread after every queued action), never the
   policy's intent: a "failure" source can succeed by chance, and the caller must be told.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Bool, Float32MultiArray
from std_srvs.srv import Trigger

from a2r_core.errors import A2RError, ConfigError
from a2r_ros import sim_spec
from a2r_ros.service_call import ServiceError, call_service
from a2r_ros.srv import RolloutCandidates

Policy = Callable[[np.ndarray, int], np.ndarray]
"""(observation, step index) -> action (a2r_core.sim.policies.Policy)."""


class OperatorError(A2RError):
    """The bridge did not answer in time (no observation, service missing or failing)."""


@dataclass
class OperatorEpisode:
    """What one scripted episode did, in the bridge's own terms."""

    episode: int                      # the bridge's episode index (its seed is the bridge's seed + this)
    reset_message: str                # the bridge's reset answer, e.g. "episode 1 (seed 1)"
    steps: int                        # actions applied (one simulator step each)
    success: bool                     # the environment's success flag after the last step
    # First step after which sim/success was seen true (None: never). The flag and the observation
    # are separate topics, so this may trail the true first success by a step; `success` is exact.
    first_success_step: Optional[int]
    wall_s: float                     # wall time from the reset to the last observation
    observations: np.ndarray          # [steps + 1, obs_dim]: the reset state's, then one per step


class ScriptedOperator(Node):
    """Lock-step policy driver for a simulator bridge (see the module docstring)."""

    def __init__(self, node_name: str = "scripted_operator", *, timeout_s: float = 30.0, **node_kwargs: Any) -> None:
        super().__init__(node_name, **node_kwargs)
        if timeout_s <= 0:
            raise ConfigError(f"ScriptedOperator timeout_s must be > 0, got {timeout_s}")
        self.timeout_s = float(timeout_s)
        self._observations: "queue.Queue[np.ndarray]" = queue.Queue()
        self._success = False
        self._lock = threading.Lock()
        group = ReentrantCallbackGroup()
        reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self._actions = self.create_publisher(Float32MultiArray, sim_spec.ACTION_TOPIC, reliable)
        self.create_subscription(Float32MultiArray, sim_spec.OBSERVATION_TOPIC, self._on_observation, reliable,
                                 callback_group=group)
        self.create_subscription(Bool, sim_spec.SUCCESS_TOPIC, self._on_success, latched, callback_group=group)
        self._reset = self.create_client(Trigger, sim_spec.RESET_SERVICE, callback_group=group)
        self._info = self.create_client(RolloutCandidates, sim_spec.ROLLOUT_SERVICE, callback_group=group)

    # -- callbacks (executor threads) ------------------------------------------------------------
    def _on_observation(self, msg: Float32MultiArray) -> None:
        self._observations.put(np.asarray(msg.data, dtype=np.float64))

    def _on_success(self, msg: Bool) -> None:
        with self._lock:
            self._success = bool(msg.data)

    # -- blocking helpers (caller's thread) ------------------------------------------------------
    def _call(self, client: Any, request: Any) -> Any:
        try:
            return call_service(client, request, self.timeout_s)
        except ServiceError as exc:
            raise OperatorError(str(exc)) from exc

    def _next_observation(self, what: str) -> np.ndarray:
        try:
            return self._observations.get(timeout=self.timeout_s)
        except queue.Empty:
            raise OperatorError(f"no observation on {sim_spec.OBSERVATION_TOPIC} within {self.timeout_s} s "
                                f"({what}); does the bridge's simulator publish one?") from None

    def _drain(self) -> None:
        while True:
            try:
                self._observations.get_nowait()
            except queue.Empty:
                return

    def wait_for_bridge(self) -> None:
        """Block until the bridge's action subscription and services are up (OperatorError if not)."""
        deadline = time.monotonic() + self.timeout_s
        while not (self._actions.get_subscription_count() > 0 and self._reset.service_is_ready()
                   and self._info.service_is_ready()):
            if time.monotonic() > deadline:
                raise OperatorError(f"no simulator bridge (sim/action, sim/reset, sim/rollout) after {self.timeout_s} s")
            time.sleep(0.02)

    def bridge_state(self) -> RolloutCandidates.Response:
        """The bridge's episode, step and success flag (an info request: nothing is rolled out)."""
        response = self._call(self._info, RolloutCandidates.Request(expected_episode=-1, expected_step=-1))
        if response.status != RolloutCandidates.Response.STATUS_OK:
            raise OperatorError(f"{self._info.srv_name}: status {response.status}: {response.message}")
        return response

    def run_episode(self, policy: Policy, max_steps: int, success_tail: Optional[int] = None,
                    step_period_s: float = 0.0) -> OperatorEpisode:
        """Reset the bridge and run `policy` for up to `max_steps` steps (see the module docstring).

        success_tail: stop this many steps after success first shows (None: always run max_steps).
        step_period_s: pace the steps to at least this wall time each (0: as fast as the bridge).
        """
        if max_steps < 1:
            raise ConfigError(f"max_steps must be >= 1, got {max_steps}")
        if success_tail is not None and success_tail < 0:
            raise ConfigError(f"success_tail must be >= 0 or None, got {success_tail}")
        self.wait_for_bridge()
        self._drain()  # observations of an earlier episode (or of another driver) are stale
        answer = self._call(self._reset, Trigger.Request())
        if not answer.success:
            raise OperatorError(f"{self._reset.srv_name}: {answer.message}")
        with self._lock:
            self._success = False  # the reset publishes the new flag; the old one must not end us
        start = time.monotonic()
        obs = self._next_observation("after sim/reset")
        seen = [obs]
        first_success: Optional[int] = None
        steps = 0
        for step in range(max_steps):
            action = np.asarray(policy(obs, step), dtype=np.float32).reshape(-1)
            self._actions.publish(Float32MultiArray(data=action.tolist()))
            obs = self._next_observation(f"after action {step + 1}")
            seen.append(obs)
            steps = step + 1
            with self._lock:
                succeeded = self._success
            if succeeded and first_success is None:
                first_success = steps
            if first_success is not None and success_tail is not None and steps >= first_success + success_tail:
                break
            if step_period_s > 0:
                time.sleep(max(0.0, start + steps * step_period_s - time.monotonic()))
        wall = time.monotonic() - start
        state = self.bridge_state()
        if state.step != steps:
            raise OperatorError(f"the bridge is at step {state.step} after {steps} actions (another node is "
                                f"driving it, or it hit its max_steps)")
        return OperatorEpisode(episode=int(state.episode), reset_message=answer.message, steps=steps,
                               success=bool(state.success), first_success_step=first_success, wall_s=wall,
                               observations=np.stack(seen))
