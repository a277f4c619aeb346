"""`a2r data planner`: real MPC episodes on the shipped checkpoint's reward, written as labelled clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from a2r_core.cli import main
from a2r_core.data.manifest import read_manifest
from a2r_core.data.planner_rollouts import PlannerRolloutConfig
from a2r_core.data.video_io import read_video
from a2r_core.errors import ConfigError
from a2r_core.planning.parallel import MetaWorldModelFactory

REPO = Path(__file__).resolve().parents[2]
CKPT = str(REPO / "checkpoints" / "a2r-small-metaworld")
TASK = "drawer-close-v3"


@pytest.mark.slow
def test_planner_episodes_become_clips_labelled_by_the_environment(tmp_path, capsys):
    out = tmp_path / "planner"
    args = ["data", "planner", "--checkpoint", CKPT, "--tasks", TASK, "--seeds", "7", "--max-steps", "3",
            "--workers", "1", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    (record,) = read_manifest(out / "manifest.jsonl")
    assert record.task == TASK and record.domain == "robot" and record.seed == 7
    assert (record.failure_source is None) == record.success and record.extra["source"] == "planner"
    assert read_video(out / record.path).shape == (16, 64, 64, 3)
    # the label is the simulator's own flag after the executed actions (replayed here)
    actions = np.asarray(record.extra["actions"], dtype=np.float32)
    assert actions.shape == (3, 4)
    model = MetaWorldModelFactory(TASK, image_size=64, seed=7)()
    try:
        for action in actions:
            for _ in range(record.extra["action_repeat"]):
                model.step(action)
        assert model.success() == record.success
    finally:
        model.env.close()
    capsys.readouterr()
    assert main(args) == 0                                  # resumed: nothing to run again
    assert "ran 0 MPC episodes" in capsys.readouterr().out


def test_eval_seeds_and_bad_settings_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="planning eval"):
        PlannerRolloutConfig(checkpoint=CKPT, tasks=(TASK,), seeds=(300,), out_dir=str(tmp_path))
    with pytest.raises(ConfigError):
        PlannerRolloutConfig(checkpoint=CKPT, tasks=("no-such-task-v3",), seeds=(1,), out_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="at least one"):
        PlannerRolloutConfig(checkpoint=CKPT, tasks=(TASK,), seeds=(), out_dir=str(tmp_path))
