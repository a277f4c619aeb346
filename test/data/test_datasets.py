"""Loaders over real encoded videos: SS-v2 layout, folder + CSV, a2r manifest; transforms."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from a2r_core.data.datasets import (ManifestDataset, SomethingSomethingDataset, VideoFolderDataset,
                                    collate_clips, ssv2_task)
from a2r_core.data.instructions import all_instructions, canonical, paraphrases, pick, task_of
from a2r_core.data.manifest import write_manifest
from a2r_core.data.records import ClipRecord
from a2r_core.data.transforms import EvalTransform, TrainTransform
from a2r_core.data.video_io import write_video
from a2r_core.errors import ConfigError, DataError


def _clip(level: int, frames: int = 10, h: int = 48, w: int = 64) -> np.ndarray:
    clip = np.full((frames, h, w, 3), level, np.uint8)
    clip[:, :, : w // 4, 0] = 255  # a red stripe on the LEFT edge: flips would move it
    return clip


@pytest.fixture()
def ssv2(tmp_path):
    """A tiny SS-v2 tree: labels/train.json + 20bn-something-something-v2/<id>.webm, one corrupt."""
    videos = tmp_path / "20bn-something-something-v2"
    entries = [
        {"id": "101", "label": "pushing a cup from left to right",
         "template": "Pushing [something] from left to right", "placeholders": ["a cup"]},
        {"id": "102", "label": "pushing a pen from left to right",
         "template": "Pushing [something] from left to right", "placeholders": ["a pen"]},
        {"id": "103", "label": "opening a drawer", "template": "Opening [something]",
         "placeholders": ["a drawer"]},
        {"id": "104", "label": "opening a box", "template": "Opening [something]",
         "placeholders": ["a box"]},
    ]
    for i, entry in enumerate(entries):
        write_video(videos / f"{entry['id']}.webm", _clip(40 * (i + 1)), fps=12.0)
    (videos / "102.webm").write_bytes(b"\x1a\x45\xdf\xa3 broken webm" * 20)  # corrupt
    labels = tmp_path / "labels" / "train.json"
    labels.parent.mkdir()
    labels.write_text(json.dumps(entries))
    return labels, videos


def test_ssv2_layout_loads_and_skips_corrupt(ssv2, caplog):
    labels, videos = ssv2
    data = SomethingSomethingDataset(labels, videos, num_frames=4)
    assert len(data) == 4
    assert {r.task for r in data.records} == {"Pushing something from left to right", "Opening something"}
    assert all(r.domain == "human" and r.success for r in data.records)
    with caplog.at_level(logging.WARNING):
        items = [data[i] for i in range(len(data))]  # a whole "epoch" does not crash
    assert data.skipped == 1 and data.bad_paths == {str(videos / "102.webm")}
    assert "102.webm" in caplog.text
    # the corrupt clip was replaced by the readable clip of the same template
    assert items[1]["index"] == 0 and items[1]["task"] == "Pushing something from left to right"
    for item in items:
        assert item["frames"].shape == (4, 48, 64, 3) and item["frames"].dtype == torch.uint8
    assert items[2]["instruction"] == "opening a drawer"
    # a second pass does not retry (or re-count) the known-bad file
    data[1]
    assert data.skipped == 1


def test_ssv2_task_map_aligns_with_robot_tasks(ssv2):
    labels, videos = ssv2
    data = SomethingSomethingDataset(labels, videos, task_map={"Opening something": "drawer-open-v3"})
    assert [r.task for r in data.records] == ["drawer-open-v3", "drawer-open-v3"]
    assert ssv2_task("Putting [something] on [something]") == "Putting something on something"


def test_dataloader_epoch_with_only_corrupt_group_survives(tmp_path):
    """A clip whose whole group is unreadable falls back to another clip of its domain/label."""
    write_video(tmp_path / "ok.mp4", _clip(100), fps=10)
    (tmp_path / "bad.mp4").write_bytes(b"junk" * 100)
    (tmp_path / "clips.csv").write_text(
        "path,instruction,task,success\nok.mp4,open the drawer,drawer-open-v3,true\n"
        "bad.mp4,close the drawer,drawer-close-v3,true\n")
    data = VideoFolderDataset(tmp_path / "clips.csv", num_frames=5)
    batches = list(DataLoader(data, batch_size=2, collate_fn=collate_clips))
    assert batches[0]["frames"].shape == (2, 5, 48, 64, 3)
    assert data.skipped == 1


def test_all_unreadable_raises(tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"junk" * 100)
    (tmp_path / "clips.csv").write_text("path,instruction\nbad.mp4,open the drawer\n")
    with pytest.raises(DataError, match="no clip"):
        VideoFolderDataset(tmp_path / "clips.csv")[0]


def test_folder_csv_fields_and_validation(tmp_path):
    write_video(tmp_path / "vids" / "a.mp4", _clip(50), fps=10)
    write_video(tmp_path / "vids" / "b.webm", _clip(90), fps=10)
    (tmp_path / "index.csv").write_text(
        "path,instruction,task,domain,success,failure_source\n"
        "vids/a.mp4,push the cup left,push-left,robot,0,noise\n"
        "vids/b.webm,push the cup left,push-left,human,yes,\n")
    data = VideoFolderDataset(tmp_path / "index.csv", num_frames=3, train=True, seed=1)
    first, second = data[0], data[1]
    assert (first["domain"], first["success"], data.records[0].failure_source) == ("robot", False, "noise")
    assert (second["domain"], second["success"]) == ("human", True)
    assert first["frames"].shape == (3, 48, 64, 3)
    (tmp_path / "bad.csv").write_text("path,instruction,success\nvids/a.mp4,x,maybe\n")
    with pytest.raises(DataError, match="bad.csv line 2"):
        VideoFolderDataset(tmp_path / "bad.csv")


def _write_manifest(tmp_path) -> None:
    """A success and a failure clip of one task, paths relative to the manifest."""
    write_video(tmp_path / "clips" / "s.mp4", _clip(60), fps=8)
    write_video(tmp_path / "clips" / "f.mp4", _clip(120), fps=8)
    records = [
        ClipRecord("drawer-close-v3", "close the drawer", "robot", True, "clips/s.mp4", num_frames=10, fps=8),
        ClipRecord("drawer-close-v3", "close the drawer", "robot", False, "clips/f.mp4", "noise",
                   variant="cam_left", num_frames=10, fps=8),
    ]
    write_manifest(tmp_path / "manifest.jsonl", records)


def test_manifest_dataset_filters_and_resolves_relative_paths(tmp_path):
    _write_manifest(tmp_path)
    data = ManifestDataset(tmp_path / "manifest.jsonl", num_frames=6, transform=EvalTransform(32))
    assert len(data) == 2
    item = data[1]
    assert item["frames"].shape == (6, 32, 32, 3) and item["success"] is False
    assert len(ManifestDataset(tmp_path / "manifest.jsonl", variants=["cam_left"])) == 1
    only_success = ManifestDataset(tmp_path / "manifest.jsonl", success=True)
    assert [r.success for r in only_success.records] == [True]


def test_transforms_keep_left_right_and_shapes():
    clip = torch.from_numpy(_clip(30, frames=4, h=96, w=128))
    rng = np.random.default_rng(0)
    for _ in range(20):
        out = TrainTransform(size=64, scale=(0.8, 1.0))(clip, rng)
        assert out.shape == (4, 64, 64, 3) and out.dtype == torch.uint8
        red = out[..., 0].float().mean(dim=(0, 1))  # mean red per column
        assert red[:8].mean() > red[-8:].mean() + 50, "red stripe must stay on the left (no flips)"
    assert torch.equal(out[0], out[3])  # one crop and colour draw per clip, not per frame
    centre = EvalTransform(64)(clip)
    assert centre.shape == (4, 64, 64, 3)
    with pytest.raises(ConfigError):
        TrainTransform(scale=(0.0, 1.0))


def test_look_augmentations_change_colours_not_motion_and_are_configurable():
    clip = torch.from_numpy(_clip(30, frames=4, h=96, w=128))
    rng = np.random.default_rng(1)
    plain = TrainTransform(size=64, scale=(1.0, 1.0), ratio=(1.0, 1.0), brightness=0, contrast=0, saturation=0)
    strong = TrainTransform(size=64, scale=(1.0, 1.0), ratio=(1.0, 1.0), brightness=0, contrast=0, saturation=0,
                            channel_gain=0.5, hue=0.25, grayscale_p=0.0, patches=6)
    base = plain(clip, rng).float()
    changed = [strong(clip, rng).float() for _ in range(10)]
    assert all((c - base).abs().mean() > 2 for c in changed), "colour cast / hue / patches must change pixels"
    for c in changed:  # static: every frame gets the same look and the same patches
        assert torch.equal(c[0] - base[0], c[3] - base[3])
    gray = TrainTransform(size=64, grayscale_p=1.0)(clip, rng).float()
    assert (gray[..., 0] - gray[..., 1]).abs().max() <= 1 and (gray[..., 1] - gray[..., 2]).abs().max() <= 1
    for bad in ({"hue": 0.6}, {"grayscale_p": 1.5}, {"patches": 40}, {"channel_gain": 1.0}):
        with pytest.raises(ConfigError):
            TrainTransform(**bad)


def test_augment_mapping_in_a_training_config_builds_that_transform(tmp_path):
    from a2r_core.training.datasets import build_dataset

    _write_manifest(tmp_path)
    data = build_dataset("manifest", {"manifest": str(tmp_path / "manifest.jsonl"), "size": 32,
                                      "augment": {"hue": 0.1, "patches": 2, "scale": [0.6, 1.0]}})
    assert data.train and data.transform == TrainTransform(size=32, hue=0.1, patches=2, scale=(0.6, 1.0))
    with pytest.raises(ConfigError, match="data.augment"):
        build_dataset("manifest", {"manifest": str(tmp_path / "manifest.jsonl"), "augment": {"blur": 1}})


def test_eval_view_drops_jitter_and_keeps_indices(tmp_path):
    from a2r_core.data.datasets import ConcatClipDataset

    _write_manifest(tmp_path)
    jittered = ManifestDataset(tmp_path / "manifest.jsonl", num_frames=4, train=True, seed=3,
                               transform=TrainTransform(size=32, hue=0.2, patches=3))
    both = ConcatClipDataset([jittered, jittered])
    view = both.eval_view()
    assert both.parts[0].train and both.parts[0].transform.hue == 0.2  # the original is untouched
    first, again = view[3], view[3]
    assert torch.equal(first["frames"], again["frames"]) and first["index"] == 3
    plain = ManifestDataset(tmp_path / "manifest.jsonl", num_frames=4, transform=EvalTransform(32))
    assert torch.equal(first["frames"], plain[1]["frames"])


def test_instructions_cover_every_metaworld_task():
    from a2r_core.sim.metaworld_env import task_names

    table = all_instructions()
    assert set(task_names()) <= set(table)
    phrases = [p for options in table.values() for p in options]
    assert len(phrases) == len(set(phrases)), "an instruction must name one task only"
    assert all(len(paraphrases(t)) >= 2 for t in task_names())
    assert canonical("drawer-close-v3") == "close the drawer"
    assert task_of("  Push the DRAWER shut ") == "drawer-close-v3"
    assert pick("door-open-v3", np.random.default_rng(3)) == pick("door-open-v3", np.random.default_rng(3))
    with pytest.raises(ConfigError, match="no instructions"):
        paraphrases("fly-to-the-moon-v3")
