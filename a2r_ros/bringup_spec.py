"""What a2r runs, with which parameters: the ONE list read by the launch file and by `a2r ros up`.

`launch/reward.launch.py` (real ROS 2 installs) and `a2r ros up` (pip-only machines, no `launch`)
both build their nodes from `NODES`, their arguments from `LAUNCH_ARGUMENTS`, and read
`config/reward.yaml` (installed under share/a2r_ros) as the parameter file. The reward node declares
its parameters from `REWARD_NODE_PARAMETERS`, and a test checks that the YAML holds exactly these
names with these defaults and types, so there is one source of defaults and two mirrors guarded by
tests.

Pure Python (PyYAML only): importable by a launch file, a test, or a2r_core without rclpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from a2r_core.clip_buffer import ClipBufferConfig
from a2r_core.errors import ConfigError
from a2r_core.reward_modes import REWARD_MODES

PACKAGE = "a2r_ros"
PARAMS_FILE_RELATIVE = "config/reward.yaml"

# ROS parameter type names (rcl_interfaces/ParameterType), as used in descriptors.
STRING, DOUBLE, INTEGER, BOOL, STRING_ARRAY = "string", "double", "integer", "bool", "string_array"


@dataclass(frozen=True)
class ParamSpec:
    """One ROS parameter: its default, type, description and allowed values (descriptor)."""

    name: str
    type: str
    default: Any
    description: str
    min: float | int | None = None       # numeric range (FloatingPointRange / IntegerRange)
    max: float | int | None = None
    choices: tuple[str, ...] = ()         # allowed strings (listed in the description)
    dynamic: bool = False                 # changeable at run time; otherwise read-only

    def check(self, value: Any, where: str) -> Any:
        """Return `value` if it has this parameter's exact type and allowed range, else raise
        ConfigError naming `where`, the parameter and the problem. Strict like rcl: a double must
        be written 2.0, not 2."""
        ok = {
            STRING: lambda v: isinstance(v, str),
            DOUBLE: lambda v: isinstance(v, float),
            INTEGER: lambda v: isinstance(v, int) and not isinstance(v, bool),
            BOOL: lambda v: isinstance(v, bool),
            STRING_ARRAY: lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
        }[self.type](value)
        if not ok:
            hint = " (write it with a decimal point, e.g. 2.0)" if self.type == DOUBLE and isinstance(value, int) else ""
            raise ConfigError(f"{where}: parameter {self.name} must be a {self.type}, got {value!r}{hint}")
        if self.min is not None and value < self.min or self.max is not None and value > self.max:
            raise ConfigError(f"{where}: parameter {self.name}={value!r} is outside [{self.min}, {self.max}]")
        if self.choices and value not in self.choices:
            raise ConfigError(f"{where}: parameter {self.name}={value!r} is not one of {', '.join(self.choices)}")
        return value

    def parse(self, text: str, where: str) -> Any:
        """A value given as text (`--set name=value`, a launch argument) -> this parameter's type.

        string arrays accept a YAML list (`['open the drawer', 'close the drawer']`) or one
        plain string (a one-element list)."""
        try:
            if self.type == STRING:
                value: Any = text
            elif self.type == DOUBLE:
                value = float(text)
            elif self.type == INTEGER:
                value = int(text)
            elif self.type == BOOL:
                lowered = text.strip().lower()
                if lowered not in ("true", "false"):
                    raise ValueError("expected true or false")
                value = lowered == "true"
            else:
                stripped = text.strip()
                value = yaml.safe_load(stripped) if stripped.startswith("[") else [text]
        except (ValueError, yaml.YAMLError) as exc:
            raise ConfigError(f"{where}: cannot read {text!r} as a {self.type} for {self.name}: {exc}") from exc
        return self.check(value, where)


REWARD_NODE_PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("camera_topic", STRING, "camera/image_raw",
              "Camera image topic (relative names follow the node's namespace). With image_transport "
              "'compressed' the node subscribes to <camera_topic>/compressed."),
    ParamSpec("image_transport", STRING, "raw", "raw: sensor_msgs/Image; compressed: sensor_msgs/CompressedImage.",
              choices=("raw", "compressed")),
    ParamSpec("image_qos", STRING, "sensor_data",
              "QoS of the camera subscription: sensor_data (best effort) or reliable.",
              choices=("sensor_data", "reliable")),
    ParamSpec("image_qos_depth", INTEGER, 5, "History depth of the camera subscription.", min=1, max=1000),
    ParamSpec("instructions", STRING_ARRAY, ["open the drawer"],
              "Instructions scored on every clip (one RewardScore each). Changeable at run time; also "
              "replaced by a message on a2r/instruction.", dynamic=True),
    ParamSpec("checkpoint", STRING, "",
              "Checkpoint directory (model.safetensors + config.json) or model id given to RewardModel.load. "
              "Required."),
    ParamSpec("device", STRING, "cpu", "Torch device for inference, e.g. cpu or cuda:0."),
    ParamSpec("dtype", STRING, "float32", "Inference precision.", choices=("float32", "bfloat16")),
    ParamSpec("reward_mode", STRING, "",
              "Reward formula (docs/model.md): empty for the checkpoint's own, or cosine, contrast, grounded.",
              choices=("",) + REWARD_MODES),
    ParamSpec("rate_hz", DOUBLE, 2.0,
              "Clips scored per second of camera (header stamp) time: the clip stride is 1/rate_hz.",
              min=0.01, max=100.0),
    ParamSpec("window_s", DOUBLE, 2.0, "Clip window in seconds of stamp time (0: use window_frames only).",
              min=0.0, max=600.0),
    ParamSpec("window_frames", INTEGER, 0, "Clip window in frames (0: use window_s only).", min=0, max=100000),
    ParamSpec("num_frames", INTEGER, 0, "Frames sampled per clip (0: the model's own T).", min=0, max=1024),
    ParamSpec("min_frames", INTEGER, 2, "No reward until the window holds this many frames.", min=1, max=100000),
    ParamSpec("max_buffer_frames", INTEGER, 300, "Upper bound on buffered frames (memory).", min=1, max=100000),
    ParamSpec("reset_backwards_s", DOUBLE, 1.0,
              "A frame stamp this many seconds behind the newest clears the buffer (bag restart).",
              min=0.001, max=1.0e6),
    ParamSpec("queue_size", INTEGER, 2,
              "Clips waiting for inference; when full the OLDEST waiting clip is dropped and counted.",
              min=1, max=1000),
    ParamSpec("max_instructions", INTEGER, 8, "Most instructions accepted at once.", min=1, max=256),
    ParamSpec("max_query_clips", INTEGER, 32, "Reward-query service: most clips per request.", min=1, max=100000),
    ParamSpec("max_query_instructions", INTEGER, 16, "Reward-query service: most instructions per request.",
              min=1, max=10000),
    ParamSpec("max_query_frames", INTEGER, 64, "Reward-query service: most frames per clip.", min=1, max=100000),
    ParamSpec("max_frame_pixels", INTEGER, 1920 * 1080,
              "Reward-query service: most pixels (width*height) per frame.", min=1, max=100_000_000),
    ParamSpec("diagnostics_period_s", DOUBLE, 1.0, "Period of the /diagnostics report.", min=0.05, max=3600.0),
    ParamSpec("stale_timeout_s", DOUBLE, 1.0,
              "No camera frame for this many seconds: a WARN log and diagnostics STALE (WARN before the "
              "first frame).", min=0.05, max=3600.0),
    ParamSpec("frame_loss_warn_ratio", DOUBLE, 0.8,
              "WARN (log and diagnostics) when fewer than this fraction of the frames the header stamps "
              "imply arrived over the last 2 s of stamps (0: never).", min=0.0, max=1.0),
    ParamSpec("camera_rate_hz", DOUBLE, 0.0,
              "The camera's frame rate when known, for the frame-loss check (0: estimated from the "
              "header stamps; set it to catch a camera that skips frames regularly).", min=0.0, max=10000.0),
    ParamSpec("autostart", BOOL, True,
              "Configure (load the checkpoint) and activate (subscribe, publish, serve) at start. false: the "
              "node waits unconfigured as a managed lifecycle node, driven by `ros2 lifecycle set` "
              "(lifecycle_msgs/srv/ChangeState on <node>/change_state)."),
)


@dataclass(frozen=True)
class LaunchArgument:
    """A launch argument (`ros2 launch a2r_ros reward.launch.py NAME:=VALUE`) and what it sets.

    An empty value (the default) leaves config/reward.yaml's value in place."""

    name: str
    description: str
    parameter: str | None = None   # the node parameter it overrides; None: not a parameter
    default: str = ""


