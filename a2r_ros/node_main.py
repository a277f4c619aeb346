"""The `main` every a2r node executable shares: init, build the node, spin, shut down cleanly.

A node whose constructor raises an `A2RError` (bad parameter, missing checkpoint, simulator that
cannot start) is a user mistake, not a bug: one fatal log line and exit code 1, no traceback.
"""

from __future__ import annotations

import sys
from typing import Callable, Sequence

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node

from a2r_core.errors import A2RError


def run_node(factory: Callable[[], Node], name: str, argv: Sequence[str] | None = None) -> int:
    """Run the node `factory()` builds on a MultiThreadedExecutor until Ctrl-C / shutdown.

    `name` labels the fatal log line when construction fails. Returns the process exit code.
    """
    argv = list(sys.argv if argv is None else argv)
    rclpy.init(args=argv)
    node = executor = None
    try:
        try:
            node = factory()
        except A2RError as exc:
            rclpy.logging.get_logger(name).fatal(f"cannot start: {exc}")
            return 1
        executor = MultiThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if executor is not None:
            # Bounded: a callback still blocked when the context went down must not hang the exit.
            executor.shutdown(timeout_sec=5.0)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
