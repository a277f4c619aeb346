"""The main job (`a2r demo`) end to end in its short form, and its parts: each node in its own
process, no node process outliving the demo (Ctrl-C, a dead reward node), the bridge's observation
topic driven in lock-step by the scripted operator, and the clear errors before any ROS start-up."""

from __future__ import annotations

import json
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
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter

from a2r_core.cli import main
from process_util import alive as _alive

TASK = "drawer-close-v3"

pytestmark = pytest.mark.ros


def test_main_job_short_form_streams_both_episodes_plans_and_reports(demo_checkpoint, tmp_path, capsys) -> None:
    out = tmp_path / "demo"
    code = main(["demo", "--checkpoint", str(demo_checkpoint), "--out", str(out), "--episode-steps", "100",
                 "--success-tail", "5", "--rate", "10", "--planner-steps", "2", "--planner-horizon", "3",
                 "--planner-samples", "4", "--planner-iterations", "1", "--planner-repeat", "2"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    report = json.loads((out / "report.json").read_text())
    summary = report["summary"]
    assert summary["task"] == TASK and summary["instruction"] == "close the drawer"
    success, failure, planner = summary["episodes"]
    # The labels are the environment's own flags, read back from the bridge.
    assert (success["source"], success["environment_success"]) == ("expert", True)
    assert (failure["source"], failure["environment_success"]) == ("early_stop", False)
    assert summary["failure_episode_failed"] is True and summary["success_episode_succeeded"] is True
    assert failure["steps"] == 100 and success["first_success_step"] is not None
    assert success["steps"] <= success["first_success_step"] + 5 + 1
    assert success["bridge_episode"] == 1 and failure["bridge_episode"] == 2   # fresh episodes, same bridge
    dt = summary["simulator_dt_s"]
    for episode, detail in zip((success, failure), report["episodes"]):
        assert episode["rewards_received"] >= 3
        times = [r["t_s"] for r in detail["rewards"]]
        # Simulated-time stamps: every reward lies inside its episode's stamps.
        assert times == sorted(times) and times[0] >= 0.0 and times[-1] <= episode["steps"] * dt + 1e-6
        assert all(r["frame_count"] >= 2 for r in detail["rewards"][1:])
        assert all(r["inference_latency_ms"] > 0 for r in detail["rewards"])
    assert summary["inference_latency_ms"]["p50"] > 0 and summary["inference_latency_ms"]["p99"] > 0
    assert summary["stamp_to_reward_ms"]["p50"] > 0 and summary["stamp_to_reward_ms"]["n"] >= 6
    # The planner ran its episode with the reward from the reward node's query service.
    result = summary["planner"]["result"]
    assert summary["planner"]["error"] is None and result is not None
    assert result["executed_steps"] == 2 or result["success"]
    assert result["rollouts"] >= 4 and result["seconds"] > 0 and result["episode"] == 3
    assert planner["steps"] == result["executed_steps"]
    assert set(summary["stages"]) == {"bring_up_s", "scripted_episodes_s", "planner_s"}
    assert (out / "rewards.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "[success +" in printed and "[failure +" in printed and "reward=" in printed  # live lines
    assert "planner: success=" in printed
    # one process per node, as a launch file starts them; none left once the demo is done
    pids = {name: int(pid) for name, pid in re.findall(r"(\w+) \(pid (\d+)\)", printed)}
    assert {"metaworld_bridge", "reward_node"} <= set(pids) and os.getpid() not in pids.values()
    assert not any(_alive(pid) for pid in pids.values())
    assert "inference latency p50" in printed and "camera frame -> reward received p50" in printed


def _wait_gone(pids, timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def _start_demo(checkpoint: Path, out: Path) -> tuple[subprocess.Popen, list[str], dict[str, int]]:
    """`a2r demo` in its own session (a terminal's process group), once its success episode streams."""
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("a2r")), "demo", "--checkpoint", str(checkpoint), "--out", str(out),
         "--episode-steps", "150", "--success-tail", "150", "--no-planner"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy(), start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    deadline = time.monotonic() + 300
    while not any("streaming the success episode" in line for line in lines):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("the demo did not start its episodes:\n" + "".join(lines)[-3000:])
        time.sleep(0.05)
    pids = {name: int(pid) for name, pid in re.findall(r"(\w+) \(pid (\d+)\)", "".join(lines))}
    assert set(pids) == {"metaworld_bridge", "reward_node"}
    return proc, lines, pids


def _finish(proc: subprocess.Popen, lines: list[str], timeout: float = 60.0) -> str:
    try:
        proc.wait(timeout=timeout)  # a hang guard, not a timing requirement
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    time.sleep(0.5)  # the reader thread's last lines
    return "".join(lines)


def test_ctrl_c_ends_the_demo_and_every_node_process(demo_checkpoint, tmp_path) -> None:
    proc, lines, pids = _start_demo(demo_checkpoint, tmp_path / "out")
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the demo and its nodes
    printed = _finish(proc, lines)
    assert proc.returncode == 130, printed
    assert "a2r demo: interrupted" in printed and "Traceback" not in printed
    assert _wait_gone(pids.values()) == []


def test_a_dead_reward_node_ends_the_demo_with_its_reason(demo_checkpoint, tmp_path) -> None:
    proc, lines, pids = _start_demo(demo_checkpoint, tmp_path / "out")
    os.kill(pids["reward_node"], signal.SIGKILL)
    printed = _finish(proc, lines)
    assert proc.returncode == 1, printed
    assert "a2r demo: error: required node reward_node was killed by signal 9" in printed
    assert _wait_gone(pids.values()) == []
    assert not (tmp_path / "out" / "report.json").exists()


def test_missing_default_checkpoint_says_how_to_make_it(tmp_path, capsys) -> None:
    code = main(["demo", "--checkpoint", str(tmp_path / "nothing"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1
    assert "no checkpoint at" in err and "generate_default_data.sh" in err and "config/train_default.yaml" in err
    assert not (tmp_path / "out").exists()


def test_a_task_the_checkpoint_was_not_trained_on_is_refused(demo_checkpoint, tmp_path, capsys) -> None:
    code = main(["demo", "--checkpoint", str(demo_checkpoint), "--task", "door-open-v3",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and "door-open-v3" in err and TASK in err
    assert main(["demo", "--checkpoint", str(demo_checkpoint), "--failure-source", "expert",
                 "--out", str(tmp_path / "out")]) == 1
    assert "failure source 'expert'" in capsys.readouterr().err


def test_operator_drives_the_bridge_in_lock_step_on_its_observations(ros) -> None:
    """Every observation the operator acted on is the one MetaWorld gives for the same seed and
    actions run directly: none skipped, none repeated, none stale from the previous episode."""
    from a2r_core.sim.metaworld_env import MetaWorldEnv, RenderConfig
    from a2r_core.sim.policies import make_policy
    from a2r_ros.metaworld_bridge import MetaWorldBridge
    from a2r_ros.scripted_operator import ScriptedOperator

    ns = f"op{os.getpid()}"
    bridge = MetaWorldBridge(context=ros.context, namespace=ns, parameter_overrides=[
        Parameter("task", value=TASK), Parameter("seed", value=5), Parameter("image_size", value=32),
        Parameter("max_steps", value=60)])
    operator = ScriptedOperator(context=ros.context, namespace=ns, timeout_s=20.0)
    executor = MultiThreadedExecutor(num_threads=3, context=ros.context)
    executor.add_node(bridge)
    executor.add_node(operator)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        rng = lambda: np.random.default_rng(0)  # noqa: E731
        first = operator.run_episode(make_policy("expert", TASK, rng(), 40, [TASK]), max_steps=30)
        second = operator.run_episode(make_policy("early_stop", TASK, rng(), 40, [TASK]), max_steps=25)
    finally:
        executor.shutdown(timeout_sec=5.0)
        operator.destroy_node()
        bridge.destroy_node()
    assert (first.episode, first.steps, second.episode, second.steps) == (1, 30, 2, 25)
    assert first.reset_message == "episode 1 (seed 6)" and not second.success
    env = MetaWorldEnv(TASK, render=RenderConfig(width=32, height=32), max_steps=60)
    try:
        for outcome, source, seed in ((first, "expert", 6), (second, "early_stop", 7)):
            policy = make_policy(source, TASK, rng(), 40, [TASK])
            obs = env.reset(seed)
            expected = [obs]
            for t in range(outcome.steps):
                obs = env.step(policy(obs, t)).obs
                expected.append(obs)
            assert outcome.observations.shape == (outcome.steps + 1, 39)
            # Not bit-identical: the bridge's env carries MuJoCo's solver warm start over from its
            # earlier episodes (last-bit differences). A skipped or repeated observation would be
            # off by a whole step's motion, orders of magnitude above the tolerance.
            expected = np.asarray(expected, dtype=np.float32)
            assert np.abs(np.diff(expected, axis=0)).max(axis=1).min() > 1e-5
            np.testing.assert_allclose(outcome.observations, expected, rtol=0, atol=1e-6)
    finally:
        env.close()
