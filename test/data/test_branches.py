"""`a2r data branches` and branch pairs in training: real MetaWorld rollouts, real mp4 files, a real
(two-step) training run that ranks continuations above deviations."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import yaml

from a2r_core.cli import main
from a2r_core.data.branches import DEVIATIONS, BranchConfig, BranchSpec, generate_branches
from a2r_core.data.generate import EpisodeSpec
from a2r_core.data.manifest import read_manifest
from a2r_core.data.video_io import read_video
from a2r_core.errors import ConfigError
from a2r_core.losses import ObjectiveConfig
from a2r_core.training.branch_pairs import BranchPairs

TASK = "drawer-close-v3"
ARGS = ["--tasks", TASK, "--episodes", "1", "--branches", "3", "--size", "32", "--frames", "8",
        "--seed", "5", "--no-progress"]


@pytest.fixture(scope="module")
def branches(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("branches") / "set"
    assert main(["data", "branches", "--out", str(out), *ARGS]) == 0
    return out


def test_pairs_share_the_history_and_part_after_the_branch(branches, tmp_path):
    # lossless video here: with lossy coding, frames shared by both clips can come back a few grey
    # levels apart (the encoder spends its bits differently on what follows them)
    lossless = tmp_path / "lossless"
    generate_branches(BranchConfig(tasks=(TASK,), out_dir=str(lossless), episodes=1, branches_per_episode=3,
                                   size=32, frames=8, seed=5, crf=0), progress=False)
    records = read_manifest(lossless / "manifest.jsonl")
    assert [r.extra for r in records] == [r.extra for r in read_manifest(branches / "manifest.jsonl")]
    assert [r.extra["deviation"] for r in records] == list(DEVIATIONS)
    for record in records:
        # the same episode (object positions) as `a2r data metaworld`'s expert clip of index 0, seed 5
        assert record.seed == EpisodeSpec("robot", TASK, "default", "expert", 0).seed(5)
        assert record.domain == "robot" and record.task == TASK
        assert (record.failure_source is None) == record.success
        deviation = read_video(lossless / record.path).astype(int)
        continuation = read_video(lossless / record.extra["pair_path"]).astype(int)
        assert deviation.shape == continuation.shape == (8, 32, 32, 3)
        steps = np.asarray(record.extra["sample_steps"])
        k = record.extra["branch_step"]
        assert steps[-1] == k + record.extra["future_steps"] and record.extra["future_steps"] == 16
        before = steps <= k
        assert before[0]
        diff = np.abs(deviation - continuation).mean(axis=(1, 2, 3))
        assert np.all(diff[before] == 0), diff            # the shared history
        if record.extra["deviation"] != "hold":
            assert diff[-1] > diff[before].max()          # they part after the branch


def test_generation_is_resumable_and_deterministic(branches, tmp_path, capsys):
    assert main(["data", "branches", "--out", str(branches), *ARGS]) == 0
    assert "generated 0 pairs" in capsys.readouterr().out
    again = tmp_path / "again"
    assert main(["data", "branches", "--out", str(again), *ARGS]) == 0
    a = read_manifest(branches / "manifest.jsonl")
    b = read_manifest(again / "manifest.jsonl")
    assert [(r.extra["branch_step"], r.success) for r in a] == [(r.extra["branch_step"], r.success) for r in b]


def test_bad_settings_are_reported(tmp_path):
    with pytest.raises(ConfigError, match="future_steps"):
        BranchConfig(tasks=(TASK,), out_dir=str(tmp_path), future_steps=0)
    with pytest.raises(ConfigError):
        BranchConfig(tasks=("no-such-task-v3",), out_dir=str(tmp_path))
    assert BranchSpec(TASK, "default", 2, 4).deviation == DEVIATIONS[4 % len(DEVIATIONS)]


def test_branch_pairs_drawn_for_training(branches):
    records = read_manifest(branches / "manifest.jsonl")
    pairs = BranchPairs(branches / "manifest.jsonl", {TASK}, per_batch=8)
    assert len(pairs) == sum(not r.success for r in records)   # succeeded deviations carry no order
    drawn = pairs.draw(np.random.default_rng(0), num_frames=4)
    assert len(drawn) == len(pairs)
    for pair in drawn:
        assert pair.continuation.shape == pair.deviation.shape == (4, 32, 32, 3)
        assert pair.task == TASK and pair.instruction
    with pytest.raises(ConfigError, match="no pairs of the training tasks"):
        BranchPairs(branches / "manifest.jsonl", {"button-press-v3"}, per_batch=8)
    with pytest.raises(ConfigError, match="does not exist"):
        BranchPairs(branches / "missing.jsonl", {TASK}, per_batch=8)
    with pytest.raises(ConfigError, match="set loss.progress: true"):
        ObjectiveConfig(progress_branches=str(branches / "manifest.jsonl"))
    with pytest.raises(ConfigError, match="progress_branch_pairs"):
        ObjectiveConfig(progress=True, progress_branch_pairs=0)


def test_training_ranks_branch_pairs_and_resumes_exactly(branches, tmp_path):
    """A tiny robot set with the branch loss on: the loss is computed and logged every step, and an
    interrupted run resumed draws the same pairs (the logged losses match an uninterrupted run)."""
    from a2r_core.train import train
    from a2r_core.training.config import config_from_dict

    robot = tmp_path / "robot"
    assert main(["data", "metaworld", "--tasks", TASK, "--out", str(robot), "--sources", "expert", "noise",
                 "--episodes-per-source", "1", "--size", "32", "--frames", "8", "--horizon", "120",
                 "--no-progress"]) == 0
    manifest = str(robot / "manifest.jsonl")
    cfg = {
        "model": {"backbone": "a2r-small", "num_frames": 4, "image_size": 32, "patch_size": 8, "video_width": 32,
                  "video_depth": 1, "video_heads": 2, "temporal_depth": 1, "embed_dim": 32,
                  "num_failure_prompts": 1, "prompt_length": 2, "success_head_hidden": 16},
        "data": {"kind": "manifest", "train": {"manifest": manifest, "num_frames": 8},
                 "val": {"manifest": manifest, "num_frames": 4}},
        "sampler": {"batch_human": 0, "batch_success": 1, "batch_failure": 1, "batches_per_epoch": 2},
        "loss": {"objective": "a2r", "progress": True, "progress_branches": str(branches / "manifest.jsonl"),
                 "progress_branch_pairs": 1},
        "optim": {"epochs": 2},
        "runtime": {"progress": False},
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**cfg, "output_dir": str(tmp_path / "full")}))
    assert main(["train", "--config", str(path), "--output", str(tmp_path / "full")]) == 0
    train(config_from_dict(cfg), output_dir=tmp_path / "part", stop_after_epochs=1)
    train(config_from_dict(cfg), output_dir=tmp_path / "part", resume=True)

    def branch_losses(run: str) -> list[float]:
        with open(tmp_path / run / "steps.csv", newline="") as f:
            return [float(r["branch"]) for r in csv.DictReader(f)]

    full = branch_losses("full")
    assert len(full) == 4 and all(np.isfinite(v) and v > 0 for v in full)
    assert branch_losses("part") == full
