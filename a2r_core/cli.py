"""The `a2r` command line: `a2r <command> [options]`.

Each command lives in its own module exposing

    NAME: str                                 # the sub-command, e.g. "train"
    HELP: str                                 # one line for `a2r --help`
    def add_arguments(parser) -> None         # its options
    def run(args: argparse.Namespace) -> int  # its work; returns the exit code

and is listed in COMMAND_MODULES. Modules are imported only when their command runs (so `a2r
--help` stays fast and a2r_core never imports rclpy itself); commands whose module cannot be
imported (e.g. the ROS ones on a machine without rclpy) are listed as unavailable with the reason.
Tests call `main(argv)` directly.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Sequence

from a2r_core import __version__
from a2r_core.errors import A2RError

# (command name, module path, one-line help). The help is repeated here so that `a2r --help` lists
# every command without importing torch, MuJoCo or rclpy.
COMMAND_MODULES: list[tuple[str, str, str]] = [
    ("info", "a2r_core.commands.info", "show the installation: versions, ROS 2, devices, paths"),
    ("demo", "a2r_core.commands.demo", "main job: MetaWorld bridge + reward node + planner; stream a success and a failure episode, live rewards, report"),
    ("data", "a2r_core.commands.data", "generate MetaWorld success/failure clips; benchmark rendering"),
    ("ros", "a2r_core.commands.ros", "ROS 2 bring-up without ros2cli: `a2r ros up --config config/reward.yaml`"),
    ("train", "a2r_core.commands.train", "train a reward model from a YAML config (a2r, no-failure-data, BCE-only or DVD objective)"),
    ("pybullet", "a2r_core.commands.pybullet", "PyBullet tabletop push tasks: speed benchmark, oracle-reward MPC success rate"),
    ("eval", "a2r_core.commands.eval", "reward-quality benchmark: rows trained on the same data, offline metrics, best-of-N, MPC; or --checkpoint on your own clips; table/JSON/plots"),
    ("score-bag", "a2r_core.commands.score_bag", "score a recorded rosbag2 bag (MCAP or sqlite3) offline: CSV, JSON, PNG, optional bag"),
    ("bench", "a2r_core.commands.bench", "benchmark: GEMM peak, model forward, reward node, query service, simulators, training"),
]


@dataclass
class _LazyCommand:
    name: str
    module_path: str
    help: str

    def load(self) -> ModuleType:
        return importlib.import_module(self.module_path)


def _build_parser(commands: list[_LazyCommand], selected: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="a2r",
        description="Adapt2Reward: language-conditioned video rewards for robots.",
    )
    parser.add_argument("--version", action="version", version=f"a2r {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in commands:
        cmd_parser = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        if cmd.name == selected:
            cmd.load().add_arguments(cmd_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `a2r` with `argv` (without the program name); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = [_LazyCommand(*entry) for entry in COMMAND_MODULES]
    selected = next((a for a in argv if not a.startswith("-")), None)
    known = {c.name for c in commands}
    try:
        parser = _build_parser(commands, selected if selected in known else None)
    except ImportError as exc:  # a command's optional dependency is missing
        print(f"a2r {selected}: unavailable on this installation: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    module = next(c for c in commands if c.name == args.command).load()
    try:
        return int(module.run(args) or 0)
    except A2RError as exc:
        print(f"a2r {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"a2r {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
