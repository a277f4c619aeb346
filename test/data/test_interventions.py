"""`a2r data interventions`: branch pairs from a planner attempt's own states, in real MetaWorld, and
the trainer reading them beside expert-state branch pairs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from a2r_core.cli import main
from a2r_core.data.manifest import read_manifest, write_manifest
from a2r_core.data.records import ClipRecord
from a2r_core.data.interventions import InterventionConfig
from a2r_core.data.video_io import read_video
from a2r_core.errors import ConfigError
from a2r_core.losses import ObjectiveConfig
from a2r_core.planning.parallel import MetaWorldModelFactory
from a2r_core.training.branch_pairs import BranchPairs

TASK = "drawer-close-v3"
SEED = 7


def _attempt_manifest(directory: Path, actions: np.ndarray, with_actions: bool = True) -> Path:
    """A planner manifest as `a2r data planner` writes it (one failed attempt of 5 planning actions;
    its clip file is not read by the interventions)."""
    extra = {"clip_id": f"planner/{TASK}/default/seed_{SEED:06d}", "source": "planner", "size": 64,
             "action_repeat": 2}
    if with_actions:
        extra["actions"] = actions.tolist()
    record = ClipRecord(task=TASK, instruction="close the drawer", domain="robot", success=False,
                        path="clips/attempt.mp4", failure_source="planner", variant="default", seed=SEED,
                        num_frames=16, fps=20.0, extra=extra)
    directory.mkdir(parents=True, exist_ok=True)
    write_manifest(directory / "manifest.jsonl", [record])
    return directory / "manifest.jsonl"


def test_pairs_branch_from_the_planners_replayed_state(tmp_path, capsys):
    actions = np.clip(np.random.default_rng(0).normal(0, 0.6, size=(5, 4)), -1, 1)
    source = _attempt_manifest(tmp_path / "planner", actions)
    out = tmp_path / "interventions"
    args = ["data", "interventions", "--from", str(source), "--out", str(out), "--branches", "3",
            "--future-steps", "4", "--no-progress"]
    assert main(args) == 0
    records = read_manifest(out / "manifest.jsonl")
    assert sorted(r.extra["deviation"] for r in records) == ["cem", "hold", "noise"]
    # the attempt's first frame (its start seed), rendered here
    model = MetaWorldModelFactory(TASK, image_size=64, seed=SEED)()
    try:
        start = model.render().astype(np.float32)
    finally:
        model.env.close()
    for r in records:
        k = r.extra["branch_step"]
        assert 0 <= k <= len(actions) and r.extra["source"] == "intervention"
        assert r.task == TASK and r.seed == SEED and (r.failure_source is None) == r.success
        deviation, continuation = read_video(out / r.path), read_video(out / r.extra["pair_path"])
        # the planner's history (start + one frame per executed action), then 4 future frames each
        assert deviation.shape == continuation.shape == (k + 1 + 4, 64, 64, 3)
        shared = np.abs(deviation[: k + 1].astype(np.float32) - continuation[: k + 1].astype(np.float32)).mean()
        assert shared < 3.0, f"the shared history differs by {shared:.1f} grey levels"
        assert np.abs(deviation[0].astype(np.float32) - start).mean() < 6.0  # h264 at 64 px: ~3 levels
        assert set(r.extra["dense_reward_end"]) == {"continuation", "deviation"}
    capsys.readouterr()
    assert main(args) == 0                                  # resumed: nothing to make again
    assert "generated 0 pairs" in capsys.readouterr().out

    # the trainer draws from expert-state and planner-state pairs alike
    pairs = BranchPairs([out / "manifest.jsonl"], {TASK}, per_batch=2)
    assert len(pairs) == sum(not r.success for r in records)
    drawn = pairs.draw(np.random.default_rng(0), 3)
    assert all(p.continuation.shape[0] == 3 and p.deviation.shape == p.continuation.shape for p in drawn)


def test_attempts_without_actions_and_bad_settings_are_refused(tmp_path):
    source = _attempt_manifest(tmp_path / "old", np.zeros((2, 4)), with_actions=False)
    config = InterventionConfig(planner_manifests=(str(source),), out_dir=str(tmp_path / "out"))
    from a2r_core.data.interventions import attempts

    with pytest.raises(ConfigError, match="executed actions"):
        attempts(config)
    with pytest.raises(ConfigError, match="does not exist"):
        InterventionConfig(planner_manifests=(str(tmp_path / "missing.jsonl"),), out_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="branches_per_episode"):
        InterventionConfig(planner_manifests=(str(source),), out_dir=str(tmp_path), branches_per_episode=0)


def test_progress_branches_takes_one_manifest_or_a_list():
    assert ObjectiveConfig(progress=True, progress_branches="a.jsonl").progress_branches == ["a.jsonl"]
    assert ObjectiveConfig(progress=True, progress_branches=["a.jsonl", "b.jsonl"]).progress_branches == ["a.jsonl", "b.jsonl"]
    with pytest.raises(ConfigError, match="non-empty list"):
        ObjectiveConfig(progress=True, progress_branches=[])
    with pytest.raises(ConfigError, match="progress: true"):
        ObjectiveConfig(progress=False, progress_branches=["a.jsonl"])
