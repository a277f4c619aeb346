"""A blocking rclpy service call from a worker thread, with a deadline and an optional stop flag.

Why one helper: the planner node and the scripted operator both call services from their own
worker thread while an executor elsewhere delivers the responses; waiting for the server, waiting
for the answer, dropping the pending request on timeout and unwinding when the node stops are the
same steps for both (APIs shared by Humble, Jazzy and Kilted: `service_is_ready`, `call_async`,
`remove_pending_request`).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Optional

from a2r_core.errors import A2RError


class ServiceError(A2RError):
    """A service did not answer in time or answered with an error status."""


class CallStopped(Exception):
    """The caller's stop flag was set while waiting; the worker unwinds."""


def call_service(client: Any, request: Any, timeout_s: float, stop: Optional[threading.Event] = None,
                 poll_s: float = 0.02) -> Any:
    """`client`'s response to `request`; ServiceError when the server is not up or does not answer
    within `timeout_s` (the pending request is then dropped), CallStopped when `stop` is set."""
    deadline = time.monotonic() + timeout_s

    def check_stop() -> None:
        if stop is not None and stop.is_set():
            raise CallStopped()

    while not client.service_is_ready():
        check_stop()
        if time.monotonic() > deadline:
            raise ServiceError(f"service {client.srv_name} is not available after {timeout_s} s")
        time.sleep(poll_s)
    future = client.call_async(request)
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    while not done.wait(poll_s):
        check_stop()
        if time.monotonic() > deadline:
            client.remove_pending_request(future)
            raise ServiceError(f"no answer from {client.srv_name} within {timeout_s} s")
    return future.result()
