"""The main job's short form: train briefly, start the reward node, stream two episodes, report."""

from __future__ import annotations

import json

import pytest

from a2r_core.cli import main


@pytest.mark.slow
def test_demo_short_form_streams_both_episodes_and_writes_the_report(tmp_path, capsys) -> None:
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--epochs", "1", "--episode-seconds", "1.5", "--fps", "20",
                 "--rate", "4"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    report = json.loads((out / "report.json").read_text())
    episodes = report["summary"]["episodes"]
    assert [e["environment_success"] for e in episodes] == [True, False]
    for episode, detail in zip(episodes, report["episodes"]):
        assert episode["rewards_received"] >= 3
        times = [r["t_s"] for r in detail["rewards"]]
        assert times == sorted(times) and 0.0 <= times[0] and times[-1] <= 1.5 + 1e-6
        assert all(r["frame_count"] >= 2 for r in detail["rewards"])
    assert report["summary"]["stamp_to_reward_ms"]["p50"] > 0
    assert (out / "rewards.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "reward=" in printed and "p(success)=" in printed  # live lines were printed
    # A second run reuses the checkpoint instead of training again.
    assert main(["demo", "--out", str(out), "--episode-seconds", "1.0", "--fps", "20"]) == 0
    assert "reusing the checkpoint" in capsys.readouterr().out
