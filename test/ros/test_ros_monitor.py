"""`a2r ros monitor`: the reward monitor for pip-only machines (no `ros2` command there), run as the
user runs it, a separate process, against RewardScore messages from a real rclpy publisher."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.ros

A2R = str(Path(sys.executable).with_name("a2r"))


def test_monitor_prints_rewards_in_a_namespace_and_stops_after_count(ros) -> None:
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from a2r_ros.msg import RewardScore

    proc = subprocess.Popen([A2R, "ros", "monitor", "--namespace", "robot1", "--count", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    node = Node("monitor_test_publisher", context=ros.context)
    try:
        pub = node.create_publisher(RewardScore, "/robot1/a2r/reward",
                                    QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        msg = RewardScore(instruction="open the drawer", reward=-2.5, success_probability=0.25, frame_count=8,
                          most_likely_failure_mode=-1)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            pub.publish(msg)
            ros.spin_until(lambda: False, node, timeout=0.2)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        node.destroy_node()
    assert proc.returncode == 0, err
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 2, out
    assert all('reward=-2.500  p(success)=0.250  mode=-  frames=8' in ln and '"open the drawer"' in ln for ln in lines)


def test_monitor_ends_cleanly_on_ctrl_c() -> None:
    proc = subprocess.Popen([A2R, "ros", "monitor"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3.0)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err, err
