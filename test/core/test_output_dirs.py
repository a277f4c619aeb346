"""Output folders written through a temporary directory get the mode a plain mkdir gives.

`tempfile.mkdtemp` makes 0700 directories whatever the umask; a2r renames such a directory into
place for score-bag's --out (test/bags/test_score_bag_topics.py), `a2r eval --out`,
`a2r pybullet mpc --out` and every checkpoint (a run's best/ and last/). Under umask 022 each must
end up 0755, like the folders the data and bench commands make with mkdir.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
import yaml

from a2r_core.output_dirs import current_umask, directory_mode, staging_dir


@pytest.fixture
def umask():
    """Set a umask for one test, restoring the process's afterwards."""
    saved = os.umask(0o022)
    os.umask(saved)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(saved)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask,expected", [(0o022, 0o755), (0o027, 0o750), (0o077, 0o700), (0o002, 0o775)])
def test_staging_dir_follows_the_umask(tmp_path, umask, mask, expected) -> None:
    umask(mask)
    assert current_umask() == mask and directory_mode() == expected
    tmp = staging_dir(tmp_path / "deeper" / "result")
    assert tmp.parent == tmp_path / "deeper" and tmp.name.startswith(".result.tmp-")
    assert _mode(tmp) == expected
    plain = tmp_path / "plain"
    plain.mkdir()
    assert _mode(plain) == expected  # the same as mkdir


def test_checkpoint_folder_is_0755_under_umask_022(tmp_path, umask) -> None:
    import torch

    from a2r_core.model.checkpoint import save_checkpoint
    from a2r_core.model.configuration_a2r import A2RConfig
    from a2r_core.model.modeling_a2r import Adapt2Reward

    umask(0o022)
    torch.manual_seed(0)
    config = A2RConfig(num_frames=2, image_size=16, patch_size=8, video_width=32, video_depth=1, video_heads=2,
                       embed_dim=32, success_head_hidden=32, num_failure_prompts=2,
                       tasks=["t"], task_instructions={"t": ["do t"]})
    path = save_checkpoint(Adapt2Reward(config), tmp_path / "run" / "best")
    assert _mode(path) == 0o755
    save_checkpoint(Adapt2Reward(config), path)  # replacing keeps the mode too
    assert _mode(path) == 0o755


def test_pybullet_mpc_outputs_are_0755_under_umask_022(tmp_path, umask) -> None:
    from a2r_core.commands.pybullet import _write_outputs

    umask(0o022)
    summary = {"variant": "default", "cem": {}, "max_steps": 1, "success_rate_per_task": {"push_left": 1.0},
               "success_rate": 1.0, "wall_s": 1.0, "rollouts_per_s": 1.0}
    episode = {"task": "push_left", "seed": 0, "success": True, "along_m": 0.1}
    out = tmp_path / "mpc"
    _write_outputs(out, summary, [np.zeros((8, 8, 3), np.uint8)], [episode], force=False)
    assert _mode(out) == 0o755 and (out / "mpc_oracle.json").is_file()


def test_eval_out_is_0755_under_umask_022(tmp_path, umask) -> None:
    from a2r_core.cli import main

    umask(0o022)
    cfg = {"rows": ["random"], "progress": False,
           "synthetic": {"train": {"num_tasks": 2, "robot_tasks": 2, "success_per_task": 1, "failure_per_task": 1,
                                   "human_per_task": 1, "num_frames": 4, "size": 16, "seed": 0},
                         "val": {"num_tasks": 2, "robot_tasks": 2, "success_per_task": 1, "failure_per_task": 1,
                                 "human_per_task": 0, "num_frames": 4, "size": 16, "seed": 1},
                         "test": {"success_per_task": 2, "failure_per_task": 2, "seed": 2}}}
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "eval_out"
    assert main(["eval", "--config", str(path), "--out", str(out), "--no-progress"]) == 0
    assert _mode(out) == 0o755 and (out / "results.json").is_file()


def test_published_dir_replaces_an_empty_destination_and_cleans_up_on_error(tmp_path) -> None:
    from a2r_core.output_dirs import published_dir

    out = tmp_path / "result"
    out.mkdir()
    with published_dir(out) as tmp:
        (tmp / "a.txt").write_text("a")
    assert (out / "a.txt").read_text() == "a"
    other = tmp_path / "failed"
    with pytest.raises(RuntimeError):
        with published_dir(other) as tmp:
            (tmp / "b.txt").write_text("b")
            raise RuntimeError("boom")
    assert not other.exists() and [p.name for p in tmp_path.iterdir()] == ["result"]
