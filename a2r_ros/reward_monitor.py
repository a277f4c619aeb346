"""Print the rewards a reward node publishes: `ros2 topic echo` for machines without ros2cli.

pip-only machines (the PyPI `ros-*` wheels) have no `ros2` command, so this small node is the way
to watch `/a2r/reward` there. It prints one line per message:

    t=12.400s  reward=+0.731  p(success)=0.912  mode=-  frames=8  12.3 ms  "open the drawer"
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.utilities import remove_ros_args

from a2r_ros.msg import RewardScore


def format_reward(msg: RewardScore) -> str:
    """One human-readable line for a RewardScore message."""
    stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
    mode = "-" if msg.most_likely_failure_mode < 0 else str(msg.most_likely_failure_mode)
    return (
        f"t={stamp:.3f}s  reward={msg.reward:+.3f}  p(success)={msg.success_probability:.3f}  "
        f"mode={mode}  frames={msg.frame_count}  {msg.inference_latency_ms:.1f} ms  "
        f'"{msg.instruction}"'
    )


class RewardMonitor(Node):
    """Subscribes to a RewardScore topic and prints each message; optionally stops after N."""

    def __init__(self, topic: str = "a2r/reward", count: int = 0) -> None:
        super().__init__("reward_monitor")
        self._remaining = count
        self.done = False
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.create_subscription(RewardScore, topic, self._on_reward, qos)

    def _on_reward(self, msg: RewardScore) -> None:
        print(format_reward(msg), flush=True)
        if self._remaining > 0:
            self._remaining -= 1
            self.done = self._remaining == 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `ros2 run a2r_ros reward_monitor [--topic T] [--count N]`."""
    argv = list(sys.argv if argv is None else argv)
    parser = argparse.ArgumentParser(prog="reward_monitor", description=__doc__.splitlines()[0])
    parser.add_argument("--topic", default="a2r/reward", help="RewardScore topic (relative names follow the namespace)")
    parser.add_argument("--count", type=int, default=0, help="exit after this many messages (0: run until Ctrl-C)")
    args = parser.parse_args(remove_ros_args(argv)[1:])
    rclpy.init(args=argv)
    node = RewardMonitor(args.topic, args.count)
    try:
        while rclpy.ok() and not node.done:
            rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass  # Ctrl-C: rclpy's SIGINT handler may shut the context down before KeyboardInterrupt
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
