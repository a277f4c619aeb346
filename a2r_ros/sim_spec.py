"""The simulation bring-up: bridge + reward node + planner, their parameters and their one YAML.

Same mechanism as the reward bring-up (a2r_ros.bringup_spec): every parameter is a `ParamSpec`
(default, type, range, description) from which the nodes declare their ROS parameters, and
`config/sim_eval.yaml` mirrors the defaults (a test checks it). `launch/sim_eval.launch.py` and
`a2r ros up --config config/sim_eval.yaml` both read `SIM_EVAL_NODES` from here; bringup_spec picks
this node list for a parameter file whose sections name these nodes.

Pure Python (PyYAML + a2r_core only, no rclpy): importable by a launch file and by tests.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from a2r_core.planning.cem import CEMConfig
from a2r_core.sim.pybullet_tabletop import TASKS as PYBULLET_TASKS
from a2r_core.sim.pybullet_tabletop import VARIANTS as PYBULLET_VARIANTS
from a2r_ros.bringup_spec import (
    BOOL,
    DOUBLE,
    INTEGER,
    NODES,
    PACKAGE,
    STRING,
    NodeSpec,
    ParamSpec,
    REWARD_NODE_PARAMETERS,
)

SIM_EVAL_PARAMS_FILE_RELATIVE = "config/sim_eval.yaml"

# Topic / service names shared by the bridges and the planner (relative: a namespace moves them).
CAMERA_TOPIC = "camera/image_raw"
SUCCESS_TOPIC = "sim/success"
ACTION_TOPIC = "sim/action"
RESET_SERVICE = "sim/reset"
ROLLOUT_SERVICE = "sim/rollout"
# The simulator's observation after every applied action message and reset (bridges whose simulator
# has one: MetaWorld's 39 numbers). What a scripted controller (a2r_ros.scripted_operator) acts on.
OBSERVATION_TOPIC = "sim/observation"
# The planner's result per episode (JSON line). Latched: published reliable + transient-local and
# kept for the last PLANNER_RESULT_DEPTH episodes, so a subscriber that matches the planner after
# an episode ended (a short episode can end before discovery finishes) still gets it; subscribe
# with transient-local durability to receive them (a volatile subscriber sees only later ones).
PLANNER_RESULT_TOPIC = "planner/result"
PLANNER_RESULT_DEPTH = 10

BRIDGE_COMMON_PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("camera_topic", STRING, CAMERA_TOPIC, "Topic of the rendered camera frames (sensor-data QoS)."),
    ParamSpec("frame_id", STRING, "sim_camera", "header.frame_id of the published frames."),
    ParamSpec("stamp_source", STRING, "sim",
              "Header stamps: sim = simulated time (advances by the env's dt per step, jumps by "
              "episode_gap_s at every reset); node = the node's ROS clock when the frame is published.",
              choices=("sim", "node")),
    ParamSpec("episode_gap_s", DOUBLE, 10.0,
              "Simulated seconds added to the sim clock at every reset, so a reward node's clip window "
              "never spans two episodes.", min=0.0, max=1.0e6),
    ParamSpec("seed", INTEGER, 0, "Seed of the first episode; episode k uses seed + k.", min=0, max=2**31 - 1),
    ParamSpec("image_size", INTEGER, 112, "Rendered frame width and height in pixels.", min=16, max=1024),
    ParamSpec("max_steps", INTEGER, 500,
              "Simulator steps per episode; later actions are ignored (and counted) until a reset.",
              min=1, max=100000),
    ParamSpec("max_candidates", INTEGER, 64, "Rollout service: most candidates per request.", min=1, max=4096),
    ParamSpec("max_horizon", INTEGER, 64, "Rollout service: most actions per candidate.", min=1, max=4096),
    ParamSpec("max_action_repeat", INTEGER, 16, "Rollout service: largest action_repeat.", min=1, max=1000),
    ParamSpec("max_history_frames", INTEGER, 512,
              "Frames of the current episode kept for rollout context (one per applied action message).",
              min=1, max=100000),
)

METAWORLD_BRIDGE_PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("task", STRING, "reach-v3", "MetaWorld v3 task name, e.g. drawer-close-v3."),
    ParamSpec("variant", STRING, "default",
              "Environment variant from a2r_core.sim.variants (names compose with +, e.g. cam_left+table_dark)."),
    ParamSpec("domain", STRING, "robot", "robot: the Sawyer as is; alt: the alternate embodiment.",
              choices=("robot", "alt")),
) + BRIDGE_COMMON_PARAMETERS

PYBULLET_BRIDGE_PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("task", STRING, "push_left", "PyBullet tabletop task.", choices=tuple(PYBULLET_TASKS)),
    ParamSpec("variant", STRING, "default", "Robustness setting of the tabletop world.",
              choices=tuple(PYBULLET_VARIANTS)),
) + tuple(dataclasses.replace(p, default=100) if p.name == "max_steps" else p for p in BRIDGE_COMMON_PARAMETERS)

_CEM = CEMConfig()
_CEM_DESCRIPTIONS = {
    "horizon": ("Planning actions per candidate.", 1, 256),
    "samples": ("Candidates per CEM iteration.", 1, 4096),
    "iterations": ("CEM refits per planning step.", 1, 100),
    "elites": ("Best candidates the sampling Gaussian is refit to (<= samples).", 1, 4096),
    "action_repeat": ("Simulator steps per planning action.", 1, 1000),
    "execute_steps": ("Planning actions executed before re-planning (<= horizon).", 1, 256),
}

PLANNER_NODE_PARAMETERS: tuple[ParamSpec, ...] = tuple(
    ParamSpec(name, INTEGER, getattr(_CEM, name), text, min=lo, max=hi)
    for name, (text, lo, hi) in _CEM_DESCRIPTIONS.items()
) + (
    ParamSpec("init_std", DOUBLE, float(_CEM.init_std),
              "Sampling std as a fraction of each action dimension's half range.", min=1e-6, max=2.0),
    ParamSpec("min_std", DOUBLE, float(_CEM.min_std), "Floor of the sampling std (same unit as init_std).",
              min=0.0, max=2.0),
    ParamSpec("momentum", DOUBLE, float(_CEM.momentum), "Weight of the old mean in a refit.", min=0.0, max=0.999),
    ParamSpec("include_history", BOOL, bool(_CEM.include_history),
              "Prepend the episode's executed frames to every candidate clip (else only the current frame)."),
    ParamSpec("max_clip_frames", INTEGER, int(_CEM.max_clip_frames or 0),
              "Thin candidate clips to at most this many frames (0: no limit).", min=0, max=4096),
    ParamSpec("seed", INTEGER, int(_CEM.seed), "Seed of the planner's sampling.", min=0, max=2**31 - 1),
    ParamSpec("instruction", STRING, "reach the goal position",
              "Instruction the candidates are scored against (reward_source service)."),
    ParamSpec("reward_source", STRING, "service",
              "service: score rendered clips through the reward node's query service; oracle: the "
              "simulator's dense reward after each candidate (the planner's upper bound, no rendering).",
              choices=("service", "oracle")),
    ParamSpec("max_steps", INTEGER, 50, "Planning actions executed per episode.", min=1, max=100000),
    ParamSpec("episodes", INTEGER, 1, "Episodes to run (0: until shutdown).", min=0, max=1000000),
    ParamSpec("reset_each_episode", BOOL, True, "Reset the simulator (sim/reset) before each episode."),
    ParamSpec("stop_on_success", BOOL, True, "End an episode as soon as the simulator reports success."),
    ParamSpec("reward_batch_size", INTEGER, 32,
              "Clips per reward query (keep <= the reward node's max_query_clips).", min=1, max=4096),
    ParamSpec("service_timeout_s", DOUBLE, 120.0, "How long to wait for a service to appear or answer.",
              min=0.1, max=3600.0),
    ParamSpec("rollout_service", STRING, ROLLOUT_SERVICE, "The bridge's rollout service."),
    ParamSpec("reset_service", STRING, RESET_SERVICE, "The bridge's reset service."),
    ParamSpec("action_topic", STRING, ACTION_TOPIC, "Where executed actions are sent."),
    ParamSpec("reward_service", STRING, "a2r/query_reward", "The reward node's query service."),
)

# The reward node in this bring-up scores candidate clips through its service; these are the
# values config/sim_eval.yaml gives it (the rest keep config/reward.yaml's defaults). The bridge
# renders a frame per executed action and planning pauses them for seconds: not a stale camera.
# Nor is it a camera at a rate: one frame per action message, whatever the number of simulator
# steps in it (the planner sends action_repeat x execute_steps), so the stamps' gaps are multiples
# of one step and the frame-loss check would read the steps without a frame as lost frames.
SIM_EVAL_REWARD_OVERRIDES = {"checkpoint": "", "instructions": ["reach the goal position"], "max_query_clips": 32,
                             "stale_timeout_s": 600.0, "frame_loss_warn_ratio": 0.0}

METAWORLD_BRIDGE = NodeSpec("metaworld_bridge", "metaworld_bridge", "a2r_ros.metaworld_bridge",
                            "MetaWorldBridge", METAWORLD_BRIDGE_PARAMETERS)
PYBULLET_BRIDGE = NodeSpec("pybullet_bridge", "pybullet_bridge", "a2r_ros.pybullet_bridge",
                           "PybulletBridge", PYBULLET_BRIDGE_PARAMETERS)
PLANNER_NODE = NodeSpec("planner_node", "planner_node", "a2r_ros.planner_node", "PlannerNode",
                        PLANNER_NODE_PARAMETERS)
REWARD_NODE = NODES[0]  # the reward bring-up's own node spec (reward_node, REWARD_NODE_PARAMETERS)
assert REWARD_NODE.name == "reward_node" and REWARD_NODE.parameters == REWARD_NODE_PARAMETERS

# Started by launch/sim_eval.launch.py and `a2r ros up --config config/sim_eval.yaml`, in this order
# (the bridge and the reward node offer the services the planner waits for).
SIM_EVAL_NODES: tuple[NodeSpec, ...] = (METAWORLD_BRIDGE, REWARD_NODE, PLANNER_NODE)
# Every node a parameter file may name (a file naming pybullet_bridge gets it instead of MetaWorld's).
SIM_NODES: tuple[NodeSpec, ...] = (METAWORLD_BRIDGE, PYBULLET_BRIDGE, REWARD_NODE, PLANNER_NODE)


@dataclass(frozen=True)
class SimLaunchArgument:
    """A launch argument of sim_eval.launch.py and the (node, parameter) pairs it sets; an empty
    value (the default) keeps config/sim_eval.yaml's values."""

    name: str
    description: str
    targets: tuple[tuple[str, str], ...] = ()   # (node name, parameter name); () = not a parameter
    default: str = ""


