"""CEM / MPC through ROS: the planner of `a2r_core.planning`, with a remote simulator and reward.

Each planning step runs `a2r_core.planning.CEMPlanner.plan` (sampling, elites, refit, warm start:
not re-implemented here). Its candidates are rolled out by the simulator bridge's `sim/rollout`
service (a2r_ros/srv/RolloutCandidates: the bridge restores its current state for each candidate
and renders the future) and scored by the reward node's `a2r/query_reward` service (the clips are
forwarded as they came, no re-encoding), or, with `reward_source: oracle`, by the simulator's own
dense reward (no rendering: the planner's upper bound). The first `execute_steps` actions of the
best sequence go to `sim/action` (each as one message of `action_repeat` identical rows, so the
bridge renders one frame per planning action, as `run_mpc` records), then it re-plans.

How the pieces fit CEMPlanner: the planner's `RolloutModel` here is `_BridgeState`, a stand-in
that knows the bridge's action bounds and does nothing on step/restore, and its scorer is
`_BridgeScorer` with `needs_frames = False`, so `rollout_candidates` only hands the candidate
action sequences through to the scorer, which does the real rollout remotely in one service call.

Every request names the episode and step the planner expects the bridge to be at (the actions it
sent must have been applied first); the bridge answers STATE_MISMATCH until they are, and the
planner retries. The loop runs on a worker thread with blocking service calls, so the node must
be spun by an executor in another thread (`main`, `a2r ros up` and the tests do).

Before its first action the planner waits (up to `service_timeout_s`) until the bridge's action
subscription has matched its publisher: a reliable message sent before matching is simply not
delivered, and the planner would then wait for a step that never comes.

Results: one std_msgs/String JSON line per episode on `planner/result` (success, steps, rollouts,
seconds), latched (transient-local: a late subscriber still gets the last ones, see
`sim_spec.PLANNER_RESULT_TOPIC`), and the same dicts in `PlannerNode.results`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Float32MultiArray, String
from std_srvs.srv import Trigger

from a2r_core.errors import ConfigError, InputError
from a2r_core.planning import CEMConfig, CEMPlanner, RolloutBatch
from a2r_ros.node_main import run_node
from a2r_ros import sim_spec
from a2r_ros.reward_client import RewardQueryError, result_from_response
from a2r_ros.node_util import descriptor_for, latched_qos
from a2r_ros.service_call import CallStopped, ServiceError, call_service
from a2r_ros.srv import QueryReward, RolloutCandidates

NODE_NAME = "planner_node"
RESULT_TOPIC = sim_spec.PLANNER_RESULT_TOPIC
_CEM_FIELDS = ("horizon", "samples", "iterations", "elites", "action_repeat", "execute_steps", "init_std",
               "min_std", "momentum", "include_history", "max_clip_frames", "seed")


class PlannerStopped(Exception):
    """The node is shutting down; the worker unwinds."""


def cem_config(p: dict[str, Any]) -> CEMConfig:
    """The planner's CEMConfig from its parameters (CEMConfig validates: ConfigError if invalid)."""
    values = {name: p[name] for name in _CEM_FIELDS}
    values["max_clip_frames"] = values["max_clip_frames"] or None
    return CEMConfig(**values)


@dataclass
class _BridgeState:
    """The planner's view of the bridge as a `RolloutModel`: the bounds are real; the state lives in
    the bridge, so snapshot/restore/step are no-ops (the scorer rolls out remotely)."""

    low: np.ndarray
    high: np.ndarray

    @property
    def action_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.low, self.high

    def snapshot(self) -> None:
        return None

    def restore(self, snapshot: Any) -> None:
        return None

    def step(self, action: np.ndarray) -> dict:
        return {}

    def render(self) -> np.ndarray:
        raise InputError("the planner node never renders locally: the bridge renders candidate futures")

    def success(self) -> bool:
        return False


class _BridgeScorer:
    """Scores CEM candidates: rollout on the bridge, then the reward node (or the oracle)."""

    needs_frames = False  # nothing is rendered locally; see the module docstring

    def __init__(self, node: "PlannerNode") -> None:
        self.node = node

    def __call__(self, batch: RolloutBatch) -> np.ndarray:
        return self.node.score_candidates(batch.actions)


