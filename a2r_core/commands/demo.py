"""`a2r demo`: the main job (see a2r_ros.demo and the README's "The main job").

It starts ROS 2 nodes, so a2r_ros (and rclpy) is imported only inside run().
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "demo"
HELP = "main job: train, start the reward node, stream a success and a failure episode, report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="output directory (default: runs/demo)")
    parser.add_argument("--train-config", type=Path, default=Path("config/train_synthetic.yaml"),
                        help="training config for the demo model")
    parser.add_argument("--node-config", type=Path, default=None,
                        help="reward node parameter YAML (default: the installed config/reward.yaml)")
    parser.add_argument("--retrain", action="store_true", help="train again even if --out holds a checkpoint")
    parser.add_argument("--epochs", type=int, default=None, help="override the training config's epochs")
    parser.add_argument("--episode-seconds", type=float, default=3.0, help="length of each streamed episode")
    parser.add_argument("--fps", type=float, default=30.0, help="camera rate of the streamed episodes")
    parser.add_argument("--rate", type=float, default=5.0, help="rewards per second the node publishes")


def run(args: argparse.Namespace) -> int:
    from a2r_ros.demo import DemoConfig
    from a2r_ros.demo import run as run_demo

    cfg = DemoConfig(out_dir=args.out, train_config=args.train_config, node_config=args.node_config,
                     retrain=args.retrain, epochs=args.epochs, fps=args.fps, episode_s=args.episode_seconds,
                     rate_hz=args.rate)
    summary = run_demo(cfg)
    return 0 if all(e["rewards_received"] > 0 for e in summary["episodes"]) else 1
