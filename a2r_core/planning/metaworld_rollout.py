"""`RolloutModel` over a MetaWorld task (a2r_core.sim.metaworld_env), with exact snapshot/restore.

Why more than qpos/qvel: a MetaWorld step's outcome depends on state in two places.
- MuJoCo's `mjData`: positions, velocities, actuator activations, controls (the gripper), the mocap
  body that carries the hand target, simulated time and the constraint solver's warm start (it
  changes the solver's answer in the last bits). `mj_getState(mjSTATE_INTEGRATION)` is MuJoCo's
  own list of exactly these; `mj_setState` + `mj_forward` brings every derived quantity back.
- Plain Python attributes of the MetaWorld env: the step counter (`curr_path_length`, which also
  decides truncation), the previous observation that the next observation stacks on (`_prev_obs`),
  the last stable observation, the instability flag, and per-task lazily-set values used by the
  reward (e.g. bin-picking's `_target_to_obj_init`, set on the first step of an episode). Rather
  than a per-task list (50 tasks, versions drift), the snapshot copies every scalar / None / array
  attribute of the env object; arrays that are views into `mjData` (MetaWorld keeps a few, e.g.
  `init_left_pad`) are skipped because restoring `mjData` already restores them, and replacing a
  view by a copy would change MetaWorld's own behaviour.
The test checks the result, not the list: restore, then the same actions, gives bit-identical
frames, observations and rewards, also compared with an uninterrupted run. (Restore runs
`mj_forward` for the derived quantities and then puts the saved solver warm start back: forward
overwrites it, which otherwise shifts the next step in the last bits.)

Episode limit: MetaWorld refuses to step past `max_steps` (the env's episode length). A candidate
rolled out near the end of an episode does not fail; the world stays frozen after the last allowed
step (`info["truncated"]` is True), which is what executing those actions would do to the episode.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from a2r_core.errors import InputError

# Attributes that are objects of their own (models, spaces, renderers) or constants: never copied.
_SKIP = frozenset({"model", "data", "mujoco_renderer", "renderer", "viewer", "_viewers"})


@dataclass(frozen=True)
class MetaWorldSnapshot:
    """One instant of a MetaWorld episode. Valid for any `MetaWorldRollout` of the same task and
    look (`signature`), any episode: planners' worker processes restore the main process's
    snapshots into their own copies of the env (a2r_core.planning.parallel)."""

    signature: tuple
    seed: Optional[int]          # the episode's reset seed: it also placed objects in mjModel
    physics: np.ndarray          # mj_getState(mjSTATE_INTEGRATION)
    python: dict                 # plain attributes of the MetaWorld env object
    success: bool
    dense_reward: float


def _owned_by_data(array: np.ndarray, data: Any) -> bool:
    for name in ("xipos", "xpos", "xquat", "site_xpos", "qpos", "qvel", "mocap_pos", "mocap_quat", "geom_xpos",
                 "xmat", "site_xmat", "cvel", "subtree_com"):
        field = getattr(data, name, None)
        if isinstance(field, np.ndarray) and np.shares_memory(array, field):
            return True
    return False


class MetaWorldRollout:
    """`RolloutModel` over a `MetaWorldEnv`: actions are [-1, 1]^4 (xyz hand delta, gripper).

    `step` returns {"dense_reward": MetaWorld's shaped reward (the oracle), "success": the env's
    own success flag, "truncated": whether the episode limit froze the world}. `success()` is the
    flag after the last step (False right after a reset).
    """

    def __init__(self, env: Any, instruction: Optional[str] = None) -> None:
        from a2r_core.sim.metaworld_env import MetaWorldEnv

        if not isinstance(env, MetaWorldEnv):
            raise InputError(f"MetaWorldRollout: expected a MetaWorldEnv, got {type(env).__name__}")
        self.env = env
        self.instruction = instruction or _default_instruction(env.task)
        self._success = False
        self._dense_reward = 0.0
        self._seed: Optional[int] = None

    # -- episode ---------------------------------------------------------------------------------
    def reset(self, seed: int) -> np.ndarray:
        """Start an episode (object/goal positions from `seed`); returns the observation."""
        obs = self.env.reset(seed)
        self._seed = int(seed)
        self._success, self._dense_reward = False, 0.0
        return obs

    # -- RolloutModel ----------------------------------------------------------------------------
    @property
    def action_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return -np.ones(4), np.ones(4)

    def snapshot(self) -> MetaWorldSnapshot:
        import mujoco

        inner = self.env._env
        physics = np.empty(mujoco.mj_stateSize(self.env.model, mujoco.mjtState.mjSTATE_INTEGRATION))
        mujoco.mj_getState(self.env.model, self.env.data, physics, mujoco.mjtState.mjSTATE_INTEGRATION)
        python: dict[str, Any] = {}
        for name, value in vars(inner).items():
            if name in _SKIP:
                continue
            if value is None or isinstance(value, (bool, numbers.Number, str, np.generic)):
                python[name] = value
            elif isinstance(value, np.ndarray) and not _owned_by_data(value, self.env.data):
                python[name] = value.copy()
        return MetaWorldSnapshot(self.signature, self._seed, physics, python, self._success, self._dense_reward)

    @property
    def signature(self) -> tuple:
        """What a snapshot must match to be restored here: task, look and physics state size."""
        import mujoco

        size = mujoco.mj_stateSize(self.env.model, mujoco.mjtState.mjSTATE_INTEGRATION)
        return (self.env.task, self.env.variant.name, int(size))

    def restore(self, snapshot: MetaWorldSnapshot) -> None:
        import mujoco

        if not isinstance(snapshot, MetaWorldSnapshot) or snapshot.signature != self.signature:
            raise InputError("MetaWorldRollout.restore: snapshot was not made by a rollout model of this "
                             f"task and look ({self.signature[:2]})")
        if snapshot.seed is not None and snapshot.seed != self._seed:
            # MetaWorld's reset places objects and goals in mjModel (body/site positions), which
            # the physics state does not hold: start this copy's episode from the same seed first.
            self.reset(snapshot.seed)
        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        mujoco.mj_setState(self.env.model, self.env.data, snapshot.physics, spec)
        mujoco.mj_forward(self.env.model, self.env.data)  # positions etc. derived from the state
        # mj_forward also overwrote the solver's warm start with its own answer; put the saved one
        # back so the next step starts exactly where the uninterrupted run would.
        mujoco.mj_setState(self.env.model, self.env.data, snapshot.physics, spec)
        inner = self.env._env
        current = vars(inner)
        for name, value in snapshot.python.items():
            current[name] = value.copy() if isinstance(value, np.ndarray) else value
        self._success, self._dense_reward = snapshot.success, snapshot.dense_reward

    def step(self, action: np.ndarray) -> dict:
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (4,) or not np.all(np.isfinite(a)):
            raise InputError(f"MetaWorldRollout.step: action must be 4 finite numbers, got {action!r}")
        if self.env.steps_taken >= self.env.max_steps:
            return {"dense_reward": self._dense_reward, "success": self._success, "truncated": True}
        result = self.env.step(a)
        self._success, self._dense_reward = bool(result.success), float(result.reward)
        return {"dense_reward": self._dense_reward, "success": self._success,
                "truncated": self.env.steps_taken >= self.env.max_steps}

    def render(self) -> np.ndarray:
        return self.env.render()

    def success(self) -> bool:
        return self._success

    @property
    def steps_taken(self) -> int:
        return self.env.steps_taken


def _default_instruction(task: str) -> str:
    """The task's canonical instruction from the shared instructions file (ConfigError if none)."""
    from a2r_core.data import instructions as shared

    return shared.canonical(task)


__all__ = ["MetaWorldRollout", "MetaWorldSnapshot"]
