"""`a2r demo`: the main job (see a2r_ros.demo and the README's "The main job").

It starts ROS 2 nodes, so a2r_ros (and rclpy) is imported only inside run().
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "demo"
HELP = "main job: MetaWorld bridge + reward node + planner; stream a success and a failure episode, live rewards, report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="output directory (default: runs/demo)")
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/a2r-small-metaworld"),
                        help="reward checkpoint directory (default: checkpoints/a2r-small-metaworld)")
    parser.add_argument("--task", default="drawer-close-v3",
                        help="MetaWorld task; must be one the checkpoint was trained on (default drawer-close-v3)")
    parser.add_argument("--instruction", default=None,
                        help="instruction to score (default: the task's canonical instruction, e.g. \"close the drawer\")")
    parser.add_argument("--failure-source", default="early_stop",
                        help="scripted failure source of the failure episode (default early_stop): noise, perturb, "
                             "early_stop, wrong_target, other_expert, random")
    parser.add_argument("--seed", type=int, default=0, help="bridge and policy seed (default 0)")
    parser.add_argument("--episode-steps", type=int, default=150,
                        help="simulator steps of each scripted episode, at most (default 150)")
    parser.add_argument("--success-tail", type=int, default=20,
                        help="the expert episode stops this many steps after success (default 20)")
    parser.add_argument("--fast", action="store_true",
                        help="do not pace the scripted episodes to the simulator's real time")
    parser.add_argument("--rate", type=float, default=8.0, help="rewards per camera second (default 8)")
    parser.add_argument("--node-config", type=Path, default=None,
                        help="parameter YAML of the bring-up (default: the installed config/sim_eval.yaml)")
    parser.add_argument("--no-planner", action="store_true", help="skip the planner episode")
    parser.add_argument("--planner-reward", choices=("service", "oracle"), default="service",
                        help="planner's reward: service (the reward node, default) or oracle (the simulator's dense "
                             "reward: the planner's upper bound)")
    parser.add_argument("--planner-steps", type=int, default=42,
                        help="planning actions the planner executes at most (default 42, as a2r eval's MPC)")
    parser.add_argument("--planner-horizon", type=int, default=None, help="CEM horizon (default: config/sim_eval.yaml's)")
    parser.add_argument("--planner-samples", type=int, default=None,
                        help="CEM candidates per iteration (default: config/sim_eval.yaml's)")
    parser.add_argument("--planner-iterations", type=int, default=None,
                        help="CEM iterations per plan (default: config/sim_eval.yaml's)")
    parser.add_argument("--planner-repeat", type=int, default=None,
                        help="simulator steps per planning action (default: config/sim_eval.yaml's)")

def run(args: argparse.Namespace) -> int:
    from a2r_ros.demo import DemoConfig
    from a2r_ros.demo import run as run_demo

    cfg = DemoConfig(out_dir=args.out, checkpoint=args.checkpoint, task=args.task, instruction=args.instruction,
                     failure_source=args.failure_source, seed=args.seed, episode_steps=args.episode_steps,
                     success_tail=args.success_tail, realtime=not args.fast, rate_hz=args.rate,
                     node_config=args.node_config, planner=not args.no_planner, planner_reward=args.planner_reward,
                     planner_steps=args.planner_steps,
                     planner_horizon=args.planner_horizon, planner_samples=args.planner_samples,
                     planner_iterations=args.planner_iterations, planner_action_repeat=args.planner_repeat)
    summary = run_demo(cfg)
    scripted = summary["episodes"][:2]
    ok = (all(e["rewards_received"] > 0 for e in scripted) and summary["failure_episode_failed"]
          and summary["success_episode_succeeded"])
    planner = summary.get("planner")
    if planner is not None and planner["result"] is None:
        ok = False  # the planner did not finish its episode (its error is printed and in report.json)
    return 0 if ok else 1
