"""`a2r score-bag` on real MCAP and sqlite3 bags of simulator frames, end to end through the CLI.

Every score is checked against a direct `RewardModel.score` on the same frames, with the clips
worked out by hand from the buffer settings (not by running a second ClipBuffer).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from a2r_core.cli import main

from .conftest import INSTRUCTIONS, LOG_DELAY_NS, storage_file, write_image_bag

TOL = 1e-5


def _run(capsys, bag, out, checkpoint, *extra) -> tuple[int, str]:
    argv = ["score-bag", str(bag), "--topic", "/camera/image_raw", "--checkpoint", str(checkpoint),
            "--out", str(out), "--no-progress"]
    for text in INSTRUCTIONS:
        argv += ["--instruction", text]
    code = main([*argv, *extra])
    captured = capsys.readouterr()
    return code, captured.err


# Frame-count windows make the expected clips easy to state: 8-frame window, a clip every 4 frames
# after the first (emitted once 2 frames are in), all window frames kept (num_frames 8).
FRAME_WINDOW = ["--window", "0", "--window-frames", "8", "--stride-frames", "4", "--num-frames", "8",
                "--batch-size", "3"]


def _frame_window_clips(num_frames: int) -> list[tuple[int, int]]:
    """(first, last) frame index of each clip the FRAME_WINDOW settings cut."""
    return [(max(0, end - 7), end) for end in range(1, num_frames, 4)]


def _direct(reward_model, frames, clips):
    """Direct RewardModel.score, one clip at a time, on the clip's frames."""
    rows = []
    for first, last in clips:
        out = reward_model.score([frames[first:last + 1]], INSTRUCTIONS)
        for i, _ in enumerate(INSTRUCTIONS):
            mode = int(out.most_likely_failure_mode[0, i])  # -1: no failure prompts, an empty row
            rows.append((float(out.reward[0, i]), float(out.success_prob[0, i]),
                         mode, out.failure_mode_probs[0, i].tolist() if mode >= 0 else []))
    return rows


