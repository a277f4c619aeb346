"""Training on video files: the manifest / mixed dataset kinds with real MetaWorld clips."""

from __future__ import annotations

from pathlib import Path

import pytest

from a2r_core.cli import main
from a2r_core.data.datasets import ConcatClipDataset, ManifestDataset
from a2r_core.errors import ConfigError
from a2r_core.reward import RewardModel
from a2r_core.train import train
from a2r_core.training.config import config_from_dict
from a2r_core.training.datasets import build_dataset

GEN = ["--episodes-per-source", "1", "--frames", "8", "--size", "48", "--horizon", "120", "--no-progress"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Robot clips (every source) of one task, and alternate-embodiment (human-domain) clips of two."""
    root = tmp_path_factory.mktemp("mw")
    assert main(["data", "metaworld", "--tasks", "drawer-close-v3", "--out", str(root / "robot"), *GEN]) == 0
    assert main(["data", "metaworld", "--tasks", "drawer-close-v3", "button-press-v3", "--domain", "alt",
                 "--out", str(root / "alt"), *GEN]) == 0
    return {name: root / name / "manifest.jsonl" for name in ("robot", "alt")}


def test_mixed_kind_concatenates_and_reindexes(clips) -> None:
    params = {"sources": [{"kind": "manifest", "manifest": str(clips["robot"])},
                          {"kind": "manifest", "manifest": str(clips["alt"]), "success": True}],
              "num_frames": 4, "augment": True, "size": 40}
    dataset = build_dataset("mixed", params)
    robot = ManifestDataset(clips["robot"], num_frames=4)
    assert isinstance(dataset, ConcatClipDataset)
    assert len(dataset) == len(robot) + sum(r.success for r in ManifestDataset(clips["alt"]).records)
    assert {r.domain for r in dataset.records} == {"robot", "human"}
    last = dataset[len(dataset) - 1]
    assert last["index"] == len(dataset) - 1 and last["domain"] == "human"
    assert tuple(last["frames"].shape) == (4, 40, 40, 3)          # augmented crop at `size`
    assert tuple(dataset[0]["frames"].shape[1:]) == (40, 40, 3)
    with pytest.raises(ConfigError, match="sources"):
        build_dataset("mixed", {"num_frames": 4})
    with pytest.raises(ConfigError, match="unknown dataset kind"):
        build_dataset("mixed", {"sources": [{"kind": "nope"}]})
    # repeat: a source's clips listed N times (drawn N times as often), indices still unique
    tripled = build_dataset("mixed", {"sources": [{"kind": "manifest", "manifest": str(clips["robot"]), "repeat": 3}],
                                      "num_frames": 4})
    assert len(tripled) == 3 * len(robot) and tripled.records == robot.records * 3
    assert tripled[2 * len(robot)]["index"] == 2 * len(robot)
    with pytest.raises(ConfigError, match="repeat"):
        build_dataset("mixed", {"sources": [{"kind": "manifest", "manifest": str(clips["robot"]), "repeat": 0}]})


def test_training_on_manifests_writes_a_loadable_checkpoint(clips, tmp_path) -> None:
    cfg = config_from_dict({
        "seed": 0,
        "model": {"embed_dim": 32, "num_frames": 4, "image_size": 32, "patch_size": 8, "video_width": 32,
                  "video_depth": 1, "video_heads": 2, "num_failure_prompts": 2, "prompt_length": 2,
                  "success_head_hidden": 32},
        "data": {"kind": "mixed",
                 "train": {"sources": [{"kind": "manifest", "manifest": str(clips["robot"])},
                                       {"kind": "manifest", "manifest": str(clips["alt"]), "success": True}],
                           "num_frames": 4, "augment": True},
                 "val": {"sources": [{"kind": "manifest", "manifest": str(clips["robot"])}],
                         "num_frames": 4}},
        "sampler": {"batch_human": 2, "batch_success": 2, "batch_failure": 2, "batches_per_epoch": 2},
        "optim": {"epochs": 1, "lr": 1e-3, "warmup_steps": 1},
        "runtime": {"progress": False, "tensorboard": False},
    })
    result = train(cfg, output_dir=tmp_path / "run")
    assert result.epochs_done == 1
    model = RewardModel.load(result.best_dir)
    assert set(model.model.config.tasks) == {"drawer-close-v3"}       # prompt rows: robot tasks
    frames = ManifestDataset(clips["robot"], num_frames=4)[0]["frames"].numpy()
    out = model.score(frames[None], ["close the drawer"])
    assert out.reward.shape == (1, 1)


def test_every_shipped_training_config_loads() -> None:
    from a2r_core.training.config import load_config
    from a2r_core.training.datasets import DATASET_KINDS

    configs = sorted((Path(__file__).resolve().parents[2] / "config").glob("train_*.yaml"))
    assert len(configs) >= 2
    for path in configs:
        cfg = load_config(path)
        assert cfg.data.kind in DATASET_KINDS, path.name
