"""`a2r data metaworld` end to end: real MetaWorld rollouts, real mp4 files, a manifest that loads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from a2r_core.cli import main
from a2r_core.data.datasets import ManifestDataset
from a2r_core.data.instructions import paraphrases
from a2r_core.data.generate import EpisodeSpec, GenerateConfig, generate, rollout
from a2r_core.data.manifest import read_manifest
from a2r_core.data.video_io import read_video, video_info
from a2r_core.errors import ConfigError
from a2r_core.sim.metaworld_env import MetaWorldEnv, task_names

TASKS = ["drawer-close-v3", "button-press-v3"]
ARGS = ["--episodes-per-source", "1", "--frames", "8", "--size", "64", "--horizon", "150",
        "--seed", "3", "--no-progress"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """Two tasks x 7 sources x 1 episode, with 2 worker processes."""
    out = tmp_path_factory.mktemp("mw") / "set"
    assert main(["data", "metaworld", "--tasks", *TASKS, "--out", str(out), "--workers", "2", *ARGS]) == 0
    return out


def test_clips_and_manifest(generated):
    records = read_manifest(generated / "manifest.jsonl")
    assert len(records) == 2 * 7
    assert {r.task for r in records} == set(TASKS)
    assert any(r.success for r in records) and any(not r.success for r in records)
    sources = {r.failure_source for r in records if not r.success}
    assert len(sources) >= 2, f"failures should come from several sources, got {sources}"
    for record in records:
        assert record.domain == "robot" and record.num_frames == 8 and record.fps > 0
        assert record.instruction in paraphrases(record.task)
        assert (record.failure_source is None) == record.success
        info = video_info(generated / record.path)
        assert (info.num_frames, info.width, info.height) == (8, 64, 64)
    assert (generated / "summary.png").stat().st_size > 1000
    data = ManifestDataset(generated / "manifest.jsonl", num_frames=4, train=True)
    assert data[0]["frames"].shape == (4, 64, 64, 3) and data.skipped == 0


def test_labels_are_the_env_success_flag(generated):
    """Replay every episode without rendering: its final env flag is the record's label."""
    records = read_manifest(generated / "manifest.jsonl")
    envs = {task: MetaWorldEnv(task, max_steps=151) for task in TASKS}
    try:
        for record in records:
            spec = EpisodeSpec("robot", record.task, record.variant, record.extra["source"], record.extra["index"])
            assert spec.seed(3) == record.seed
            result = rollout(envs[record.task], spec, 3, 150, 0, task_names())
            assert result.success == record.success, record.extra["clip_id"]
            assert result.steps == record.extra["episode_steps"]
            dense = [result.rewards[i] for i in record.extra["sample_steps"]]
            assert record.extra["dense_reward"] == pytest.approx(dense, abs=1e-4)
            assert result.instruction == record.instruction
    finally:
        for env in envs.values():
            env.close()


def test_same_seed_same_manifest_and_frames_and_resume(generated, tmp_path):
    # one worker here, two in the fixture: the work split must not matter
    again = tmp_path / "again"
    assert main(["data", "metaworld", "--tasks", *TASKS, "--out", str(again), "--workers", "1", *ARGS]) == 0
    first = (generated / "manifest.jsonl").read_text()
    assert (again / "manifest.jsonl").read_text() == first
    for record in read_manifest(again / "manifest.jsonl"):
        assert (again / record.path).read_bytes() == (generated / record.path).read_bytes()
        assert np.array_equal(read_video(again / record.path), read_video(generated / record.path))

    # resume: a finished run generates nothing; a run cut short regenerates exactly the missing clips
    config = GenerateConfig(tasks=tuple(TASKS), out_dir=str(again), episodes_per_source=1, frames=8,
                            size=64, horizon=150, seed=3)
    assert generate(config, progress=False).generated == 0
    lines = first.splitlines(keepends=True)
    (again / "manifest.jsonl").write_text("".join(lines[:-3]) + lines[-3][:20])  # torn last line
    report = generate(config, progress=False)
    assert (report.generated, report.skipped) == (3, 11)
    assert (again / "manifest.jsonl").read_text() == first
    with pytest.raises(ConfigError, match="size"):
        generate(dataclasses.replace(config, size=96), progress=False)


def test_alt_domain_records_play_the_human_role(tmp_path):
    out = tmp_path / "alt"
    assert main(["data", "metaworld", "--tasks", "reach-v3", "--domain", "alt", "--out", str(out),
                 "--variants", "default", "table_dark", *ARGS]) == 0
    records = read_manifest(out / "manifest.jsonl")
    assert [r.variant for r in records] == ["default", "table_dark"]  # expert only by default
    assert all(r.domain == "human" and r.extra["embodiment"] == "alt" for r in records)


def test_bad_config_is_reported(tmp_path, capsys):
    assert main(["data", "metaworld", "--tasks", "drawer-closed-v3", "--out", str(tmp_path)]) == 1
    assert "drawer-close-v3" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="size"):
        GenerateConfig(tasks=("reach-v3",), out_dir=str(tmp_path), size=63)
