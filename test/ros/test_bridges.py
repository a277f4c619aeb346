"""Simulator bridge nodes (MetaWorld and PyBullet) with real rclpy publishers, subscribers and
services, on real simulators.

Each test's nodes spin on a MultiThreadedExecutor in a background thread (as `ros2 run` / `a2r ros
up` spin them) in their own namespace, while the test publishes, calls and waits.
"""

from __future__ import annotations

import itertools
import os
import threading
from typing import Any

import numpy as np
import pytest
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Bool, Float32MultiArray
from std_srvs.srv import Trigger

from a2r_core.errors import ConfigError
from a2r_core.images import image_to_rgb
from a2r_core.waiting import wait_until as _wait
from a2r_ros.image_conversion import stamp_to_ns
from a2r_ros.metaworld_bridge import MetaWorldBridge
from a2r_ros.pybullet_bridge import PybulletBridge
from a2r_ros.srv import RolloutCandidates

pytestmark = pytest.mark.ros
R = RolloutCandidates.Response
_NS = itertools.count()
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)


class _Rig:
    """A bridge + a client node (camera/success subscribers, action publisher, service clients)."""

    def __init__(self, ros, cls: type, **params: Any) -> None:
        self.ns = f"br{os.getpid()}_{next(_NS)}"
        self.bridge = cls(context=ros.context, namespace=self.ns,
                          parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
        self.client = Node("bridge_client", context=ros.context, namespace=self.ns)
        self.frames: list[Image] = []
        self.success: list[bool] = []
        self.client.create_subscription(Image, "camera/image_raw", self.frames.append, qos_profile_sensor_data)
        self.client.create_subscription(Bool, "sim/success", lambda m: self.success.append(m.data), LATCHED)
        self.actions = self.client.create_publisher(Float32MultiArray, "sim/action", RELIABLE)
        self.rollout = self.client.create_client(RolloutCandidates, "sim/rollout")
        self.reset = self.client.create_client(Trigger, "sim/reset")
        self.executor = MultiThreadedExecutor(num_threads=3, context=ros.context)
        self.executor.add_node(self.bridge)
        self.executor.add_node(self.client)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()
        assert _wait(lambda: self.actions.get_subscription_count() > 0 and self.rollout.service_is_ready()
                     and self.reset.service_is_ready() and self.success
                     and self.bridge._image_pub.get_subscription_count() > 0), "bridge not discovered"

    def act(self, rows) -> Image:
        """Send one action message and return the frame the bridge publishes after it."""
        count = len(self.frames)
        self.actions.publish(Float32MultiArray(data=np.asarray(rows, dtype=np.float32).reshape(-1).tolist()))
        assert _wait(lambda: len(self.frames) > count), f"no frame after the action (bridge step {self.bridge.step})"
        return self.frames[-1]

    def call(self, client, request, timeout: float = 60.0):
        future = client.call_async(request)
        assert _wait(future.done, timeout), "no service response"
        return future.result()

    def request(self, actions: np.ndarray, repeat: int = 2, **fields) -> Any:
        n, h, _ = actions.shape
        req = RolloutCandidates.Request(actions=actions.astype(np.float32).reshape(-1).tolist(), num_candidates=n,
                                        horizon=h, action_repeat=repeat, render=True, expected_episode=-1,
                                        expected_step=-1)
        for key, value in fields.items():
            setattr(req, key, value)
        return self.call(self.rollout, req)

    def close(self) -> None:
        self.executor.shutdown()
        self.thread.join(timeout=10)
        self.client.destroy_node()
        self.bridge.destroy_node()


@pytest.fixture
def metaworld(ros):
    rig = _Rig(ros, MetaWorldBridge, task="reach-v3", image_size=48, frame_id="cam", max_candidates=8)
    yield rig
    rig.close()


def _pixels(msg: Image) -> np.ndarray:
    return np.array(image_to_rgb(msg))


def test_actions_move_the_robot_and_frames_are_stamped_on_the_sim_clock(metaworld) -> None:
    rig, bridge = metaworld, metaworld.bridge
    assert rig.success == [False]                       # latched: received although published before
    start = bridge.history[-1]
    msg = rig.act([[1.0, 0.0, 0.0, 0.0]] * 3)           # three simulator steps in one message
    assert bridge.step == 3
    assert msg.header.frame_id == "cam" and msg.encoding == "rgb8" and (msg.width, msg.height) == (48, 48)
    dt_ns = round(bridge.sim.dt * 1e9)
    assert stamp_to_ns(msg.header.stamp) == start[0] + 3 * dt_ns
    assert not np.array_equal(_pixels(msg), start[1]), "the hand moved: the frame changed"
    assert np.array_equal(_pixels(msg), bridge.run_in_sim(bridge.sim.model.render))
    # a malformed message (3 numbers for a 4-D action) is rejected and counted, nothing moves
    rig.actions.publish(Float32MultiArray(data=[0.1, 0.2, 0.3]))
    assert _wait(lambda: bridge.actions_rejected == 1)
    assert bridge.step == 3
    assert len(rig.success) >= 2 and rig.success[-1] is False


def test_reset_starts_the_next_seeded_episode_and_jumps_the_clock(metaworld) -> None:
    rig, bridge = metaworld, metaworld.bridge
    first = rig.act([[0.0, 1.0, 0.0, 0.0]])
    answer = rig.call(rig.reset, Trigger.Request())
    assert answer.success and answer.message == "episode 1 (seed 1)"
    assert bridge.episode == 1 and bridge.step == 0 and len(bridge.history) == 1
    after = rig.act([[0.0, 1.0, 0.0, 0.0]])
    gap_ns = stamp_to_ns(after.header.stamp) - stamp_to_ns(first.header.stamp)
    assert gap_ns == round(10.0 * 1e9) + round(bridge.sim.dt * 1e9)   # episode_gap_s + one step
    assert not np.array_equal(_pixels(first), _pixels(after))          # another seed, another goal


def test_rollout_returns_clips_and_leaves_the_live_episode_unchanged(metaworld) -> None:
    rig, bridge = metaworld, metaworld.bridge
    rig.act([[0.3, 0.3, 0.0, 0.0]] * 2)
    rig.act([[0.3, -0.3, 0.0, 0.0]] * 2)
    live_frame, live_step = bridge.run_in_sim(bridge.sim.model.render), bridge.step
    live_physics = bridge.run_in_sim(bridge.sim.model.snapshot).physics
    cands = np.random.default_rng(0).uniform(-1, 1, (3, 4, 4))

    info = rig.call(rig.rollout, RolloutCandidates.Request(expected_episode=-1, expected_step=-1))
    assert info.status == R.STATUS_OK and list(info.action_low) == [-1.0] * 4 and list(info.action_high) == [1.0] * 4
    assert (info.episode, info.step, info.success) == (0, live_step, False)

    response = rig.request(cands, repeat=2, context_frames=2, expected_episode=0, expected_step=live_step)
    assert response.status == R.STATUS_OK, response.message
    assert len(response.clips) == 3 and len(response.successes) == 3 and len(response.dense_rewards) == 3
    assert all(len(c.frames) == 2 + 4 and len(c.stamps) == 6 for c in response.clips)
    stamps = [stamp_to_ns(s) for s in response.clips[0].stamps]
    assert np.all(np.diff(stamps) > 0) and stamps[1] == bridge.history[-1][0]
    assert np.array_equal(_pixels(response.clips[0].frames[1]), live_frame)   # context ends at "now"
    # the live episode is unchanged
    assert bridge.step == live_step
    assert np.array_equal(bridge.run_in_sim(bridge.sim.model.render), live_frame)
    assert np.array_equal(bridge.run_in_sim(bridge.sim.model.snapshot).physics, live_physics)
    # the same request gives the same frames
    again = rig.request(cands, repeat=2, context_frames=2)
    for a, b in zip(response.clips, again.clips):
        assert all(np.array_equal(_pixels(x), _pixels(y)) for x, y in zip(a.frames, b.frames))
    # executing candidate 1 for real shows exactly the future the rollout predicted
    for h in range(4):
        frame = rig.act([cands[1, h]] * 2)
        assert np.array_equal(_pixels(frame), _pixels(response.clips[1].frames[2 + h])), f"step {h}"
    # thinning keeps first and last
    thin = rig.request(cands[:1], repeat=1, context_frames=100, max_clip_frames=3)
    assert len(thin.clips[0].frames) == 3


def test_rollout_errors_are_statuses(metaworld) -> None:
    rig = metaworld
    cands = np.zeros((2, 3, 4))
    bad = RolloutCandidates.Request(actions=[0.0] * 5, num_candidates=2, horizon=3, action_repeat=1,
                                    expected_episode=-1, expected_step=-1)
    assert rig.call(rig.rollout, bad).status == R.STATUS_INVALID_REQUEST
    assert rig.request(np.zeros((9, 2, 4))).status == R.STATUS_TOO_LARGE          # max_candidates=8
    assert rig.request(cands, repeat=0).status == R.STATUS_INVALID_REQUEST
    nan = cands.copy()
    nan[0, 0, 0] = np.nan
    assert rig.request(nan).status == R.STATUS_INVALID_REQUEST
    mismatch = rig.request(cands, expected_step=999)
    assert mismatch.status == R.STATUS_STATE_MISMATCH and "step 0" in mismatch.message
    oracle = rig.request(cands, render=False)
    assert oracle.status == R.STATUS_OK and not oracle.clips and len(oracle.dense_rewards) == 2


def test_bad_parameters_are_config_errors(ros) -> None:
    with pytest.raises(ConfigError, match="unknown MetaWorld task 'drawer-clos-v3'.*drawer-close-v3"):
        MetaWorldBridge(context=ros.context, parameter_overrides=[Parameter("task", value="drawer-clos-v3")])
    with pytest.raises(ConfigError, match="image_size"):
        MetaWorldBridge(context=ros.context, parameter_overrides=[Parameter("image_size", value=4)])


def test_pybullet_bridge_keeps_the_same_contract(ros) -> None:
    rig = _Rig(ros, PybulletBridge, task="push_right", variant="distractors", image_size=48, max_steps=3)
    try:
        bridge = rig.bridge
        start = bridge.history[-1]
        cands = np.random.default_rng(1).uniform(-1, 1, (2, 3, 3))
        response = rig.request(cands, repeat=1, context_frames=1)
        assert response.status == R.STATUS_OK, response.message
        assert list(response.action_low) == [-1.0] * 3 and len(response.clips[0].frames) == 1 + 3
        assert np.isfinite(response.dense_rewards).all()
        assert np.array_equal(bridge.run_in_sim(bridge.sim.model.render), start[1])
        frames = [rig.act([cands[0, h]]) for h in range(3)]
        for h, frame in enumerate(frames):
            assert np.array_equal(_pixels(frame), _pixels(response.clips[0].frames[1 + h])), f"step {h}"
        assert stamp_to_ns(frames[-1].header.stamp) - start[0] == 3 * round(bridge.sim.dt * 1e9)
        # max_steps=3: a fourth action is ignored and counted
        rig.actions.publish(Float32MultiArray(data=[0.0, 1.0, 0.0]))
        assert _wait(lambda: bridge.actions_ignored == 1)
        assert bridge.step == 3
        assert rig.call(rig.reset, Trigger.Request()).success and bridge.step == 0
    finally:
        rig.close()
