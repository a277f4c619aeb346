"""Fixtures of the gymnasium wrapper tests: the shipped MetaWorld checkpoint and a tiny random model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")

CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "a2r-small-metaworld"
TINY_TASKS = {"drawer-open-v3": ["open the drawer"], "drawer-close-v3": ["close the drawer"]}


@pytest.fixture(scope="session")
def shipped_model():
    """The checkpoint docs/rl.md uses, on the CPU in float32."""
    from a2r_core.reward import RewardModel

    return RewardModel.load(CHECKPOINT)


@pytest.fixture(scope="session")
def tiny_model():
    """A small random Adapt2Reward (4 frames, 32 px) with a non-trivial success head."""
    import torch

    from a2r_core.model import A2RConfig, Adapt2Reward
    from a2r_core.reward import RewardModel

    torch.manual_seed(0)
    cfg = A2RConfig(embed_dim=32, num_frames=4, image_size=32, patch_size=16, video_width=32, video_depth=1,
                    video_heads=2, temporal_depth=1, success_head_hidden=32, tasks=list(TINY_TASKS),
                    task_instructions=TINY_TASKS)
    module = Adapt2Reward(cfg).eval()
    with torch.no_grad():  # the head is initialised to output 0; make p(success) vary
        for p in module.success_head.parameters():
            p.normal_(std=0.5)
    return RewardModel.from_module(module, model_id="tiny-random")
