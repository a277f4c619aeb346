"""Polling until something happens, with a deadline (tests and benchmarks that drive live nodes)."""

from __future__ import annotations

import time
from typing import Callable


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, poll_s: float = 0.01) -> bool:
    """Poll `condition()` every `poll_s` seconds; True once it holds, False after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll_s)
    return True
