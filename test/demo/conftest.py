"""A checkpoint the main-job tests make themselves: the real trainer on a few real MetaWorld clips.

Why not the shipped default checkpoint: CI has no data directory and the tests must not depend on
a model someone trained elsewhere. A tiny model (32 px, 4 frames) trained for 2 steps on one
expert and one early_stop clip of drawer-close-v3 is enough: the tests judge the plumbing and the
report, never reward values.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TASK = "drawer-close-v3"


@pytest.fixture(scope="session")
def demo_checkpoint(tmp_path_factory) -> Path:
    from a2r_core.cli import main
    from a2r_core.train import train
    from a2r_core.training.config import config_from_dict

    root = tmp_path_factory.mktemp("demo_ckpt")
    assert main(["data", "metaworld", "--tasks", TASK, "--sources", "expert", "early_stop",
                 "--episodes-per-source", "1", "--frames", "4", "--size", "32", "--horizon", "100",
                 "--out", str(root / "clips"), "--no-progress"]) == 0
    manifest = str(root / "clips" / "manifest.jsonl")
    cfg = config_from_dict({
        "seed": 0,
        "model": {"embed_dim": 32, "num_frames": 4, "image_size": 32, "patch_size": 8, "video_width": 32,
                  "video_depth": 1, "video_heads": 2, "num_failure_prompts": 1, "prompt_length": 2,
                  "success_head_hidden": 32},
        "data": {"kind": "manifest", "train": {"manifest": manifest, "num_frames": 4},
                 "val": {"manifest": manifest, "num_frames": 4}},
        "sampler": {"batch_human": 0, "batch_success": 1, "batch_failure": 1, "batches_per_epoch": 2},
        "optim": {"epochs": 1, "lr": 1e-3, "warmup_steps": 1},
        "runtime": {"progress": False, "tensorboard": False},
    })
    return Path(train(cfg, output_dir=root / "run").best_dir)
