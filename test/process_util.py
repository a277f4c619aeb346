"""Process helpers shared by the tests that start node processes (test/ros, test/demo)."""

from __future__ import annotations

from pathlib import Path


def alive(pid: int) -> bool:
    """Is `pid` a live process (a zombie waiting for its reaper counts as gone)?"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
