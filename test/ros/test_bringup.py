"""`a2r ros up`: the launch file's node(s) from config/reward.yaml, each in its own process, without
ros2cli; a required node that exits ends the bring-up with status 1 and its reason; Ctrl-C, a dead
node or a killed `a2r ros up` leave no node process behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from rcl_interfaces.srv import GetParameters
from rclpy.node import Node

from a2r_core.cli import main as a2r_main
from a2r_ros.image_conversion import rgb_to_image_msg
from a2r_ros.msg import Clip
from a2r_ros.srv import QueryReward
from process_util import alive as _alive

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "reward.yaml"


def _default_sigint() -> None:
    """Give the child the default Ctrl-C handling whatever this test runner inherited (a runner
    started in the background by a shell ignores SIGINT, and its children would too)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_gone(pid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _alive(pid)


class _Lines:
    """Collects a child's stderr lines in a thread, so the test can wait for one without blocking."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=lambda: self.lines.extend(stream), daemon=True)
        self._thread.start()

    def wait_for(self, pattern: str, proc: subprocess.Popen, timeout: float = 120.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                found = re.search(pattern, line)
                if found:
                    return found
            if proc.poll() is not None and not self._thread.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r}; got:\n{''.join(self.lines)[-3000:]}")

    def text(self) -> str:
        self._thread.join(10)
        return "".join(self.lines)


def _start_ros_up(ns: str, checkpoint: Path, new_session: bool = False) -> tuple[subprocess.Popen, _Lines, int]:
    """`a2r ros up` with the reward node; returns it, its stderr lines and the node's pid."""
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("a2r")), "ros", "up", "--config", str(CONFIG), "--namespace", ns,
         "--set", f"checkpoint={checkpoint}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
        preexec_fn=_default_sigint, start_new_session=new_session)
    lines = _Lines(proc.stderr)
    pid = int(lines.wait_for(r"running reward_node \(pid (\d+)\)", proc).group(1))
    return proc, lines, pid


@pytest.mark.ros
def test_ros_up_starts_the_node_from_the_yaml_and_serves_the_service(ros, tiny_checkpoint, reward_model) -> None:
    ns = f"bringup{os.getpid()}"
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("a2r")), "ros", "up", "--config", str(CONFIG), "--namespace", ns,
         "--set", f"checkpoint={tiny_checkpoint}", "--set", "rate_hz=4", "--set", "instructions=[a, b]"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(), preexec_fn=_default_sigint)
    node_pid = None
    client_node = Node("bringup_client", context=ros.context, namespace=ns)
    try:
        query = client_node.create_client(QueryReward, "a2r/query_reward")
        params = client_node.create_client(GetParameters, "reward_node/get_parameters")
        ready = ros.spin_until(lambda: (query.service_is_ready() and params.service_is_ready())
                               or proc.poll() is not None, client_node, timeout=90.0)
        assert ready and proc.poll() is None, "a2r ros up did not come up"

        got = params.call_async(GetParameters.Request(names=["rate_hz", "window_s", "instructions", "image_qos"]))
        assert ros.spin_until(got.done, client_node, timeout=30.0)
        values = got.result().values
        assert values[0].double_value == 4.0            # --set, typed as a double
        assert values[1].double_value == 2.0            # from config/reward.yaml
        assert list(values[2].string_array_value) == ["a", "b"]
        assert values[3].string_value == "sensor_data"

        frames = np.random.default_rng(7).integers(0, 256, size=(5, 24, 32, 3), dtype=np.uint8)
        future = query.call_async(QueryReward.Request(
            instructions=["open the drawer"], clips=[Clip(frames=[rgb_to_image_msg(f) for f in frames])]))
        assert ros.spin_until(future.done, client_node, timeout=60.0)
        response = future.result()
        assert response.status == QueryReward.Response.STATUS_OK, response.message
        direct = reward_model.score(frames[None], ["open the drawer"])
        assert response.rewards[0] == pytest.approx(float(direct.reward[0, 0]), abs=1e-5)
        # the node runs in a process of its own (what the service answered from), not in a2r ros up's
        node_pids = [p for p in map(int, Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split())]
        assert len(node_pids) == 1
        node_pid = node_pids[0]
        assert "a2r_ros.reward_node" in Path(f"/proc/{node_pid}/cmdline").read_text()
    finally:
        client_node.destroy_node()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert f"running reward_node (pid {node_pid})" in err
    assert not _alive(node_pid)


@pytest.mark.ros
def test_ros_up_user_mistakes_are_one_line_errors(tmp_path, capfd) -> None:
    assert a2r_main(["ros", "up", "--config", str(tmp_path / "missing.yaml")]) == 1
    assert "missing.yaml: parameter file not found" in capfd.readouterr().err
    assert a2r_main(["ros", "up", "--config", str(CONFIG), "--set", "ratehz=4.0"]) == 1
    assert "has no parameter 'ratehz'" in capfd.readouterr().err
    # the shipped config has no checkpoint: the node refuses to start, the bring-up ends with its reason
    assert a2r_main(["ros", "up", "--config", str(CONFIG), "--namespace", "nockpt"]) == 1
    err = capfd.readouterr().err
    assert "required node reward_node exited with status 1: cannot start: parameter checkpoint is empty" in err
    assert "ended with exit status 1" in err and "Traceback" not in err


@pytest.mark.ros
def test_a_required_node_that_dies_later_ends_the_bring_up_with_status_1(tiny_checkpoint) -> None:
    proc, lines, node_pid = _start_ros_up(f"dies{os.getpid()}", tiny_checkpoint)
    try:
        lines.wait_for(r"\[reward_node\] .*scoring ", proc)   # the node is up and running
        os.kill(node_pid, signal.SIGKILL)
        proc.wait(timeout=60)   # a hang guard, not a timing requirement
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = lines.text()
    assert proc.returncode == 1, err
    assert "required node reward_node was killed by signal 9" in err and "ended with exit status 1" in err


@pytest.mark.ros
def test_ctrl_c_on_the_process_group_stops_every_node_and_exits_0(tiny_checkpoint) -> None:
    """What a terminal does: SIGINT to a2r ros up and its node processes at once."""
    proc, lines, node_pid = _start_ros_up(f"ctrlc{os.getpid()}", tiny_checkpoint, new_session=True)
    try:
        lines.wait_for(r"\[reward_node\] .*scoring ", proc)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    err = lines.text()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert _wait_gone(node_pid)


@pytest.mark.ros
def test_a_killed_ros_up_leaves_no_node_process(tiny_checkpoint) -> None:
    """SIGKILL cannot be handled: the node processes end because their parent died (PDEATHSIG)."""
    proc, lines, node_pid = _start_ros_up(f"killed{os.getpid()}", tiny_checkpoint)
    try:
        proc.kill()
        proc.wait(timeout=30)
        assert _wait_gone(node_pid), "the reward node outlived a2r ros up"
    finally:
        if _alive(node_pid):
            os.kill(node_pid, signal.SIGKILL)


def test_ros_command_does_not_import_rclpy_until_it_runs() -> None:
    code = ("import sys, a2r_core.cli, a2r_core.commands.ros; "
            "assert 'rclpy' not in sys.modules, 'rclpy imported at import time'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    help_text = subprocess.run([str(Path(sys.executable).with_name("a2r")), "ros", "up", "--help"],
                               capture_output=True, text=True, timeout=120)
    assert help_text.returncode == 0 and "--config" in help_text.stdout and "--set" in help_text.stdout