LAUNCH_ARGUMENTS: tuple[LaunchArgument, ...] = (
    LaunchArgument("camera_topic", "camera image topic", "camera_topic"),
    LaunchArgument("instruction", "instruction to score; a YAML list for several", "instructions"),
    LaunchArgument("checkpoint", "checkpoint directory or model id", "checkpoint"),
    LaunchArgument("device", "torch device (cpu, cuda:0, ...)", "device"),
    LaunchArgument("rate", "rewards per second of camera time", "rate_hz"),
    LaunchArgument("namespace", "namespace of the node(s) and their relative topics"),
    LaunchArgument("dds_profile", "Fast DDS profile of the started nodes: default (a2r's shared-memory "
                                  "profile for camera frames, unless FASTDDS_DEFAULT_PROFILES_FILE is set), "
                                  "none, or a file; empty: $A2R_DDS_PROFILE, else default"),
)


@dataclass(frozen=True)
class NodeSpec:
    """One node a2r brings up: `ros2 run PACKAGE EXECUTABLE`, or MODULE.CLASS in-process."""

    executable: str
    name: str
    module: str
    class_name: str
    parameters: tuple[ParamSpec, ...] = field(default=())
    package: str = PACKAGE


NODES: tuple[NodeSpec, ...] = (
    NodeSpec("reward_node", "reward_node", "a2r_ros.reward_node", "RewardNode", REWARD_NODE_PARAMETERS),
)


