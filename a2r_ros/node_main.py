"""The `main` every a2r node executable shares: init, build the node, spin, shut down cleanly.

A node whose constructor raises an `A2RError` (bad parameter, missing checkpoint, simulator that
cannot start) is a user mistake, not a bug: one fatal log line and exit code 1, no traceback.

Ctrl-C and SIGTERM: the first one ends the spin; every later one is ignored (`ExitSignals`). Why:
Ctrl-C on `ros2 launch` sends SIGINT to the whole process group and launch then sends each node a
second SIGINT; a process supervisor may add a SIGTERM. Clean-up (executor shutdown, the worker
threads' join, `destroy_node`) must run to its end whatever arrives meanwhile, and a signal during
interpreter exit (where Python has put back the default, fatal handler) must not turn a clean exit
into exit code -2. So any number of SIGINT/SIGTERM gives exit code 0 and no traceback.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Any, Callable, Sequence

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node

from a2r_core.errors import A2RError

EXIT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


# Threads of every a2r node's executor. rclpy's MultiThreadedExecutor defaults to one per CPU (2
# here); with 2, large messages are taken slowly (a bare 1920x1080 camera subscriber on it: 46-48
# of 180 frames at 30 Hz), with 8, better (127-180). The reward node no longer takes camera frames
# here (a2r_ros.camera_intake: its own single-threaded executor and thread, 180 of 180), but the
# bridges and planner still pass images and service replies through this executor. Idle threads
# cost nothing.
EXECUTOR_THREADS = 8


class ExitSignals:
    """SIGINT/SIGTERM handling for a process that runs nodes until it is told to stop.

    `install()` (before `rclpy.init`, whose own handlers then chain to this one) makes the first
    signal raise KeyboardInterrupt in the main thread, which ends `executor.spin()`, and switches
    both signals to "ignore" at once, so the second SIGINT that `ros2 launch` sends cannot
    interrupt the clean-up. `shutting_down()` marks the start of clean-up: a first signal arriving
    then is ignored without raising. `finish()` is for the very end (after rclpy's shutdown).
    Installing is a no-op outside the main thread (Python allows handlers only there).
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._cleaning_up = False
        self._previous: dict[int, Any] = {}

    def install(self) -> "ExitSignals":
        if threading.current_thread() is threading.main_thread():
            for sig in EXIT_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        self.ignore_from_now_on()
        if not self._cleaning_up:
            raise KeyboardInterrupt

    def shutting_down(self) -> None:
        """Clean-up starts: signals from here on are swallowed (never raised into clean-up code)."""
        self._cleaning_up = True

    def finish(self) -> None:
        """End of the run. After a signal the process is on its way out: keep ignoring them
        (Python's exit would otherwise put back the fatal default handlers, and rclpy's shutdown
        has just put back Python's). Without one (the run ended by itself, or an in-process
        caller such as a test): put back the handlers that were there before `install()`."""
        if self.received is not None:
            self.ignore_from_now_on()
        elif threading.current_thread() is threading.main_thread():
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)

    def ignore_from_now_on(self) -> None:
        """SIGINT and SIGTERM are ignored for the rest of the process (main thread only)."""
        if threading.current_thread() is threading.main_thread():
            for sig in EXIT_SIGNALS:
                signal.signal(sig, signal.SIG_IGN)


def run_node(factory: Callable[[], Node], name: str, argv: Sequence[str] | None = None) -> int:
    """Run the node `factory()` builds on a MultiThreadedExecutor until Ctrl-C / SIGTERM / shutdown.

    `name` labels the fatal log line when construction fails. Returns the process exit code. Meant
    to be a process's main: when it returns after a signal, SIGINT/SIGTERM stay ignored (see the
    module docstring).
    """
    argv = list(sys.argv if argv is None else argv)
    signals = ExitSignals().install()
    node = executor = None
    try:
        rclpy.init(args=argv)
        try:
            node = factory()
        except A2RError as exc:
            rclpy.logging.get_logger(name).fatal(f"cannot start: {exc}")
            return 1
        executor = MultiThreadedExecutor(num_threads=EXECUTOR_THREADS)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        signals.shutting_down()
        if executor is not None:
            # Bounded: a callback still blocked when the context went down must not hang the exit.
            executor.shutdown(timeout_sec=5.0)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()  # puts back the handlers rclpy.init replaced ...
        signals.finish()  # ... so after a signal: ignore them again, until the process has exited
    return 0
