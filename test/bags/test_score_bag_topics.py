"""`a2r score-bag` topic choice and several cameras, on real bags written by the rosbags writer.

- no --topic: a bag's only image topic (raw or compressed) is scored and named; several: the
  error lists them and no model is loaded;
- --topic repeated: each camera scored in one pass with its own clip buffer, rows (the `topic`
  column / key), plot panels and RewardScore stream in the output bag, equal to scoring that camera
  alone;
- the README layout (--output-bag inside --out) works, and the folders get mode 0755 under umask
  022 like any mkdir.
"""

from __future__ import annotations

import csv
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from a2r_core.cli import main

from .conftest import INSTRUCTIONS, LOG_DELAY_NS, write_camera_bag, write_image_bag

LEFT, RIGHT = "/cam_left/image_raw", "/cam_right/image_raw"
# A clip every 4 frames from 8-frame windows: a handful of clips from 16 frames.
FRAME_WINDOW = ["--window", "0", "--window-frames", "8", "--stride-frames", "4", "--num-frames", "4"]


def _argv(bag: Path, out: Path, checkpoint: Path, *extra: str) -> list[str]:
    argv = ["score-bag", str(bag), "--checkpoint", str(checkpoint), "--out", str(out), "--no-progress"]
    for text in INSTRUCTIONS:
        argv += ["--instruction", text]
    return [*argv, *extra]


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize("encoding", ["rgb8", "jpeg"])
def test_the_only_image_topic_is_scored_and_named(tmp_path, capsys, sim_frames, checkpoint, encoding) -> None:
    bag = write_image_bag(tmp_path / "in", sim_frames[:8], topic="/wrist/image", encoding=encoding)
    code = main(_argv(bag.path, tmp_path / "o", checkpoint))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "scoring /wrist/image, the bag's only image topic" in captured.err
    assert "/wrist/image" in captured.out
    summary = json.loads((tmp_path / "o" / "scores.json").read_text())
    assert summary["topic"] == "/wrist/image" and summary["topics"] == ["/wrist/image"]
    assert summary["rows"] and {r["topic"] for r in summary["rows"]} == {"/wrist/image"}


def test_several_image_topics_without_topic_are_listed(tmp_path, capsys, sim_frames) -> None:
    path = tmp_path / "two"
    write_camera_bag(path, {LEFT: (sim_frames[:4], "rgb8", 0), RIGHT: (sim_frames[:4], "png", 0)})
    # A checkpoint that does not exist: the topic error must come before the model is loaded.
    code = main(_argv(path, tmp_path / "o", tmp_path / "no_checkpoint"))
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "has 2 image topics; choose with --topic" in err
    assert f"{LEFT}  [sensor_msgs/msg/Image]" in err and f"{RIGHT}  [sensor_msgs/msg/CompressedImage]" in err
    assert "/robot/status" not in err and not (tmp_path / "o").exists()


def test_bag_without_image_topic_says_so(tmp_path, capsys, sim_frames) -> None:
    bag = write_image_bag(tmp_path / "in", sim_frames[:2])
    code = main(_argv(bag.path, tmp_path / "o", tmp_path / "no_checkpoint", "--topic", "/robot/status"))
    assert code == 1 and "carries std_msgs/msg/String" in capsys.readouterr().err


