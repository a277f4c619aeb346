"""Ctrl-C on `ros2 launch`: SIGINT to the process group, then launch's own SIGINT to each node.

Every a2r node process (and `a2r ros up`) must then exit with status 0 and no traceback, however
many SIGINT/SIGTERM arrive while it shuts down (issue 15, item 1). Each node runs as its own
process, as `ros2 run` starts it; the test waits until the node answers a parameter request (so it
is spinning), then signals it twice ~50 ms apart.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rcl_interfaces.srv import GetParameters
from rclpy.node import Node

REPO = Path(__file__).resolve().parents[2]
_RUNS = itertools.count()


def _default_sigint() -> None:
    """Give the child the default Ctrl-C handling whatever this test runner inherited."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _command(kind: str, namespace: str, checkpoint: Path) -> tuple[list[str], str]:
    """The process to start and the fully qualified name of the node that must come up."""
    ros_args = ["--ros-args", "-r", f"__ns:=/{namespace}"]
    if kind == "reward_node":
        return [sys.executable, "-m", "a2r_ros.reward_node", *ros_args, "-p", f"checkpoint:={checkpoint}"], "reward_node"
    if kind == "planner_node":
        return [sys.executable, "-m", "a2r_ros.planner_node", *ros_args], "planner_node"
    if kind == "metaworld_bridge":
        return [sys.executable, "-m", "a2r_ros.metaworld_bridge", *ros_args, "-p", "image_size:=32"], "metaworld_bridge"
    a2r = str(Path(sys.executable).with_name("a2r"))
    return [a2r, "ros", "up", "--namespace", namespace, "--set", f"checkpoint={checkpoint}"], "reward_node"


def _wait_spinning(ros, proc: subprocess.Popen, namespace: str, name: str, timeout: float = 120.0) -> None:
    """Until the node answers a GetParameters request (its executor is spinning)."""
    client_node = Node(f"sig_probe_{next(_RUNS)}", context=ros.context, namespace=namespace)
    try:
        client = client_node.create_client(GetParameters, f"/{namespace}/{name}/get_parameters")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if ros.spin_until(client.service_is_ready, client_node, timeout=1.0):
                future = client.call_async(GetParameters.Request(names=["use_sim_time"]))
                if ros.spin_until(future.done, client_node, timeout=10.0):
                    return
        raise AssertionError(f"{name} did not come up (exit code {proc.poll()})")
    finally:
        client_node.destroy_node()


def _signal_and_check(ros, tiny_checkpoint, kind: str, namespace: str, signals: list[tuple[int, float]]) -> None:
    """Start `kind` as its own process, wait until it spins, send `signals` ((signal, pause after)),
    then require exit status 0 and no traceback."""
    command, name = _command(kind, namespace, tiny_checkpoint)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env=os.environ.copy(), preexec_fn=_default_sigint)
    try:
        _wait_spinning(ros, proc, namespace, name)
        for sig, pause in signals:
            proc.send_signal(sig)
            time.sleep(pause)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "Traceback" not in err, err
    assert proc.returncode == 0, f"exit code {proc.returncode}; stderr:\n{err[-3000:]}"


@pytest.mark.ros
@pytest.mark.parametrize("kind", ["reward_node", "planner_node", "metaworld_bridge", "ros_up"])
def test_two_sigints_in_quick_succession_exit_0_without_traceback(ros, tiny_checkpoint, kind) -> None:
    # the terminal's Ctrl-C to the process group, then launch's own SIGINT to the node
    _signal_and_check(ros, tiny_checkpoint, kind, f"sig{os.getpid()}_{kind}",
                      [(signal.SIGINT, 0.05), (signal.SIGINT, 0.0)])


@pytest.mark.ros
def test_sigterm_during_clean_up_after_sigint_still_exits_0(ros, tiny_checkpoint) -> None:
    """A supervisor's SIGTERM right after Ctrl-C (launch escalates this way) is ignored as well."""
    _signal_and_check(ros, tiny_checkpoint, "reward_node", f"sig{os.getpid()}_term",
                      [(signal.SIGINT, 0.01), (signal.SIGTERM, 0.0), (signal.SIGINT, 0.0)])
