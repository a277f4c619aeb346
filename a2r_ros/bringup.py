"""`a2r ros up`: the launch file's nodes, each in its own process, for machines without `ros2 launch`.

The PyPI ROS wheels have no `launch`/`ros2cli`. This starts the nodes listed in
`a2r_ros.bringup_spec.NODES` (the list `launch/reward.launch.py` reads too; for a file naming the
simulation nodes, `a2r_ros.sim_spec.SIM_EVAL_NODES`, see `nodes_for_params_file`) with the parameters
from the same YAML file, plus `--set name=value` overrides typed per parameter, each node in its own
process running the node's own `main` (as `ros2 launch` does; a2r_ros.supervisor says why), until
Ctrl-C / SIGTERM. When a required node exits (the reward node, a bridge), the others are stopped
and `up` returns 1 with the reason, like the launch files. The nodes use a2r's Fast DDS profile for
camera frames (a2r_ros.dds_profile) unless the user has set one.

No rclpy import here: this process only starts and watches the node processes.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

from a2r_core.errors import ConfigError
from a2r_ros import bringup_spec, dds_profile
from a2r_ros.supervisor import (StopSignals, Supervisor, child_environment, node_command,
                                write_params_file)

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


def log_line(prefix: str = "a2r ros up") -> Callable[[str], None]:
    """Supervisor messages go to stderr, beside the nodes' own log lines."""
    def log(text: str) -> None:
        print(f"[{prefix}] {text}", file=sys.stderr, flush=True)
    return log


def up(config: str | Path, sets: Sequence[str] = (), namespace: str = "",
       ros_args: Sequence[str] = (), dds_profile_choice: str = "") -> int:
    """Start every node in its own process and wait. Returns the exit code: 0 after Ctrl-C /
    SIGTERM (any number of them) once the nodes have stopped; 1 when a required node exits (it
    could not start, or died): the others are stopped and the reason is printed.

    `dds_profile_choice`: the Fast DDS profile of the nodes (a2r_ros.dds_profile: "" = the
    A2R_DDS_PROFILE variable, else a2r's shared-memory profile unless one is set already; "none";
    or a file)."""
    plan = node_parameters(config, sets, namespace)  # ConfigError before any process starts
    env = child_environment(dds_profile.profile_environment(dds_profile_choice))
    log = log_line()
    signals = StopSignals().install()
    supervisor = Supervisor(env, log)
    reason = None
    with tempfile.TemporaryDirectory(prefix="a2r-ros-up-") as tmp:
        try:
            for spec, values in plan:
                if signals():
                    break
                params = write_params_file(Path(tmp) / f"{spec.name}.yaml", values)
                supervisor.start(spec.name, node_command(spec.module, spec.name, params, namespace, ros_args))
            started = ", ".join(f"{name} (pid {p.pid})" for name, p in supervisor.processes.items())
            log(f"running {started} with parameters from {config}; DDS profile: "
                f"{dds_profile.user_profile(env) or 'Fast DDS defaults'}; Ctrl-C stops them")
            reason = supervisor.wait(until=signals)
            if reason is not None:
                log(f"{reason}; stopping {', '.join(supervisor.running()) or 'the bring-up'}")
        finally:
            # Inside the temporary directory: a node still starting reads its parameter file.
            killed = supervisor.stop()
            signals.restore()
    if reason is not None:
        log(f"ended with exit status 1: {reason}")
        return 1
    return 1 if killed else 0
