"""Shared test fixtures.

ROS 2: every test session gets its own ROS_DOMAIN_ID and localhost-only discovery, set here before
anything imports rclpy, so parallel sessions on one machine never see each other's nodes and no
DDS traffic leaves the loopback interface.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Iterator

import pytest

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
# 1..101 keeps within the default DDS port mapping; the pid spreads concurrent sessions apart.
os.environ["ROS_DOMAIN_ID"] = str(1 + os.getpid() % 101)
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class RosSession:
    """An initialised rclpy context plus helpers to spin nodes until something happens."""

    def __init__(self, context) -> None:
        self.context = context

    def spin_until(self, condition: Callable[[], bool], *nodes, timeout: float = 10.0) -> bool:
        """Spin `nodes` on one executor until `condition()` holds or `timeout` seconds pass."""
        from rclpy.executors import SingleThreadedExecutor

        executor = SingleThreadedExecutor(context=self.context)
        for node in nodes:
            executor.add_node(node)
        deadline = time.monotonic() + timeout
        try:
            while not condition():
                if time.monotonic() > deadline:
                    return False
                executor.spin_once(timeout_sec=0.05)
            return True
        finally:
            for node in nodes:
                executor.remove_node(node)
            executor.shutdown()


@pytest.fixture(scope="session")
def ros() -> Iterator[RosSession]:
    """A session-wide rclpy context on this session's private domain."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    try:
        yield RosSession(context)
    finally:
        rclpy.shutdown(context=context)