def params_file_path(relative: str = PARAMS_FILE_RELATIVE) -> Path:
    """config/reward.yaml (or another file of the package, `relative`) as installed
    (share/a2r_ros), else the source checkout's copy."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            installed = Path(get_package_share_directory(PACKAGE)) / relative
            if installed.is_file():
                return installed
        except PackageNotFoundError:
            pass
    except ImportError:
        pass
    return Path(__file__).resolve().parents[1] / relative


def nodes_for_params_file(path: str | Path) -> tuple[NodeSpec, ...]:
    """The node list a parameter file brings up: `NODES` (the reward node), unless the file has
    sections named after the simulation nodes (a2r_ros.sim_spec: a bridge, the planner), in which
    case exactly the nodes it names, in sim_spec's start order (config/sim_eval.yaml)."""
    from a2r_ros import sim_spec  # imports this module: imported here, not at the top

    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: parameter file not found") from None
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not a readable YAML parameter file: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping of node names to ros__parameters")
    named = {str(key).strip().rstrip("/").split("/")[-1] for key in document}
    reward_names = {spec.name for spec in NODES}
    if not named & ({spec.name for spec in sim_spec.SIM_NODES} - reward_names):
        return NODES
    return tuple(spec for spec in sim_spec.SIM_NODES if spec.name in named)


def _applies_to(key: str, node_name: str, namespace: str) -> bool:
    """Does a params-file section key (`/**`, `reward_node`, `/ns/reward_node`) name this node?"""
    key = key.strip()
    if key in ("/**", "**"):
        return True
    fqn = "/".join(p for p in (namespace.strip("/"), node_name) if p)
    return key.lstrip("/") in (node_name, fqn, f"**/{node_name}")


def load_node_parameters(path: str | Path, node: NodeSpec, namespace: str = "") -> dict[str, Any]:
    """The parameters a ROS 2 params file gives `node`: its declared defaults, overridden by every
    section that applies (`/**`, the node name, the namespaced name), in file order.

    Stricter than rcl on purpose: an unknown name or a wrongly typed value is a ConfigError naming
    the file, where rcl would ignore the name or fail later with a less helpful message."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: parameter file not found") from None
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not a readable YAML parameter file: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping of node names to ros__parameters")
    specs = {p.name: p for p in node.parameters}
    values = {p.name: p.default for p in node.parameters}
    for key, section in document.items():
        if not _applies_to(str(key), node.name, namespace):
            continue
        if not isinstance(section, dict) or not isinstance(section.get("ros__parameters"), dict):
            raise ConfigError(f"{path}: section {key!r} must hold a ros__parameters mapping")
        for name, value in section["ros__parameters"].items():
            if name not in specs:
                raise ConfigError(f"{path}: {node.name} has no parameter {name!r}; known: {', '.join(specs)}")
            values[name] = specs[name].check(value, str(path))
    return values


def apply_overrides(values: Mapping[str, Any], node: NodeSpec, assignments: Sequence[str],
                    where: str = "--set") -> dict[str, Any]:
    """`name=value` texts (e.g. `--set rate_hz=5`) applied on top of `values`, typed per spec."""
    specs = {p.name: p for p in node.parameters}
    out = dict(values)
    for assignment in assignments:
        name, sep, text = assignment.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigError(f"{where} {assignment!r}: expected NAME=VALUE")
        if name not in specs:
            raise ConfigError(f"{where} {assignment!r}: {node.name} has no parameter {name!r}; known: {', '.join(specs)}")
        out[name] = specs[name].parse(text, f"{where} {name}")
    return out


def launch_overrides(arguments: Mapping[str, str], node: NodeSpec) -> dict[str, Any]:
    """Launch argument values -> parameter overrides for `node`; empty values are left out."""
    specs = {p.name: p for p in node.parameters}
    out: dict[str, Any] = {}
    for arg in LAUNCH_ARGUMENTS:
        text = arguments.get(arg.name, "")
        if arg.parameter and arg.parameter in specs and text != "":
            out[arg.parameter] = specs[arg.parameter].parse(text, f"launch argument {arg.name}")
    return out


def clip_buffer_config(values: Mapping[str, Any], model_num_frames: int) -> ClipBufferConfig:
    """The ClipBuffer the reward node builds from its parameters (a params-file dict works too):
    bag scoring calls this with the same values to cut exactly the clips the live node cuts."""
    return ClipBufferConfig(
        num_frames=int(values["num_frames"]) or int(model_num_frames),
        window_s=float(values["window_s"]),
        window_frames=int(values["window_frames"]),
        stride_s=1.0 / float(values["rate_hz"]),
        min_frames=int(values["min_frames"]),
        max_frames=int(values["max_buffer_frames"]),
        reset_backwards_s=float(values["reset_backwards_s"]),
    )
