"""`ros2 run a2r_ros metaworld_bridge --ros-args -p task:=drawer-close-v3 -p variant:=cam_left`

A MetaWorld v3 task (any environment variant of a2r_core.sim.variants, robot or alternate-embodiment
domain) behind the simulator bridge contract of a2r_ros.sim_bridge: rendered frames on
camera/image_raw, success on sim/success, actions ([-1, 1]^4: hand xyz delta, gripper) on
sim/action, sim/reset, the sim/rollout service an MPC planner rolls its candidates through
(exact snapshot/restore: a2r_core.planning.metaworld_rollout), and MetaWorld's 39-number observation
on sim/observation (what MetaWorld's scripted experts act on; a2r_ros.scripted_operator).
"""

from __future__ import annotations

from typing import Any, Sequence

from a2r_ros import sim_spec
from a2r_ros.node_main import run_node
from a2r_ros.sim_bridge import SimBridgeNode, Simulation


class MetaWorldBridge(SimBridgeNode):
    """The MetaWorld bridge node; parameters: a2r_ros.sim_spec.METAWORLD_BRIDGE_PARAMETERS."""

    NAME = "metaworld_bridge"
    PARAMETERS = sim_spec.METAWORLD_BRIDGE_PARAMETERS

    def make_simulation(self, p: dict[str, Any]) -> Simulation:
        from a2r_core.planning.metaworld_rollout import MetaWorldRollout
        from a2r_core.sim.metaworld_env import MetaWorldEnv, RenderConfig, check_task
        from a2r_core.sim.variants import for_domain, get_variant

        task = check_task(p["task"])  # ConfigError naming close task names
        variant = for_domain(p["domain"], get_variant(p["variant"]))
        size = int(p["image_size"])
        env = MetaWorldEnv(task, render=RenderConfig(width=size, height=size), variant=variant,
                           max_steps=int(p["max_steps"]))
        model = MetaWorldRollout(env)
        return Simulation(model=model, reset=model.reset, dt=env.dt, close=env.close,
                          description=f"MetaWorld {task} (variant {variant.name}, domain {p['domain']})",
                          observe=env.observation)


def main(argv: Sequence[str] | None = None) -> int:
    return run_node(MetaWorldBridge, MetaWorldBridge.NAME, argv)


if __name__ == "__main__":
    raise SystemExit(main())
