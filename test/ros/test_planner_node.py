"""The MPC planner node end to end: a real MetaWorld bridge, a real reward node (small random-weight
checkpoint, see conftest.py) and the planner, all real rclpy nodes spinning in the background."""

from __future__ import annotations

import itertools
import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import Float32MultiArray, String

from a2r_core.errors import ConfigError
from a2r_core.waiting import wait_until as _wait
from a2r_ros.metaworld_bridge import MetaWorldBridge
from a2r_ros.node_util import latched_qos
from a2r_ros.sim_spec import PLANNER_RESULT_DEPTH
from a2r_ros.planner_node import PlannerNode
from a2r_ros.reward_node import RewardNode

pytestmark = pytest.mark.ros
REPO = Path(__file__).resolve().parents[2]
_NS = itertools.count()
SMALL = dict(horizon=3, samples=4, iterations=2, elites=2, action_repeat=2, execute_steps=2, max_clip_frames=6)


def _overrides(values: dict[str, Any]) -> list[Parameter]:
    return [Parameter(k, value=v) for k, v in values.items()]


class _Stack:
    """Bridge + (optional) reward node + planner + a listener, spinning on one executor thread."""

    def __init__(self, ros, planner: dict[str, Any], checkpoint: Path | None = None,
                 bridge: dict[str, Any] | None = None) -> None:
        self.ns = f"pl{os.getpid()}_{next(_NS)}"
        self.nodes: list[Node] = []
        self.bridge = MetaWorldBridge(context=ros.context, namespace=self.ns, parameter_overrides=_overrides(
            {"task": "reach-v3", "image_size": 32, **(bridge or {})}))
        self.nodes.append(self.bridge)
        self.reward = None
        if checkpoint is not None:
            self.reward = RewardNode(context=ros.context, namespace=self.ns, parameter_overrides=_overrides(
                {"checkpoint": str(checkpoint), "instructions": ["reach the goal position"]}))
            self.nodes.append(self.reward)
        self.listener = Node("listener", context=ros.context, namespace=self.ns)
        self.actions: list[np.ndarray] = []
        self.results: list[dict] = []
        reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.listener.create_subscription(Float32MultiArray, "sim/action",
                                          lambda m: self.actions.append(np.array(m.data)), reliable)
        self.listener.create_subscription(String, "planner/result",
                                          lambda m: self.results.append(json.loads(m.data)), reliable)
        self.nodes.append(self.listener)
        self.executor = MultiThreadedExecutor(num_threads=4, context=ros.context)
        for node in self.nodes:
            self.executor.add_node(node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()
        self.start_distance = _hand_to_goal(self.bridge)   # before the planner can act
        self.planner = PlannerNode(context=ros.context, namespace=self.ns, parameter_overrides=_overrides(planner))
        self.nodes.append(self.planner)
        self.executor.add_node(self.planner)

    def close(self) -> None:
        self.planner.destroy_node()
        self.executor.shutdown()
        self.thread.join(timeout=10)
        for node in self.nodes[:-1]:
            node.destroy_node()


def _hand_to_goal(bridge: MetaWorldBridge) -> float:
    inner = bridge.sim.model.env._env
    return bridge.run_in_sim(lambda: float(np.linalg.norm(inner.tcp_center - inner._target_pos)))


def test_planner_scores_through_the_reward_service_and_sends_actions(ros, tiny_checkpoint) -> None:
    stack = _Stack(ros, {**SMALL, "max_steps": 4, "stop_on_success": False}, checkpoint=tiny_checkpoint)
    try:
        assert stack.planner.wait_done(180.0), "planner did not finish"
        assert stack.planner.error is None, stack.planner.error
        (result,) = stack.planner.results
        assert result["executed_steps"] == 4 and result["plans"] == 2
        assert result["rollouts"] == 2 * SMALL["iterations"] * SMALL["samples"]
        # the bridge applied 4 planning actions x action_repeat 2 simulator steps, after a reset
        assert stack.bridge.episode == 1 and stack.bridge.step == 8
        assert stack.planner.actions_sent == 4
        assert _wait(lambda: len(stack.actions) == 4 and len(stack.results) == 1)
        for rows in stack.actions:  # each message: one planning action repeated action_repeat times
            rows = rows.reshape(2, 4)
            assert np.array_equal(rows[0], rows[1]) and np.all(np.abs(rows) <= 1)
        # every CEM iteration was one batched reward query on the reward node
        assert stack.reward.stats.queries == 2 * SMALL["iterations"]
        assert stack.reward.stats.queries_rejected == 0
        assert stack.results[0]["episode"] == 1
        # the result is latched: a subscriber that appears after the episode ended still gets it
        late: list[dict] = []
        late_node = Node("late_listener", context=ros.context, namespace=stack.ns)
        late_node.create_subscription(String, "planner/result", lambda m: late.append(json.loads(m.data)),
                                      latched_qos(PLANNER_RESULT_DEPTH))
        stack.nodes.insert(0, late_node)
        stack.executor.add_node(late_node)
        assert _wait(lambda: len(late) == 1, 30), "a late subscriber did not get the latched result"
        assert late[0] == stack.results[0]
    finally:
        stack.close()


def test_oracle_planner_moves_the_hand_to_the_goal(ros) -> None:
    stack = _Stack(ros, {"horizon": 4, "samples": 16, "iterations": 3, "elites": 4, "action_repeat": 2,
                         "execute_steps": 2, "max_steps": 12, "reward_source": "oracle", "stop_on_success": False,
                         "reset_each_episode": False})
    try:
        start = stack.start_distance
        assert stack.planner.wait_done(180.0) and stack.planner.error is None, stack.planner.error
        end = _hand_to_goal(stack.bridge)
        assert end < 0.7 * start, f"hand-goal distance {start:.3f} -> {end:.3f}"
        assert stack.bridge.step == 24
    finally:
        stack.close()


def test_invalid_planner_parameters_are_config_errors(ros) -> None:
    with pytest.raises(ConfigError, match="elites"):
        PlannerNode(context=ros.context, parameter_overrides=_overrides({"samples": 4, "elites": 5}))
    with pytest.raises(ConfigError, match="horizon"):
        PlannerNode(context=ros.context, parameter_overrides=_overrides({"horizon": 0}))
    with pytest.raises(ConfigError, match="instruction is empty"):
        PlannerNode(context=ros.context, parameter_overrides=_overrides({"instruction": " "}))

