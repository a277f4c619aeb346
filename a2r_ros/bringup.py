"""`a2r ros up`: the launch file's nodes, in one process, for machines without `ros2 launch`.

The PyPI ROS wheels have no `launch`/`ros2cli`. This starts the nodes listed in
`a2r_ros.bringup_spec.NODES` (the list `launch/reward.launch.py` reads too; for a file naming the
simulation nodes, `a2r_ros.sim_spec.SIM_EVAL_NODES`, see `nodes_for_params_file`) with the parameters
from the same YAML file, plus `--set name=value` overrides typed per parameter, on one
MultiThreadedExecutor, until Ctrl-C / SIGTERM. The process uses a2r's Fast DDS profile for camera
frames (a2r_ros.dds_profile) unless the user has set one.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Sequence

import rclpy
from rclpy.context import Context
from rclpy.node import Node
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.parameter import Parameter

from a2r_core.errors import A2RError, ConfigError
from a2r_ros import bringup_spec, dds_profile
from a2r_ros.node_main import ExitSignals


SHUTDOWN_TIMEOUT_S = 5.0


def node_parameters(config: str | Path, sets: Sequence[str] = (), namespace: str = "") -> list[tuple[bringup_spec.NodeSpec, dict[str, Any]]]:
    """Each node of the bring-up with its final parameter values (file, then --set)."""
    plan = bringup_spec.nodes_for_params_file(config)
    per_node = _assign_sets(plan, sets)
    out = []
    for spec in plan:
        values = bringup_spec.load_node_parameters(config, spec, namespace)
        values = bringup_spec.apply_overrides(values, spec, per_node[spec.name])
        out.append((spec, values))
    return out


def _assign_sets(plan: Sequence[bringup_spec.NodeSpec], sets: Sequence[str]) -> dict[str, list[str]]:
    """Which node each `--set` is for. One node: all of them. Several (the sim bring-up):
    `NODE.NAME=VALUE` goes to NODE; a plain `NAME=VALUE` to every node that has NAME."""
    if len(plan) == 1:
        return {plan[0].name: list(sets)}
    out: dict[str, list[str]] = {spec.name: [] for spec in plan}
    for assignment in sets:
        name, sep, value = assignment.partition("=")
        node, dot, param = name.strip().partition(".")
        if not sep:
            raise ConfigError(f"--set {assignment!r}: expected NAME=VALUE or NODE.NAME=VALUE")
        if dot and node in out:
            out[node].append(f"{param}={value}")
            continue
        targets = [spec.name for spec in plan if any(p.name == name.strip() for p in spec.parameters)]
        if not targets:
            raise ConfigError(f"--set {assignment!r}: no node of this bring-up ({', '.join(out)}) has a "
                              f"parameter {name.strip()!r}")
        for target in targets:
            out[target].append(assignment)
    return out


def make_node(spec: bringup_spec.NodeSpec, values: dict[str, Any], context: Context, namespace: str = "") -> Node:
    """Construct the node `spec` names with `values` as its parameter overrides (what `ros2 launch`
    does for one node of the launch file): `a2r ros up` and `a2r demo` start nodes this way."""
    cls = getattr(importlib.import_module(spec.module), spec.class_name)
    overrides = [Parameter(name, value=value) for name, value in values.items()]
    return cls(spec.name, context=context, namespace=namespace or None, parameter_overrides=overrides)


def up(config: str | Path, sets: Sequence[str] = (), namespace: str = "",
       ros_args: Sequence[str] = (), dds_profile_choice: str = "") -> int:
    """Start every node and spin until interrupted. Returns the exit code: 0 after a clean
    shutdown, 1 when a node cannot start (the reason is logged, no traceback).

    `dds_profile_choice`: the Fast DDS profile of this process (a2r_ros.dds_profile: "" = the
    A2R_DDS_PROFILE variable, else a2r's shared-memory profile unless one is set already; "none";
    or a file). Ctrl-C and SIGTERM, any number of them, end it cleanly (node_main.ExitSignals)."""
    plan = node_parameters(config, sets, namespace)  # ConfigError before any ROS start-up
    profile = dds_profile.apply(dds_profile_choice)  # before rclpy starts Fast DDS
    signals = ExitSignals().install()
    context = Context()
    nodes = []
    logger = rclpy.logging.get_logger("a2r.ros.up")
    executor = None
    try:
        rclpy.init(args=["a2r", *(["--ros-args", *ros_args] if ros_args else [])], context=context)
        executor = MultiThreadedExecutor(context=context)
        logger.info(f"DDS profile: {profile or 'Fast DDS defaults'}")
        for spec, values in plan:
            try:
                node = make_node(spec, values, context, namespace)
            except A2RError as exc:
                logger.fatal(f"cannot start {spec.name}: {exc}")
                return 1
            nodes.append(node)
            executor.add_node(node)
        logger.info(f"running {', '.join(n.get_fully_qualified_name() for n in nodes)} "
                    f"with parameters from {config}")
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        signals.shutting_down()
        if executor is not None:
            # Bounded: a callback still blocked when the context went down must not hang the exit.
            executor.shutdown(timeout_sec=SHUTDOWN_TIMEOUT_S)
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=context)
        signals.finish()  # after Ctrl-C the process exits next: a late one must not make it -2
    return 0