SIM_EVAL_LAUNCH_ARGUMENTS: tuple[SimLaunchArgument, ...] = (
    SimLaunchArgument("checkpoint", "reward checkpoint directory or model id", (("reward_node", "checkpoint"),)),
    SimLaunchArgument("task", "MetaWorld task of the bridge, e.g. drawer-close-v3", (("metaworld_bridge", "task"),)),
    SimLaunchArgument("variant", "environment variant of the bridge", (("metaworld_bridge", "variant"),)),
    SimLaunchArgument("instruction", "instruction the planner optimises (and the reward node scores)",
                      (("planner_node", "instruction"), ("reward_node", "instructions"))),
    SimLaunchArgument("reward_source", "service (reward node) or oracle (dense reward)",
                      (("planner_node", "reward_source"),)),
    SimLaunchArgument("namespace", "namespace of the nodes and their relative topics"),
    SimLaunchArgument("dds_profile", "Fast DDS profile of the started nodes: default (a2r's shared-memory "
                                     "profile, unless FASTDDS_DEFAULT_PROFILES_FILE is set), none, or a file; "
                                     "empty: $A2R_DDS_PROFILE, else default"),
)


def sim_eval_overrides(arguments: Mapping[str, str], node: NodeSpec) -> dict[str, Any]:
    """Launch argument values -> typed parameter overrides for `node`; empty values are left out."""
    specs = {p.name: p for p in node.parameters}
    out: dict[str, Any] = {}
    for arg in SIM_EVAL_LAUNCH_ARGUMENTS:
        text = arguments.get(arg.name, "")
        for node_name, parameter in arg.targets:
            if node_name == node.name and text != "":
                out[parameter] = specs[parameter].parse(text, f"launch argument {arg.name}")
    return out


def sim_eval_params_file_path() -> Path:
    """config/sim_eval.yaml as installed (share/a2r_ros), else the source checkout's copy."""
    from a2r_ros.bringup_spec import params_file_path

    return params_file_path(SIM_EVAL_PARAMS_FILE_RELATIVE)


__all__ = [
    "ACTION_TOPIC", "BRIDGE_COMMON_PARAMETERS", "CAMERA_TOPIC", "METAWORLD_BRIDGE", "METAWORLD_BRIDGE_PARAMETERS",
    "OBSERVATION_TOPIC", "PACKAGE", "PLANNER_NODE", "PLANNER_NODE_PARAMETERS", "PYBULLET_BRIDGE", "PYBULLET_BRIDGE_PARAMETERS",
    "RESET_SERVICE", "ROLLOUT_SERVICE", "SIM_EVAL_LAUNCH_ARGUMENTS", "SIM_EVAL_NODES", "SIM_NODES", "SUCCESS_TOPIC",
    "SimLaunchArgument", "sim_eval_overrides", "sim_eval_params_file_path",
]
