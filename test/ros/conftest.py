"""Fixtures for the reward node tests: a small random-weight checkpoint (real files, real model).

The model is the real `Adapt2Reward` with the real all-MiniLM text encoder and a tiny video
encoder, saved with the real `save_checkpoint`; only its weights are untrained (the node tests are
about plumbing, so every score is compared with a direct `RewardModel.score` on the same frames).
"""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_MODEL = dict(embed_dim=32, num_frames=4, image_size=32, patch_size=16, video_width=32, video_depth=1,
                  video_heads=2, temporal_depth=1, success_head_hidden=32,
                  tasks=["drawer-open", "drawer-close"],
                  task_instructions={"drawer-open": ["open the drawer"], "drawer-close": ["close the drawer"]})


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    import torch

    from a2r_core.model.checkpoint import save_checkpoint
    from a2r_core.model.configuration_a2r import A2RConfig
    from a2r_core.model.modeling_a2r import Adapt2Reward

    torch.manual_seed(0)
    model = Adapt2Reward(A2RConfig(**TINY_MODEL))
    return Path(save_checkpoint(model, tmp_path_factory.mktemp("ros_ckpt") / "tiny-a2r"))


@pytest.fixture(scope="session")
def reward_model(tiny_checkpoint):
    """The same checkpoint loaded directly: the reference every node output is compared with."""
    from a2r_core.reward import RewardModel

    return RewardModel.load(tiny_checkpoint)
