"""`a2r ros up`: the launch file's node(s) from config/reward.yaml in one process, without ros2cli."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rcl_interfaces.srv import GetParameters
from rclpy.node import Node

from a2r_core.cli import main as a2r_main
from a2r_ros.image_conversion import rgb_to_image_msg
from a2r_ros.msg import Clip
from a2r_ros.srv import QueryReward

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "reward.yaml"


def _default_sigint() -> None:
    """Give the child the default Ctrl-C handling whatever this test runner inherited (a runner
    started in the background by a shell ignores SIGINT, and its children would too)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.ros
def test_ros_up_starts_the_node_from_the_yaml_and_serves_the_service(ros, tiny_checkpoint, reward_model) -> None:
    ns = f"bringup{os.getpid()}"
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("a2r")), "ros", "up", "--config", str(CONFIG), "--namespace", ns,
         "--set", f"checkpoint={tiny_checkpoint}", "--set", "rate_hz=4", "--set", "instructions=[a, b]"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(), preexec_fn=_default_sigint)
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


@pytest.mark.ros
def test_ros_up_user_mistakes_are_one_line_errors(tmp_path, capfd) -> None:
    assert a2r_main(["ros", "up", "--config", str(tmp_path / "missing.yaml")]) == 1
    assert "missing.yaml: parameter file not found" in capfd.readouterr().err
    assert a2r_main(["ros", "up", "--config", str(CONFIG), "--set", "ratehz=4.0"]) == 1
    assert "has no parameter 'ratehz'" in capfd.readouterr().err
    # the shipped config has no checkpoint: the node refuses to start, with the reason
    assert a2r_main(["ros", "up", "--config", str(CONFIG), "--namespace", "nockpt"]) == 1
    err = capfd.readouterr().err
    assert "cannot start reward_node" in err and "checkpoint is empty" in err and "Traceback" not in err


def test_ros_command_does_not_import_rclpy_until_it_runs() -> None:
    code = ("import sys, a2r_core.cli, a2r_core.commands.ros; "
            "assert 'rclpy' not in sys.modules, 'rclpy imported at import time'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    help_text = subprocess.run([str(Path(sys.executable).with_name("a2r")), "ros", "up", "--help"],
                               capture_output=True, text=True, timeout=120)
    assert help_text.returncode == 0 and "--config" in help_text.stdout and "--set" in help_text.stdout