@pytest.mark.parametrize("storage,encoding", [("mcap", "rgb8"), ("sqlite3", "png")])
def test_scores_match_direct_scoring_and_output_bag_holds_the_rewards(
    tmp_path, capsys, sim_frames, checkpoint, reward_model, storage, encoding
) -> None:
    bag = write_image_bag(tmp_path / "in", sim_frames, storage=storage, encoding=encoding)
    out, out_bag = tmp_path / "scores", tmp_path / "scored_bag"
    code, err = _run(capsys, bag.path, out, checkpoint, *FRAME_WINDOW, "--output-bag", str(out_bag))
    assert code == 0, err

    clips = _frame_window_clips(len(sim_frames))
    summary = json.loads((out / "scores.json").read_text())
    assert summary["complete"] and summary["problems"] == []
    assert summary["frames_read"] == len(sim_frames) and summary["clips"] == len(clips)
    rows = summary["rows"]
    assert len(rows) == len(clips) * len(INSTRUCTIONS)
    expected = _direct(reward_model, sim_frames, clips)
    for k, (row, (reward, success, mode, modes)) in enumerate(zip(rows, expected)):
        first, last = clips[k // len(INSTRUCTIONS)]
        assert row["instruction"] == INSTRUCTIONS[k % len(INSTRUCTIONS)]
        assert row["stamp_ns"] == bag.stamps_ns[last] and row["clip_start_ns"] == bag.stamps_ns[first]
        assert row["frame_count"] == last - first + 1
        assert abs(row["reward"] - reward) < TOL and abs(row["success_probability"] - success) < TOL
        assert row["most_likely_failure_mode"] == mode
        np.testing.assert_allclose(row["failure_mode_scores"], modes, atol=TOL)
    # The model tells the instructions apart on these frames (else equal rewards would prove little).
    assert len({round(r["reward"], 6) for r in rows}) > len(clips)

    with (out / "scores.csv").open() as fh:
        table = list(csv.DictReader(fh))
    assert [int(r["stamp_ns"]) for r in table] == [r["stamp_ns"] for r in rows]
    np.testing.assert_allclose([float(r["reward"]) for r in table], [r["reward"] for r in rows], rtol=1e-6)
    # what the model took each instruction for, in the JSON and the CSV alike
    for row, line in zip(rows, table):
        assert row["resolved_task"] == line["resolved_task"] == (reward_model.resolve_instruction(row["instruction"]).task or "")

    import matplotlib.image

    png = matplotlib.image.imread(out / "scores.png")
    assert png.ndim == 3 and png.shape[0] > 300 and png.shape[1] > 600

    _check_output_bag(out_bag, bag, sim_frames, rows, storage)


def _check_output_bag(out_bag: Path, bag, frames, rows, storage) -> None:
    """The new bag opens with rosbags: originals byte-identical, rewards stamped like the node's."""
    from rosbags.rosbag2 import Reader

    from a2r_core.bags.typestore import a2r_typestore

    store = a2r_typestore()
    with Reader(bag.path) as src:
        originals = [(c.topic, t, bytes(d)) for c, t, d in src.messages()]
    with Reader(out_bag) as reader:
        assert storage_file(out_bag).suffix == (".mcap" if storage == "mcap" else ".db3")
        topics = reader.topics
        assert topics["/a2r/reward"].msgtype == "a2r_ros/msg/RewardScore"
        assert topics["/camera/image_raw"].msgcount == len(frames)
        reward_conn = next(c for c in reader.connections if c.topic == "/a2r/reward")
        copied, rewards = [], []
        for conn, timestamp, data in reader.messages():
            if conn.topic == "/a2r/reward":
                rewards.append((timestamp, store.deserialize_cdr(data, conn.msgtype)))
            else:
                copied.append((conn.topic, timestamp, bytes(data)))
    assert sorted(copied) == sorted(originals)
    assert len(rewards) == len(rows)
    for (log_time, msg), row in zip(rewards, rows):
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        assert stamp == row["stamp_ns"] and log_time == row["stamp_ns"] + LOG_DELAY_NS
        assert msg.clip_start.sec * 10**9 + msg.clip_start.nanosec == row["clip_start_ns"]
        assert msg.instruction == row["instruction"] and msg.frame_count == row["frame_count"]
        assert msg.header.frame_id == "front"
        assert abs(msg.reward - row["reward"]) < 1e-6
        assert msg.most_likely_failure_mode == row["most_likely_failure_mode"]
        assert msg.resolved_task == row["resolved_task"]
    # The message definition in the bag is the package's own: its type hash equals rosidl's.
    try:
        from ament_index_python.packages import get_package_share_directory

        generated = Path(get_package_share_directory("a2r_ros")) / "msg" / "RewardScore.json"
    except (ImportError, LookupError):
        generated = None
    if generated is not None and generated.is_file():
        hashes = json.loads(generated.read_text())["type_hashes"]
        rosidl_hash = next(h["hash_string"] for h in hashes if h["type_name"] == "a2r_ros/msg/RewardScore")
        assert reward_conn.digest == rosidl_hash


def test_default_clips_are_the_live_nodes(tmp_path, capsys, sim_frames, checkpoint) -> None:
    """No buffer options: the node's defaults (2 s window, rate 2 Hz -> a clip every 0.5 s)."""
    bag = write_image_bag(tmp_path / "in", sim_frames[:24], storage="mcap")
    code, err = _run(capsys, bag.path, tmp_path / "o", checkpoint)
    assert code == 0, err
    rows = json.loads((tmp_path / "o" / "scores.json").read_text())["rows"]
    ends = sorted({r["stamp_ns"] for r in rows})
    # 10 Hz stamps: first clip once 2 frames are in (frame 1), then every 5 frames (0.5 s).
    assert ends == bag.stamps_ns[[1, 6, 11, 16, 21]].tolist()
    by_end = {r["stamp_ns"]: r for r in rows}
    # 2 s window at 10 Hz holds 21 frames; sampled to the model's 4 frames once longer.
    assert [by_end[e]["frame_count"] for e in ends] == [2, 4, 4, 4, 4]
    assert by_end[ends[-1]]["clip_start_ns"] == bag.stamps_ns[1]


def test_params_file_sets_the_clips_like_the_node(tmp_path, capsys, sim_frames, checkpoint) -> None:
    bag = write_image_bag(tmp_path / "in", sim_frames[:12], storage="sqlite3")
    params = tmp_path / "reward.yaml"
    params.write_text("/**:\n  ros__parameters:\n    rate_hz: 5.0\n    window_s: 1.0\n")
    code, err = _run(capsys, bag.path, tmp_path / "o", checkpoint, "--params-file", str(params))
    assert code == 0, err
    summary = json.loads((tmp_path / "o" / "scores.json").read_text())
    assert summary["clip_buffer"]["stride_s"] == pytest.approx(0.2)
    assert sorted({r["stamp_ns"] for r in summary["rows"]}) == bag.stamps_ns[[1, 3, 5, 7, 9, 11]].tolist()
    bad = tmp_path / "bad.yaml"
    bad.write_text("/**:\n  ros__parameters:\n    rate_hz: 5\n")
    code, err = _run(capsys, bag.path, tmp_path / "o2", checkpoint, "--params-file", str(bad))
    assert code == 1 and "rate_hz" in err and "Traceback" not in err


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_truncated_bag_scores_the_readable_part_and_exits_nonzero(
    tmp_path, capsys, sim_frames, checkpoint, reward_model, storage
) -> None:
    bag = write_image_bag(tmp_path / "in", sim_frames, storage=storage)
    file = storage_file(bag.path)
    os.truncate(file, int(file.stat().st_size * 0.6))
    out = tmp_path / "scores"
    code, err = _run(capsys, bag.path, out, checkpoint, *FRAME_WINDOW)
    assert code == 1
    assert "not read completely" in err and "lost" in err and "Traceback" not in err
    summary = json.loads((out / "scores.json").read_text())
    read = summary["frames_read"]
    assert 0 < read < len(sim_frames) and not summary["complete"]
    assert any(f"read {read} of {len(sim_frames)} messages, {len(sim_frames) - read} lost" in p
               for p in summary["problems"])
    clips = _frame_window_clips(read)
    expected = _direct(reward_model, sim_frames, clips)
    assert len(summary["rows"]) == len(expected) > 0
    for row, (reward, success, _, _) in zip(summary["rows"], expected):
        assert abs(row["reward"] - reward) < TOL and abs(row["success_probability"] - success) < TOL


def test_malformed_frames_are_skipped_reported_and_exit_nonzero(tmp_path, capsys, sim_frames, checkpoint) -> None:
    bag = write_image_bag(tmp_path / "in", sim_frames[:10], corrupt=[3])
    code, err = _run(capsys, bag.path, tmp_path / "o", checkpoint, "--output-bag", str(tmp_path / "ob"))
    assert code == 1 and "1 message(s) on /camera/image_raw could not be decoded" in err
    summary = json.loads((tmp_path / "o" / "scores.json").read_text())
    assert summary["frames_read"] == 9 and summary["rows"]
    assert (tmp_path / "ob" / "metadata.yaml").is_file()


def test_user_mistakes_are_one_line_errors(tmp_path, capsys, sim_frames, checkpoint) -> None:
    bag = write_image_bag(tmp_path / "in", sim_frames[:3], storage="sqlite3")
    base = ["score-bag", str(bag.path), "--checkpoint", str(checkpoint), "--instruction", "x", "--no-progress"]

    assert main([*base, "--topic", "/cam", "--out", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("a2r score-bag: error: topic '/cam' is not in bag")
    assert "/camera/image_raw  [sensor_msgs/msg/Image]" in err and "/robot/status  [std_msgs/msg/String]" in err

    assert main([*base, "--topic", "/robot/status", "--out", str(tmp_path / "b")]) == 1
    err = capsys.readouterr().err
    assert "sensor_msgs/msg/Image, sensor_msgs/msg/CompressedImage" in err

    assert main([*base, "--topic", "/camera/image_raw", "--out", str(tmp_path / "c"),
                 "--instruction", "  "]) == 1
    assert "instruction 1 is empty" in capsys.readouterr().err

    assert main(["score-bag", str(tmp_path / "nope"), "--topic", "/c", "--checkpoint", str(checkpoint),
                 "--instruction", "x", "--out", str(tmp_path / "d")]) == 1
    assert "does not exist" in capsys.readouterr().err

    assert main([*base, "--topic", "/camera/image_raw", "--out", str(tmp_path / "e"),
                 "--checkpoint", str(tmp_path / "no_ckpt")]) == 1
    assert "a2r score-bag: error:" in capsys.readouterr().err

    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    assert main([*base, "--topic", "/camera/image_raw", "--out", str(taken)]) == 1
    assert "--force" in capsys.readouterr().err and (taken / "keep.txt").read_text() == "mine"
    for name in "abcde":
        assert not (tmp_path / name).exists()


def test_bag_modules_never_import_rclpy() -> None:
    code = ("import sys, a2r_core.bags, a2r_core.scoring, a2r_core.commands.score_bag; "
            "assert 'rclpy' not in sys.modules, 'rclpy imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_installed_ros2_run_executable_scores_a_bag(tmp_path, sim_frames, checkpoint) -> None:
    """`ros2 run a2r_ros score_bag` is the same command: run the installed script as a process."""
    from ament_index_python.packages import get_package_prefix

    exe = Path(get_package_prefix("a2r_ros")) / "lib" / "a2r_ros" / "score_bag"
    bag = write_image_bag(tmp_path / "in", sim_frames[:8], storage="mcap")
    base = [sys.executable, str(exe), str(bag.path), "--checkpoint", str(checkpoint),
            "--instruction", INSTRUCTIONS[0], "--no-progress"]
    done = subprocess.run([*base, "--topic", "/camera/image_raw", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(json.loads((tmp_path / "o" / "scores.json").read_text())["rows"]) == 2
    wrong = subprocess.run([*base, "--topic", "/nope", "--out", str(tmp_path / "p")],
                           capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
    assert "/camera/image_raw  [sensor_msgs/msg/Image]" in wrong.stderr
