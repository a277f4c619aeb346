"""The reward node is a managed (lifecycle) node (issue 15, item 7).

A real reward node started with `autostart: false`, driven from a second node through its
`reward_node/change_state` service (lifecycle_msgs/srv/ChangeState, what `ros2 lifecycle set`
calls), on a MultiThreadedExecutor in this process:
- unconfigured -> configure (model loaded, nothing subscribed) -> activate (rewards published)
  -> deactivate (nothing subscribed, no rewards, no service) -> cleanup (model released) ->
  shutdown (finalized);
- a corrupt checkpoint (garbage bytes as model.safetensors): configure fails, the node stays
  unconfigured and the log says why; with autostart (the default) the constructor raises it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import threading
import time

import numpy as np
import pytest
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.msg import Log
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image

from a2r_core.errors import CheckpointError
from a2r_core.waiting import wait_until as _wait
from a2r_ros.msg import RewardScore
from a2r_ros.reward_node import RewardNode
from a2r_ros.srv import QueryReward
from test_reward_node import HZ30, RELIABLE, T0, _frames, _stamped

_NAMESPACES = itertools.count()


class _Manager:
    """A node that drives the reward node's lifecycle the way `ros2 lifecycle set` does."""

    def __init__(self, ros, checkpoint, **params) -> None:
        self.ns = f"lc{os.getpid()}_{next(_NAMESPACES)}"
        values = {"checkpoint": str(checkpoint), "autostart": False, "image_qos": "reliable",
                  "image_qos_depth": 200, "queue_size": 100, "stale_timeout_s": 600.0, **params}
        self.node = RewardNode(context=ros.context, namespace=self.ns,
                               parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
        self.client = Node("lifecycle_manager", context=ros.context, namespace=self.ns)
        self.change = self.client.create_client(ChangeState, "reward_node/change_state")
        self.get = self.client.create_client(GetState, "reward_node/get_state")
        self.query = self.client.create_client(QueryReward, "a2r/query_reward")
        self.images = self.client.create_publisher(Image, "camera/image_raw", RELIABLE)
        self.rewards: list[RewardScore] = []
        self.logs: list[str] = []
        self.client.create_subscription(RewardScore, "a2r/reward", self.rewards.append, RELIABLE)
        name = self.node.get_logger().name
        self.client.create_subscription(Log, "/rosout", lambda m: self.logs.append(m.msg) if m.name == name else None,
                                        RELIABLE)
        self.executor = MultiThreadedExecutor(num_threads=4, context=ros.context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.client)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()
        assert _wait(lambda: self.change.service_is_ready() and self.get.service_is_ready(), 60.0)

    def _call(self, client, request):
        future = client.call_async(request)
        assert _wait(future.done, 120.0), "no response"
        return future.result()

    def state(self) -> str:
        return self._call(self.get, GetState.Request()).current_state.label

    def transition(self, transition_id: int) -> bool:
        return self._call(self.change, ChangeState.Request(transition=Transition(id=transition_id))).success

    def close(self) -> None:
        self.executor.shutdown()
        self.thread.join(timeout=10)
        self.node.destroy_node()
        self.client.destroy_node()


@contextlib.contextmanager
def manager(ros, checkpoint, **params):
    m = _Manager(ros, checkpoint, **params)
    try:
        yield m
    finally:
        m.close()


@pytest.mark.ros
def test_transitions_in_order_configure_activate_deactivate_cleanup_shutdown(ros, tiny_checkpoint) -> None:
    frames = _frames(60, seed=41)
    stamps = T0 + HZ30 * np.arange(60)
    with manager(ros, tiny_checkpoint, rate_hz=5.0, window_s=0.5, min_frames=3) as m:
        assert m.state() == "unconfigured"
        assert m.node.model is None and m.images.get_subscription_count() == 0

        assert m.transition(Transition.TRANSITION_CONFIGURE)
        assert m.state() == "inactive"
        assert m.node.model is not None  # configure loaded the checkpoint ...
        assert m.client.count_publishers(f"/{m.ns}/a2r/reward") == 0  # ... and started nothing
        assert not m.query.service_is_ready()

        assert m.transition(Transition.TRANSITION_ACTIVATE)
        assert m.state() == "active"
        assert _wait(lambda: m.images.get_subscription_count() == 1 and m.query.service_is_ready(), 60.0)
        assert _wait(lambda: m.client.count_publishers(f"/{m.ns}/a2r/reward") == 1, 60.0)
        for i in range(20):
            m.images.publish(_stamped(frames[i], int(stamps[i])))
        assert _wait(lambda: len(m.rewards) >= 2, 120.0), f"{len(m.rewards)} rewards while active"
        assert _wait(lambda: m.node.stats.frames_received == 20, 60.0)

        assert m.transition(Transition.TRANSITION_DEACTIVATE)
        assert m.state() == "inactive"
        assert _wait(lambda: m.images.get_subscription_count() == 0 and not m.query.service_is_ready(), 60.0)
        assert m.node._worker is None
        seen, received = len(m.rewards), m.node.stats.frames_received
        for i in range(20, 60):
            m.images.publish(_stamped(frames[i], int(stamps[i])))
        time.sleep(1.0)  # what would have arrived, had anything still listened
        assert len(m.rewards) == seen and m.node.stats.frames_received == received
        assert m.node.model is not None  # inactive keeps the model

        assert m.transition(Transition.TRANSITION_CLEANUP)
        assert m.state() == "unconfigured"
        assert m.node.model is None and m.node.buffer is None

        assert m.transition(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
        assert m.state() == "finalized"
        # transitions that do not exist from a state are refused, as ros2 lifecycle set reports
        assert not m.transition(Transition.TRANSITION_ACTIVATE)


@pytest.mark.ros
def test_reactivation_scores_again_from_fresh_frames(ros, tiny_checkpoint) -> None:
    frames = _frames(40, seed=42)
    with manager(ros, tiny_checkpoint, rate_hz=5.0, window_s=0.5, min_frames=3) as m:
        for step in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE,
                     Transition.TRANSITION_DEACTIVATE, Transition.TRANSITION_ACTIVATE):
            assert m.transition(step), step
        assert _wait(lambda: m.images.get_subscription_count() == 1, 60.0)
        later = T0 + 100 * 1_000_000_000 + HZ30 * np.arange(40)
        for frame, stamp in zip(frames, later):
            m.images.publish(_stamped(frame, int(stamp)))
        assert _wait(lambda: len(m.rewards) >= 2, 120.0)
        assert all(m_.clip_start.sec >= int(later[0] // 1_000_000_000) for m_ in m.rewards)


def _corrupt_copy(checkpoint, tmp_path):
    corrupt = tmp_path / "corrupt"
    shutil.copytree(checkpoint, corrupt)
    (corrupt / "model.safetensors").write_bytes(b"\x00garbage\xffnot safetensors")
    return corrupt


@pytest.mark.ros
def test_a_failing_configure_on_a_corrupt_checkpoint_stays_unconfigured_with_the_reason(
        ros, tiny_checkpoint, tmp_path) -> None:
    corrupt = _corrupt_copy(tiny_checkpoint, tmp_path)
    with manager(ros, corrupt) as m:
        assert _wait(lambda: m.client.count_subscribers("/rosout") >= 1)
        assert not m.transition(Transition.TRANSITION_CONFIGURE)
        assert m.state() == "unconfigured"
        assert m.node.model is None and m.node.buffer is None
        assert isinstance(m.node.transition_error, CheckpointError)
        assert str(corrupt) in str(m.node.transition_error)
        assert _wait(lambda: any("configure failed" in line and str(corrupt) in line for line in m.logs), 30.0), m.logs
        # still a working lifecycle node: it can be shut down
        assert m.transition(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
        assert m.state() == "finalized"


@pytest.mark.ros
def test_autostart_raises_the_configure_failure(ros, tiny_checkpoint, tmp_path) -> None:
    """What `ros2 run` / `a2r ros up` turn into one FATAL line and exit code 1 (node_main)."""
    corrupt = _corrupt_copy(tiny_checkpoint, tmp_path)
    with pytest.raises(CheckpointError) as info:
        RewardNode(context=ros.context, namespace="lc_autostart",
                   parameter_overrides=[Parameter("checkpoint", value=str(corrupt))])
    assert str(corrupt) in str(info.value)
