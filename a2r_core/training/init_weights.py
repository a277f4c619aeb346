"""Start a training run from a checkpoint's weights (`init_from:`), i.e. fine-tuning.

Why: a robot user's usual job is not training from scratch but adapting a reward that already
works (the shipped default, or their last round) to new videos: their own failures, or the
attempts a planner made with it (docs/planning.md, planner-in-the-loop rounds). Training again
from random weights costs the whole schedule; continuing from the weights costs a few epochs.

Only the model's weights are taken. The optimizer, LR schedule, step counter, RNGs and failure
clusters start fresh (the clusters are recomputed from the new data at the first epoch), so the
config's `optim:` section describes the fine-tuning schedule. Exact continuation of an
interrupted run is `--resume`, not this.
"""

from __future__ import annotations

from pathlib import Path

import torch.nn as nn

from a2r_core.errors import CheckpointError


def _prompt_layout(config) -> tuple[list[str], int, int]:
    """What decides which prompt row means which task: the task order and the prompt shapes."""
    return list(config.tasks), int(config.num_failure_prompts), int(config.prompt_length)


def load_initial_weights(model: nn.Module, path: str | Path) -> dict:
    """Copy the weights of the checkpoint at `path` into `model` (built from the run's config).

    The checkpoint must have the same architecture and the same robot tasks in the same order
    (each task owns a row of failure prompts); anything else is a `CheckpointError` naming the
    difference, raised before any training step. Returns a small summary for the run's log.
    """
    from a2r_core.model import load_checkpoint

    loaded, _, _ = load_checkpoint(path)
    ours, theirs = _prompt_layout(model.config), _prompt_layout(loaded.config)
    if ours[0] != theirs[0]:
        raise CheckpointError(
            f"{path}: init_from was trained on robot tasks {theirs[0]}, this run has {ours[0]} "
            "(each task owns a prompt row: list the checkpoint's tasks in model.tasks to keep them)")
    if ours[1:] != theirs[1:]:
        raise CheckpointError(
            f"{path}: init_from has {theirs[1]} failure prompts of length {theirs[2]}, this run's "
            f"model has {ours[1]} of length {ours[2]}")
    try:
        model.load_state_dict(loaded.state_dict())
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: init_from does not match this run's model config: {exc}") from exc
    return {"init_from": str(path), "tasks": len(ours[0])}
