"""`a2r ros up --config config/reward.yaml [--set name=value ...]`: the reward node(s) without ros2cli.

What `ros2 launch a2r_ros reward.launch.py` starts, for pip-only machines: the same node list and
parameter file (see a2r_ros.bringup_spec), each node in its own process, watched: a required node
that exits ends the bring-up with status 1 and its reason (a2r_ros.supervisor). a2r_ros is imported
only inside run(): a2r_core never imports rclpy at import time.
"""

from __future__ import annotations

import argparse

NAME = "ros"
HELP = "ROS 2 bring-up without ros2cli: `a2r ros up --config config/reward.yaml`"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="ros_command", metavar="SUBCOMMAND", required=True)
    up = sub.add_parser("up", help="start the reward node(s) with a parameter file, until Ctrl-C",
                        description="Start the nodes of the launch file (launch/reward.launch.py, or the ones "
                                    "--config names), each in its own process, with the parameters of --config. "
                                    "Exit status 0 after Ctrl-C; 1 when a required node (reward node, bridge) "
                                    "exits, with its reason.")
    up.add_argument("--config", default=None,
                    help="ROS 2 parameter YAML (default: the installed share/a2r_ros/config/reward.yaml)")
    up.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                    help="override one parameter, typed as declared, e.g. --set rate_hz=5.0 "
                         "--set instructions=\"['open the drawer', 'close the drawer']\" (repeatable)")
    up.add_argument("--namespace", default="", help="namespace of the nodes and their relative topics")
    up.add_argument("--dds-profile", default="", metavar="default|none|FILE",
                    help="Fast DDS profile of the node processes: default = a2r's shared-memory profile for "
                         "camera frames (config/fastdds_shm.xml) unless FASTDDS_DEFAULT_PROFILES_FILE is "
                         "set; none = Fast DDS's defaults; or a profile file (default: $A2R_DDS_PROFILE, "
                         "else default)")
    up.add_argument("--ros-args", dest="ros_args", nargs=argparse.REMAINDER, default=[],
                    help="everything after this goes to ROS as --ros-args (e.g. --log-level debug)")
    _add_monitor(sub)


def _add_monitor(sub: argparse._SubParsersAction) -> None:
    """`a2r ros monitor`: `ros2 run a2r_ros reward_monitor` for pip-only machines, where the
    `ros2` command does not exist and the installed executable is not on PATH."""
    mon = sub.add_parser("monitor", help="print the rewards a reward node publishes (ros2 topic echo, for pip-only machines)",
                         description="Print one line per RewardScore message on --topic, until Ctrl-C or --count.")
    mon.add_argument("--topic", default="a2r/reward", help="RewardScore topic (default a2r/reward)")
    mon.add_argument("--count", type=int, default=0, help="exit after this many messages (0: until Ctrl-C)")
    mon.add_argument("--namespace", default="", help="namespace a relative --topic is resolved in")


def run(args: argparse.Namespace) -> int:
    if args.ros_command == "monitor":
        return _monitor(args)
    from a2r_ros import bringup, bringup_spec

    config = args.config or str(bringup_spec.params_file_path())
    return bringup.up(config, sets=args.sets, namespace=args.namespace, ros_args=args.ros_args,
                      dds_profile_choice=args.dds_profile)


def _monitor(args: argparse.Namespace) -> int:
    from a2r_ros import reward_monitor

    ros_args = ["--ros-args", "-r", f"__ns:=/{args.namespace.strip('/')}"] if args.namespace.strip("/") else []
    return reward_monitor.main(["reward_monitor", "--topic", args.topic, "--count", str(args.count), *ros_args])
