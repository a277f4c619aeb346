"""Checkpoints: save -> load gives identical scores and extras; writes are atomic; every kind of
broken checkpoint (missing, corrupt, truncated, bad config, missing/unexpected/mis-shaped tensors)
raises CheckpointError naming the file and the problem. All faults are caused for real on files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from a2r_core.errors import CheckpointError
from a2r_core.model import A2RConfig, Adapt2Reward, load_checkpoint, save_checkpoint
from a2r_core.model.checkpoint import CONFIG_FILE, MODEL_FILE
from a2r_core.reward import RewardModel

INSTRUCTIONS = ["open the drawer", "close the drawer", "wave at the camera"]


def tiny_config(**kw) -> A2RConfig:
    base = dict(tasks=["open", "close"], task_instructions={"open": ["open the drawer"], "close": ["close the drawer"]},
                num_frames=4, image_size=32, embed_dim=32, video_width=64, video_depth=1, video_heads=2,
                success_head_hidden=32)
    base.update(kw)
    return A2RConfig(**base)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[Adapt2Reward, Path]:
    torch.manual_seed(0)
    model = Adapt2Reward(tiny_config()).eval()
    with torch.no_grad():  # make the success head non-trivial (it starts at zero)
        for p in model.success_head.parameters():
            p.normal_(std=0.5)
    path = save_checkpoint(model, tmp_path_factory.mktemp("ck") / "model",
                           extra_tensors={"centroids": torch.arange(6.0).view(2, 3)},
                           extra_json={"epoch": 3, "labels": {"open": [0, 1]}})
    return model, path


def broken_copy(saved_path: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "broken"
    dst.mkdir()
    for f in saved_path.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_save_load_gives_identical_scores_and_extras(saved, tmp_path: Path) -> None:
    model, path = saved
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "extra.json", "extra.safetensors",
                                                      "model.safetensors"]
    loaded, extra, extra_json = load_checkpoint(path)
    assert torch.equal(extra["centroids"], torch.arange(6.0).view(2, 3))
    assert extra_json == {"epoch": 3, "labels": {"open": [0, 1]}}
    assert loaded.config == model.config and not loaded.training
    clips = np.random.default_rng(1).integers(0, 256, (3, 5, 24, 36, 3), dtype=np.uint8)
    a = RewardModel.from_module(model).score(clips, INSTRUCTIONS)
    b = RewardModel.load(path).score(clips, INSTRUCTIONS)
    for name in ("reward", "success_prob", "failure_mode_probs", "most_likely_failure_mode"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    # The frozen MiniLM encoder is not stored (it comes from the package).
    assert not any(k.startswith("backbone.text_model.") for k in load_file(str(path / MODEL_FILE)))


def test_overwrite_is_atomic_and_leaves_no_temp_dirs(saved, tmp_path: Path) -> None:
    model, _ = saved
    target = tmp_path / "ck"
    save_checkpoint(model, target, extra_json={"v": 1})
    save_checkpoint(model, target, extra_json={"v": 2})
    assert load_checkpoint(target)[2] == {"v": 2}
    # A save that fails half-way (extra_json not serialisable) leaves the old checkpoint intact.
    with pytest.raises(CheckpointError, match="not JSON-serialisable"):
        save_checkpoint(model, target, extra_json={"bad": object()})
    assert load_checkpoint(target)[2] == {"v": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


def test_missing_directory_and_files(saved, tmp_path: Path) -> None:
    _, path = saved
    with pytest.raises(CheckpointError, match=r"nowhere: checkpoint directory does not exist"):
        load_checkpoint(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match=r"file: not a directory"):
        load_checkpoint(tmp_path / "file")
    bad = broken_copy(path, tmp_path)
    (bad / MODEL_FILE).unlink()
    with pytest.raises(CheckpointError, match=r"model\.safetensors: missing"):
        load_checkpoint(bad)
    (bad / CONFIG_FILE).unlink()
    with pytest.raises(CheckpointError, match=r"config\.json: missing"):
        load_checkpoint(bad)


def test_corrupt_and_truncated_weights(saved, tmp_path: Path) -> None:
    _, path = saved
    bad = broken_copy(path, tmp_path)
    data = (path / MODEL_FILE).read_bytes()
    (bad / MODEL_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"model\.safetensors: not a valid safetensors file"):
        load_checkpoint(bad)
    (bad / MODEL_FILE).write_bytes(b"PK\x03\x04 this is a zip, not safetensors" * 10)
    with pytest.raises(CheckpointError, match=r"model\.safetensors: not a valid safetensors file"):
        load_checkpoint(bad)
    (bad / MODEL_FILE).write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"model\.safetensors: not a valid safetensors file"):
        load_checkpoint(bad)


def test_bad_config(saved, tmp_path: Path) -> None:
    _, path = saved
    bad = broken_copy(path, tmp_path)
    (bad / CONFIG_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match=r"config\.json: not valid JSON"):
        load_checkpoint(bad)
    (bad / CONFIG_FILE).write_text(json.dumps({"hello": 1}))
    with pytest.raises(CheckpointError, match=r"config\.json: not an a2r checkpoint config"):
        load_checkpoint(bad)
    header = json.loads((path / CONFIG_FILE).read_text())
    header["model"]["backbone"] = "resnet50"
    (bad / CONFIG_FILE).write_text(json.dumps(header))
    with pytest.raises(CheckpointError, match=r"config\.json: invalid model config: .*backbone"):
        load_checkpoint(bad)
    header = json.loads((path / CONFIG_FILE).read_text())
    header["format_version"] = 99
    (bad / CONFIG_FILE).write_text(json.dumps(header))
    with pytest.raises(CheckpointError, match=r"config\.json: unsupported format_version 99"):
        load_checkpoint(bad)


def test_config_that_does_not_match_the_weights(saved, tmp_path: Path) -> None:
    _, path = saved
    bad = broken_copy(path, tmp_path)
    header = json.loads((path / CONFIG_FILE).read_text())
    header["model"]["embed_dim"] = 48
    (bad / CONFIG_FILE).write_text(json.dumps(header))
    with pytest.raises(CheckpointError, match=r"model\.safetensors: does not match .*config\.json: "
                                              r"mis-shaped tensors: .*\[32, 64\] vs model \[48, 64\]"):
        load_checkpoint(bad)


def test_missing_and_unexpected_tensors(saved, tmp_path: Path) -> None:
    _, path = saved
    bad = broken_copy(path, tmp_path)
    state = load_file(str(path / MODEL_FILE))
    del state["prompts.prompts"]
    state["stray.weight"] = torch.zeros(2)
    save_file(state, str(bad / MODEL_FILE))
    with pytest.raises(CheckpointError, match=r"model\.safetensors: .*missing tensors: prompts\.prompts; "
                                              r"unexpected tensors: stray\.weight"):
        load_checkpoint(bad)


def test_unfrozen_text_encoder_is_stored(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Adapt2Reward(tiny_config(freeze_text=False, num_failure_prompts=0))
    with torch.no_grad():
        model.backbone.text_model.embeddings.word_embeddings.weight[:100] += 1.0  # "fine-tuned"
    path = save_checkpoint(model, tmp_path / "ck")
    assert json.loads((path / CONFIG_FILE).read_text())["text_encoder"] == "model.safetensors"
    loaded, _, _ = load_checkpoint(path)
    assert torch.equal(loaded.encode_text(["open the drawer"]), model.eval().encode_text(["open the drawer"]))
