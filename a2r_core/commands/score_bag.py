"""`a2r score-bag`: score a recorded rosbag2 bag offline, with the rewards the live node publishes.

    a2r score-bag BAG [--topic /camera/image_raw ...] --instruction "open the drawer" \
        --checkpoint CKPT --out OUT [--output-bag OUT_BAG] [--window 2.0 --stride 0.5]

Without --topic the bag's only image topic is scored (several: the error lists them); --topic may
be repeated to score several cameras in one read, each with its own clip buffer, its own rows
(the `topic` column) and its own RewardScore stream in the output bag (`reward_topics`).
Writes OUT/scores.csv, OUT/scores.json and OUT/scores.png (atomically: a temp dir renamed into
place); an --output-bag inside OUT is written into that temp dir too, so it lands with the scores. A damaged bag is scored as far as it is readable; the losses are printed and written to
scores.json, and the exit code is 1 so scripts notice. Also installed as `ros2 run a2r_ros
score_bag` (scripts/ros/score_bag calls `main` below).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Sequence

from a2r_core.clip_buffer import ClipBufferConfig
from a2r_core.errors import ConfigError, InputError
from a2r_core.output_dirs import staging_dir
from a2r_core.reward_modes import REWARD_MODES

NAME = "score-bag"
HELP = "score a recorded rosbag2 bag (MCAP or sqlite3) offline: CSV, JSON, PNG, optional bag"

CSV_COLUMNS = [
    "topic",
    "stamp_ns",
    "stamp_s",
    "instruction",
    "resolved_task",
    "reward",
    "success_probability",
    "most_likely_failure_mode",
    "failure_mode_scores",
    "clip_start_ns",
    "frame_count",
    "frame_id",
    "model_id",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `a2r score-bag`."""
    parser.add_argument("bag", help="rosbag2 bag directory, or a bare .mcap / .db3 file")
    parser.add_argument("--topic", action="append", default=None, metavar="TOPIC",
                        help="camera topic (sensor_msgs/Image or CompressedImage); repeat to score several "
                             "cameras in one pass (default: the bag's only image topic)")
    parser.add_argument("--instruction", action="append", required=True, metavar="TEXT",
                        help="instruction to score against; repeat for several")
    parser.add_argument("--checkpoint", required=True, help="reward model checkpoint directory (or hub id)")
    parser.add_argument("--out", required=True, help="output directory for scores.csv/.json/.png")
    parser.add_argument("--output-bag", default=None, metavar="PATH",
                        help="also write a copy of the bag with RewardScore messages on /a2r/reward "
                             "(several cameras: /a2r/reward/<camera topic> each); may be inside --out")
    parser.add_argument("--output-storage", choices=["mcap", "sqlite3"], default=None,
                        help="storage of --output-bag (default: the input's)")
    parser.add_argument("--params-file", default=None, metavar="YAML",
                        help="the reward node's parameter file (e.g. config/reward.yaml): cut clips "
                             "exactly as a node started with it does (default: the node's defaults)")
    parser.add_argument("--window", type=float, default=None, metavar="S",
                        help="clip window in seconds of header-stamp time (node: window_s)")
    parser.add_argument("--window-frames", type=int, default=None, metavar="N",
                        help="clip window in frames, 0: duration only (node: window_frames)")
    parser.add_argument("--stride", type=float, default=None, metavar="S",
                        help="stamp time between scored clips in seconds (node: 1 / rate_hz)")
    parser.add_argument("--stride-frames", type=int, default=None, metavar="N",
                        help="frames between scored clips instead of --stride (the node has no such mode)")
    parser.add_argument("--min-frames", type=int, default=None, metavar="N",
                        help="frames needed before the first clip (node: min_frames)")
    parser.add_argument("--num-frames", type=int, default=None, metavar="T",
                        help="frames sampled per clip (node: num_frames; default the model's)")
    parser.add_argument("--batch-size", type=int, default=8, help="clips per model forward (default 8)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--reward-mode", default=None, choices=REWARD_MODES,
                        help="reward formula (docs/model.md; default: the checkpoint's own)")
    parser.add_argument("--force", action="store_true", help="replace an existing --out directory")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Score the bag; 0 when it was read completely, 1 when part of it was lost."""
    from a2r_core.bags.pipeline import resolve_image_topics, score_bag_topics
    from a2r_core.bags.writer import reward_topics
    from a2r_core.instructions import check_instructions

    instructions = check_instructions(args.instruction)
    out = Path(args.out)
    if out.exists() and not args.force and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"output directory {out} exists and is not empty; pass --force to replace it")
    bag_inside = _inside(args.output_bag, out) if args.output_bag else None
    if bag_inside == Path("."):
        raise InputError("--output-bag must not be the --out directory itself; name a folder inside it")
    if args.output_bag and bag_inside is None and Path(args.output_bag).exists():
        raise InputError(f"output bag {args.output_bag} exists already; choose a new path")
    if args.params_file and not Path(args.params_file).is_file():
        raise InputError(f"--params-file {args.params_file} does not exist")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    # Check the bag and topics before loading the model: a typo should fail in milliseconds.
    topics = [t.name for t in resolve_image_topics(args.bag, args.topic)]
    if not args.topic:
        print(f"a2r score-bag: scoring {topics[0]}, the bag's only image topic", file=sys.stderr)

    from a2r_core.reward import RewardModel

    model = RewardModel.load(args.checkpoint, device=args.device, dtype=args.dtype, reward_mode=args.reward_mode)
    config = buffer_config(args, int(model.num_frames))
    results = score_bag_topics(args.bag, topics, model, instructions, config,
                               batch_size=args.batch_size, progress=not args.no_progress)
    problems = list(dict.fromkeys(p for r in results for p in r.problems))
    notes: list[str] = list(results[0].report.notes)
    streams = reward_topics(topics)
    records = [{"topic": r.topic.name, **row.as_record()} for r in results for row in r.rows]
    summary = {
        "bag": str(Path(args.bag).resolve()),
        "storage": results[0].storage,
        "topic": topics[0] if len(topics) == 1 else None,
        "topics": topics,
        "msgtype": results[0].topic.msgtype if len(topics) == 1 else None,
        "instructions": instructions,
        "checkpoint": str(args.checkpoint),
        "model_id": str(model.model_id),
        "clip_buffer": asdict(config),
        "batch_size": args.batch_size,
        "frames_read": sum(r.frames_read for r in results),
        "frames_expected": (sum(r.topic.count for r in results)
                            if all(r.topic.count >= 0 for r in results) else None),
        "clips": sum(len(r.rows) for r in results) // len(instructions),
        "cameras": {r.topic.name: {
            "msgtype": r.topic.msgtype,
            "frames_read": r.frames_read,
            "frames_expected": r.topic.count if r.topic.count >= 0 else None,
            "clips": len(r.rows) // len(instructions),
            "buffer_events": r.events,
            "reward_topic": streams[r.topic.name],
        } for r in results},
        "complete": not problems,
        "problems": problems,
        "buffer_events": [e for r in results for e in r.events],
        "output_bag": str(args.output_bag) if args.output_bag else None,
        "notes": notes,
        "rows": records,
    }
    _write_outputs(out, summary, results, instructions, args, bag_inside, streams)

    bag_path = args.output_bag
    print(f"a2r score-bag: {summary['clips']} clips x {len(instructions)} instruction(s) from "
          f"{summary['frames_read']} frames of {', '.join(topics)} -> {out}"
          + (f", {bag_path}" if bag_path else ""))
    for note in summary["notes"]:
        if note not in problems:
            print(f"a2r score-bag: note: {note}", file=sys.stderr)
    if problems:
        print("a2r score-bag: error: the bag was not read completely; scored what was readable:",
              file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


def _inside(path: str, folder: Path) -> Path | None:
    """`path` relative to `folder` when it lies inside it (or is it: Path('.')), else None."""
    try:
        return Path(path).resolve().relative_to(folder.resolve())
    except ValueError:
        return None


def buffer_config(args: argparse.Namespace, model_num_frames: int) -> ClipBufferConfig:
    """The live node's ClipBuffer settings (its declared defaults, or --params-file), then the
    explicit command-line options on top.

    The node's parameters live in a2r_ros.bringup_spec (pure Python, no rclpy); where a2r_ros is
    not installed (a bare pip install of a2r_core), ClipBufferConfig's defaults, which equal the
    node's, are used and --params-file is refused.
    """
    try:
        from a2r_ros import bringup_spec
    except ImportError:
        if args.params_file:
            raise InputError("--params-file needs the a2r_ros package (build it with scripts/setup.sh "
                             "or colcon build); without it give --window/--stride instead") from None
        base = ClipBufferConfig(num_frames=model_num_frames)
    else:
        node = next(n for n in bringup_spec.NODES if n.executable == "reward_node")
        values = (bringup_spec.load_node_parameters(args.params_file, node) if args.params_file
                  else {p.name: p.default for p in node.parameters})
        base = bringup_spec.clip_buffer_config(values, model_num_frames)
    overrides = {
        "window_s": args.window,
        "window_frames": args.window_frames,
        "stride_s": args.stride,
        "stride_frames": args.stride_frames,
        "min_frames": args.min_frames,
        "num_frames": args.num_frames,
    }
    changes = {k: v for k, v in overrides.items() if v is not None}
    if changes.get("min_frames", 0) > base.max_frames or changes.get("window_frames", 0) > base.max_frames:
        changes["max_frames"] = max(changes.get("min_frames", 0), changes.get("window_frames", 0))
    return replace(base, **changes)


def _write_outputs(out: Path, summary: dict, results: Sequence, instructions: Sequence[str],
                   args: argparse.Namespace, bag_inside: Path | None, streams: dict[str, str]) -> None:
    """The output bag, then scores.csv/.json/.png, into a temp dir beside `out` renamed into place.

    An --output-bag inside `out` is written into the temp dir at its place, so it arrives with the
    scores (and `out` is still absent or empty until then); one elsewhere is written to its own
    path first. Either way its notes (topics not copied, damage) reach scores.json.
    """
    from a2r_core.bags.plot import plot_camera_scores
    from a2r_core.bags.writer import write_scored_bag

    tmp = staging_dir(out)
    try:
        if args.output_bag:
            rows = {streams[r.topic.name]: r.rows for r in results}
            target = tmp / bag_inside if bag_inside is not None else Path(args.output_bag)
            write_scored_bag(args.bag, target, rows, storage=args.output_storage, notes=summary["notes"])
        with (tmp / "scores.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            for rec in summary["rows"]:
                writer.writerow({**rec, "failure_mode_scores": ";".join(f"{x:.6g}" for x in rec["failure_mode_scores"])})
        (tmp / "scores.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
        cameras = [(r.topic.name if len(results) > 1 else "", r.rows, r.thumbnails) for r in results]
        plot_camera_scores(cameras, instructions, tmp / "scores.png",
                           title=f"{Path(summary['bag']).name} {', '.join(summary['topics'])} ({summary['model_id']})")
        if out.exists():
            if not (args.force or (out.is_dir() and not any(out.iterdir()))):
                raise InputError(f"output directory {out} appeared while scoring; not replacing it")
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        tmp.rename(out)
    except OSError as exc:
        raise InputError(f"cannot write outputs to {out}: {exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `ros2 run a2r_ros score_bag` (same options as `a2r score-bag`)."""
    from a2r_core.cli import main as cli_main

    argv = list(sys.argv[1:] if argv is None else argv)
    return cli_main([NAME, *argv])