class PlannerNode(Node):
    """The MPC planner node (see the module docstring). Raises ConfigError from the constructor
    for invalid parameters; starts planning on its worker thread once constructed."""

    def __init__(self, node_name: str = NODE_NAME, **node_kwargs: Any) -> None:
        super().__init__(node_name, **node_kwargs)
        try:
            self._setup()
        except (ParameterException, NameValidationException) as exc:
            Node.destroy_node(self)
            raise ConfigError(f"{node_name}: {exc}") from exc
        except BaseException:
            Node.destroy_node(self)
            raise

    def _setup(self) -> None:
        for spec in sim_spec.PLANNER_NODE_PARAMETERS:
            self.declare_parameter(spec.name, spec.default, descriptor_for(spec))
        p = {spec.name: self.get_parameter(spec.name).value for spec in sim_spec.PLANNER_NODE_PARAMETERS}
        self.params = p
        self.config = cem_config(p)
        if p["reward_source"] == "service" and not p["instruction"].strip():
            raise ConfigError("parameter instruction is empty (needed with reward_source service)")
        self.instruction = p["instruction"].strip()
        self.results: list[dict] = []
        self.plans = 0
        self.actions_sent = 0
        self.error: Optional[str] = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._episode = -1
        self._step = 0

        group = ReentrantCallbackGroup()  # responses are handled while the worker waits
        self._rollout = self.create_client(RolloutCandidates, p["rollout_service"], callback_group=group)
        self._reset = self.create_client(Trigger, p["reset_service"], callback_group=group)
        self._reward = self.create_client(QueryReward, p["reward_service"], callback_group=group)
        reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self._action_pub = self.create_publisher(Float32MultiArray, p["action_topic"], reliable)
        self._result_pub = self.create_publisher(String, RESULT_TOPIC, latched_qos(sim_spec.PLANNER_RESULT_DEPTH))
        self._worker = threading.Thread(target=self._run, name="a2r_planner", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"MPC: horizon {p['horizon']}, {p['samples']} samples x {p['iterations']} iterations, action repeat "
            f"{p['action_repeat']}, reward {p['reward_source']}"
            + (f" for {self.instruction!r}" if p["reward_source"] == "service" else ""))

    # -- service calls (worker thread) -----------------------------------------------------------
    def _call(self, client: Any, request: Any) -> Any:
        """Blocking call from the worker thread; an executor elsewhere delivers the response."""
        try:
            return call_service(client, request, float(self.params["service_timeout_s"]), self._stop)
        except CallStopped:
            raise PlannerStopped() from None

    def _rollout_call(self, actions: Optional[np.ndarray], render: bool, context: int = 0,
                      max_clip_frames: int = 0, expect: bool = True) -> RolloutCandidates.Response:
        """A rollout (or, with no actions, an info) request at the expected episode/step; retried
        while the bridge has not applied the planner's last actions yet."""
        R = RolloutCandidates.Response
        request = RolloutCandidates.Request(render=render, context_frames=context, max_clip_frames=max_clip_frames,
                                            expected_episode=self._episode if expect else -1,
                                            expected_step=self._step if expect else -1)
        if actions is not None:
            n, horizon, _ = actions.shape
            request.actions = actions.astype(np.float32).reshape(-1).tolist()
            request.num_candidates, request.horizon = n, horizon
            request.action_repeat = self.config.action_repeat
        deadline = time.monotonic() + float(self.params["service_timeout_s"])
        while True:
            response = self._call(self._rollout, request)
            if response.status == R.STATUS_OK:
                return response
            if response.status != R.STATUS_STATE_MISMATCH or time.monotonic() > deadline:
                raise ServiceError(f"{self._rollout.srv_name}: status {response.status}: {response.message}")
            time.sleep(0.02)

    def score_candidates(self, actions: np.ndarray) -> np.ndarray:
        """[N, H, A] candidate actions -> [N] scores (rollout on the bridge, then the reward)."""
        cfg, p = self.config, self.params
        oracle = p["reward_source"] == "oracle"
        # include_history: every frame the bridge kept this episode (it caps them); else the current one.
        context = 0 if oracle else (2**31 - 1 if cfg.include_history else 1)
        response = self._rollout_call(actions, render=not oracle, context=context,
                                      max_clip_frames=int(cfg.max_clip_frames or 0))
        if oracle:
            return np.asarray(response.dense_rewards, dtype=np.float64)
        scores = []
        size = int(p["reward_batch_size"])
        for start in range(0, len(response.clips), size):
            request = QueryReward.Request(instructions=[self.instruction], clips=list(response.clips[start:start + size]))
            try:
                result = result_from_response(self._call(self._reward, request))
            except RewardQueryError as exc:
                raise ServiceError(str(exc)) from exc
            scores.append(result.rewards[:, 0])
        return np.concatenate(scores).astype(np.float64)

    def _wait_for_action_subscriber(self) -> None:
        """Block until someone subscribes to the action topic (the bridge); ServiceError after
        service_timeout_s. Without this, an action published before DDS matched the two ends is
        dropped and the step the planner waits for never comes (seen on a loaded 2-core CI host)."""
        timeout = float(self.params["service_timeout_s"])
        deadline = time.monotonic() + timeout
        while self._action_pub.get_subscription_count() == 0:
            if self._stop.is_set():
                raise PlannerStopped()
            if time.monotonic() > deadline:
                raise ServiceError(f"nobody subscribes to {self._action_pub.topic_name} after {timeout:g} s "
                                   "(is the simulator bridge running in this namespace?)")
            time.sleep(0.02)

    # -- the MPC loop (worker thread) ------------------------------------------------------------
    def _run(self) -> None:
        try:
            info = self._rollout_call(None, render=False, expect=False)
            planner = CEMPlanner(self.config, _BridgeState(np.asarray(info.action_low, dtype=np.float64),
                                                           np.asarray(info.action_high, dtype=np.float64)),
                                 _BridgeScorer(self))
            self._episode, self._step = int(info.episode), int(info.step)
            count = 0
            while not self._stop.is_set() and (self.params["episodes"] == 0 or count < self.params["episodes"]):
                self.results.append(self._run_episode(planner))
                count += 1
                self._result_pub.publish(String(data=json.dumps(self.results[-1])))
                self.get_logger().info(f"episode result: {self.results[-1]}")
        except PlannerStopped:
            pass
        except Exception as exc:  # noqa: BLE001 - reported on the node, the process stays up
            if self._stop.is_set() or not self.context.ok():
                # Ctrl-C / SIGTERM: rclpy shut the context down under a call in flight. That is
                # the end of the run, not a planner failure: no ERROR line on a clean shutdown.
                return
            self.error = f"{type(exc).__name__}: {exc}"
            self.get_logger().error(f"planner stopped: {self.error}")
        finally:
            self._done.set()

    def _run_episode(self, planner: CEMPlanner) -> dict:
        p, cfg = self.params, self.config
        if p["reset_each_episode"]:
            answer = self._call(self._reset, Trigger.Request())
            if not answer.success:
                raise ServiceError(f"{self._reset.srv_name}: {answer.message}")
            info = self._rollout_call(None, render=False, expect=False)
            self._episode, self._step = int(info.episode), int(info.step)
        planner.reset()
        self._wait_for_action_subscriber()  # once per episode, before its first action
        t0 = time.perf_counter()
        executed, rollouts, success, success_step = 0, 0, False, None
        best_first, best_last = [], []
        while executed < p["max_steps"] and not self._stop.is_set():
            plan = planner.plan()
            self.plans += 1
            rollouts += plan.rollouts
            best_first.append(plan.best_per_iteration[0])
            best_last.append(plan.best_per_iteration[-1])
            for action in plan.actions[: min(cfg.execute_steps, p["max_steps"] - executed)]:
                rows = np.repeat(action[None].astype(np.float32), cfg.action_repeat, axis=0)
                self._action_pub.publish(Float32MultiArray(data=rows.reshape(-1).tolist()))
                self.actions_sent += 1
                self._step += cfg.action_repeat
                executed += 1
                success = bool(self._rollout_call(None, render=False).success)  # waits until applied
                if success and success_step is None:
                    success_step = executed
                if success and p["stop_on_success"]:
                    break
            if success and p["stop_on_success"]:
                break
        return {"episode": self._episode, "success": success, "success_step": success_step,
                "executed_steps": executed, "plans": len(best_first), "rollouts": rollouts,
                "seconds": round(time.perf_counter() - t0, 3),
                "best_first_iteration": [round(float(v), 6) for v in best_first],
                "best_last_iteration": [round(float(v), 6) for v in best_last]}

    def wait_done(self, timeout: float) -> bool:
        """Block until the worker has finished its episodes (or failed); True if it did."""
        return self._done.wait(timeout)

    def destroy_node(self) -> None:
        """Stop the worker (it unwinds at its next wait), then destroy the node."""
        self._stop.set()
        if self._worker.is_alive():
            self._worker.join(timeout=30.0)
        super().destroy_node()


def main(argv: Sequence[str] | None = None) -> int:
    """`ros2 run a2r_ros planner_node [--ros-args -p instruction:=... -p horizon:=8]`."""
    return run_node(PlannerNode, NODE_NAME, argv)


if __name__ == "__main__":
    raise SystemExit(main())
