"""The colcon install tree holds what `ros2 run` / `ros2 launch` users need, and it runs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ament_index_python.packages import get_package_prefix, get_package_share_directory
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

from a2r_ros.msg import RewardScore

REPO = Path(__file__).resolve().parents[2]


def _executables() -> dict[str, Path]:
    lib = Path(get_package_prefix("a2r_ros")) / "lib" / "a2r_ros"
    return {p.name: p for p in lib.iterdir()}


def test_every_ros_script_is_an_installed_executable() -> None:
    installed = _executables()
    expected = sorted(p.name for p in (REPO / "scripts" / "ros").iterdir())
    assert expected, "scripts/ros holds the node executables"
    for name in expected:
        assert name in installed, f"{name} missing from lib/a2r_ros"
        assert os.access(installed[name], os.X_OK), f"{name} is not executable"


def test_share_holds_package_xml_launch_and_config() -> None:
    share = Path(get_package_share_directory("a2r_ros"))
    assert (share / "package.xml").is_file()
    assert (share / "launch").is_dir() and (share / "config").is_dir()


def test_installed_reward_monitor_prints_published_rewards(ros) -> None:
    """Run the installed executable as its own process, as `ros2 run a2r_ros reward_monitor` would."""
    exe = _executables()["reward_monitor"]
    proc = subprocess.Popen([str(exe), "--count", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=os.environ.copy())
    node = Node("monitor_feeder", context=ros.context)
    publisher = node.create_publisher(RewardScore, "a2r/reward", QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    msg = RewardScore(instruction="close the drawer", reward=0.5, success_probability=0.25, frame_count=8,
                      most_likely_failure_mode=-1)

    def feed_until_exit() -> bool:
        publisher.publish(msg)
        return proc.poll() is not None

    try:
        assert ros.spin_until(feed_until_exit, node, timeout=30.0), "reward_monitor did not exit after one message"
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        node.destroy_node()
    assert proc.returncode == 0, err
    assert 'reward=+0.500' in out and 'p(success)=0.250' in out and '"close the drawer"' in out