def test_two_cameras_in_one_pass_match_each_camera_alone(tmp_path, capsys, sim_frames, checkpoint) -> None:
    frames_left, frames_right = sim_frames[:16], sim_frames[16:32]
    path = tmp_path / "two"
    stamps = write_camera_bag(path, {LEFT: (frames_left, "rgb8", 0), RIGHT: (frames_right, "png", 40_000_000)})
    out, out_bag = tmp_path / "scores", tmp_path / "scores" / "with_rewards"
    code = main(_argv(path, out, checkpoint, "--topic", LEFT, "--topic", RIGHT, "--output-bag", str(out_bag),
                      *FRAME_WINDOW))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads((out / "scores.json").read_text())
    assert summary["topics"] == [LEFT, RIGHT] and summary["topic"] is None
    assert summary["cameras"][LEFT]["reward_topic"] == "/a2r/reward/cam_left/image_raw"
    assert summary["cameras"][RIGHT]["reward_topic"] == "/a2r/reward/cam_right/image_raw"
    assert summary["frames_read"] == 32 and summary["complete"]

    # Each camera's rows equal a run on a bag holding only that camera (same frames, same stamps).
    for topic, frames, encoding in ((LEFT, frames_left, "rgb8"), (RIGHT, frames_right, "png")):
        alone = write_image_bag(tmp_path / f"alone{topic.replace('/', '_')}", frames, topic=topic,
                                encoding=encoding, stamps=stamps[topic], extra_topics=False)
        single_out = tmp_path / f"single{topic.replace('/', '_')}"
        assert main(_argv(alone.path, single_out, checkpoint, "--topic", topic, *FRAME_WINDOW)) == 0
        capsys.readouterr()
        single = json.loads((single_out / "scores.json").read_text())["rows"]
        mine = [r for r in summary["rows"] if r["topic"] == topic]
        assert len(mine) == len(single) > 2
        assert [r["stamp_ns"] for r in mine] == [r["stamp_ns"] for r in single]
        np.testing.assert_allclose([r["reward"] for r in mine], [r["reward"] for r in single], atol=1e-5)
        assert summary["cameras"][topic]["clips"] == len(mine) // len(INSTRUCTIONS)
    # The cameras see different scenes: their rewards differ (else the check above proves little).
    left = [r["reward"] for r in summary["rows"] if r["topic"] == LEFT]
    right = [r["reward"] for r in summary["rows"] if r["topic"] == RIGHT]
    assert not np.allclose(left, right[: len(left)])

    with (out / "scores.csv").open() as fh:
        table = list(csv.DictReader(fh))
    assert [r["topic"] for r in table] == [r["topic"] for r in summary["rows"]]
    import matplotlib.image

    png = matplotlib.image.imread(out / "scores.png")
    assert png.shape[0] > 4 * 300  # one panel per (camera, instruction): 4 panels

    from rosbags.rosbag2 import Reader

    from a2r_core.bags.typestore import a2r_typestore

    store = a2r_typestore()
    got: dict[str, list] = {}
    with Reader(out_bag) as reader:
        for conn, log_time, data in reader.messages():
            if conn.topic.startswith("/a2r/reward"):
                got.setdefault(conn.topic, []).append((log_time, store.deserialize_cdr(data, conn.msgtype)))
    assert set(got) == {"/a2r/reward/cam_left/image_raw", "/a2r/reward/cam_right/image_raw"}
    for topic, reward_topic in ((LEFT, "/a2r/reward/cam_left/image_raw"), (RIGHT, "/a2r/reward/cam_right/image_raw")):
        rows = [r for r in summary["rows"] if r["topic"] == topic]
        msgs = got[reward_topic]
        assert len(msgs) == len(rows)
        for (log_time, msg), row in zip(msgs, rows):
            assert msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec == row["stamp_ns"]
            assert log_time == row["stamp_ns"] + LOG_DELAY_NS
            assert abs(msg.reward - row["reward"]) < 1e-6 and msg.instruction == row["instruction"]


def test_readme_layout_output_bag_inside_out_and_modes(tmp_path, monkeypatch, capsys, sim_frames, checkpoint,
                                                       umask_022) -> None:
    """README "Score a bag": --out scored/ --output-bag scored/with_rewards, then again with --force."""
    bag = write_image_bag(tmp_path / "my_run_bag", sim_frames[:8])
    monkeypatch.chdir(tmp_path)
    argv = ["score-bag", "my_run_bag", "--topic", "/camera/image_raw", "--instruction", "open the drawer",
            "--checkpoint", str(checkpoint), "--out", "scored/", "--output-bag", "scored/with_rewards",
            "--no-progress"]
    code = main(argv)
    assert code == 0, capsys.readouterr().err
    scored = tmp_path / "scored"
    assert sorted(p.name for p in scored.iterdir()) == ["scores.csv", "scores.json", "scores.png", "with_rewards"]
    assert (scored / "with_rewards" / "metadata.yaml").is_file()
    summary = json.loads((scored / "scores.json").read_text())
    assert summary["output_bag"] == "scored/with_rewards" and summary["rows"]
    for folder in (scored, scored / "with_rewards"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755, folder
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp dir left

    # Again: refused without --force (nothing touched), replaced with it.
    assert main(argv) == 1 and "--force" in capsys.readouterr().err
    assert main([*argv, "--force"]) == 0
    assert (scored / "with_rewards" / "metadata.yaml").is_file() and bag.path.is_dir()

    same = [a if a not in ("scored/", "scored/with_rewards") else "scored2" for a in argv]
    assert main(same) == 1
    assert "must not be the --out directory itself" in capsys.readouterr().err
