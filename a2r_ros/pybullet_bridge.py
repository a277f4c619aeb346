"""`ros2 run a2r_ros pybullet_bridge --ros-args -p task:=push_left -p variant:=viewpoint`

A PyBullet tabletop push task (a2r_core.sim.pybullet_tabletop: a Franka Panda, one block,
viewpoint and distractor settings) behind the same simulator bridge contract as the MetaWorld
bridge (a2r_ros.sim_bridge): actions are end-effector (dx, dy, dz) in [-1, 1]^3.
"""

from __future__ import annotations

from typing import Any, Sequence

from a2r_ros import sim_spec
from a2r_ros.node_main import run_node
from a2r_ros.sim_bridge import SimBridgeNode, Simulation


class PybulletBridge(SimBridgeNode):
    """The PyBullet bridge node; parameters: a2r_ros.sim_spec.PYBULLET_BRIDGE_PARAMETERS."""

    NAME = "pybullet_bridge"
    PARAMETERS = sim_spec.PYBULLET_BRIDGE_PARAMETERS

    def make_simulation(self, p: dict[str, Any]) -> Simulation:
        from a2r_core.planning.rollout import PybulletRollout
        from a2r_core.sim.pybullet_tabletop import TabletopConfig, TabletopEnv

        config = TabletopConfig(task=p["task"], variant=p["variant"], image_size=int(p["image_size"]))
        env = TabletopEnv(config, seed=int(p["seed"]))
        return Simulation(model=PybulletRollout(env), reset=env.reset, dt=config.time_step_s * config.substeps,
                          close=env.close, description=f"PyBullet {config.task} (variant {config.variant})")


def main(argv: Sequence[str] | None = None) -> int:
    return run_node(PybulletBridge, PybulletBridge.NAME, argv)


if __name__ == "__main__":
    raise SystemExit(main())
