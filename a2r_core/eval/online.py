"""Online measures of a reward: best-of-N selection and MPC success rate (PyBullet, MetaWorld).

- Best-of-N: for an instruction and a start state, N candidate rollouts (the task's expert, the
  experts of the other tasks, a noisy expert, an early-stopping expert, a random policy: one
  candidate group of a2r_core.eval.clips.pybullet_clips / metaworld_candidate_groups) are scored by
  the reward; the selection succeeds if the top-scored rollout succeeded (env's success detector).
- MPC: CEM over action sequences with the simulator's state restore as dynamics
  (a2r_core.planning), the row's reward scoring the rendered candidate futures (the oracle row
  plans on the env's dense reward instead, the planner's upper bound); success is the env's
  detector after at most `max_steps` executed planning actions.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Sequence

import numpy as np

from a2r_core.errors import ConfigError
from a2r_core.eval import metrics
from a2r_core.eval.clips import EvalClip
from a2r_core.eval.rows import RowScorer, RowSpec, clip_reward_fn


def candidate_groups(clips: Sequence[EvalClip]) -> np.ndarray:
    """Indices [G, N] of the clips of each candidate group (clips with an empty group are left out).

    Groups must all have the same size (they do when every start state ran the same policies);
    returns an empty [0, 0] array otherwise or when there are none."""
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(clips):
        if c.group:
            groups.setdefault(c.group, []).append(i)
    if not groups or len({len(v) for v in groups.values()}) != 1:
        return np.zeros((0, 0), dtype=np.int64)
    return np.array(list(groups.values()), dtype=np.int64)


def best_of_n(final_scores: np.ndarray, clips: Sequence[EvalClip]) -> dict:
    """Best-of-N success rate given each clip's score for its own (the group's) instruction."""
    g = candidate_groups(clips)
    if g.size == 0:
        return {"best_of_n": float("nan"), "n_groups": 0, "group_size": 0}
    labels = np.array([c.success for c in clips])
    return {"best_of_n": metrics.best_of_n_success(np.asarray(final_scores)[g], labels[g]),
            "n_groups": int(g.shape[0]), "group_size": int(g.shape[1])}


@contextmanager
def _rollout_model(sim: str, task: str, variant: str, image_size: int, seed: int, env_steps: int):
    """A RolloutModel at the start state `seed` of `task` in simulator `sim` ("pybullet" |
    "metaworld"), closed afterwards."""
    from a2r_core.planning import PybulletRollout

    if sim == "pybullet":
        from a2r_core.sim.pybullet_tabletop import TabletopConfig, TabletopEnv

        with TabletopEnv(TabletopConfig(task=task, variant=variant, image_size=image_size), seed=seed) as env:
            yield PybulletRollout(env)
    elif sim == "metaworld":
        from a2r_core.planning.metaworld_rollout import MetaWorldRollout
        from a2r_core.sim.metaworld_env import MetaWorldEnv, RenderConfig
        from a2r_core.sim.variants import get_variant

        # The episode limit must not freeze the world before the planner's last candidate ends.
        with MetaWorldEnv(task, RenderConfig(width=image_size, height=image_size), get_variant(variant),
                          max_steps=max(500, env_steps)) as env:
            model = MetaWorldRollout(env)
            model.reset(seed)
            yield model
    else:
        raise ConfigError(f"mpc: no rollout model for simulator {sim!r} (pybullet, metaworld)")


def mpc_success(scorer: RowScorer, spec: RowSpec, tasks: Sequence[str], seeds: Sequence[int], variant: str,
                image_size: int, max_steps: int, cem: dict, sim: str = "pybullet") -> dict:
    """MPC success rate of one row over tasks x start seeds in simulator `sim` (see the module
    docstring)."""
    from a2r_core.planning import CEMConfig, CEMPlanner, ClipRewardScorer, InfoRewardScorer, run_mpc

    episodes = []
    t0 = time.perf_counter()
    for task in tasks:
        for seed in seeds:
            config = CEMConfig(**{"seed": int(seed), **cem})
            env_steps = (max_steps + config.horizon + 1) * config.action_repeat
            with _rollout_model(sim, task, variant, image_size, int(seed), env_steps) as model:
                rollout_scorer = InfoRewardScorer() if spec.kind == "oracle" else \
                    ClipRewardScorer(clip_reward_fn(scorer), model.instruction)
                planner = CEMPlanner(config, model, rollout_scorer)
                res = run_mpc(model, planner, max_steps=max_steps)
                episodes.append({"task": task, "seed": int(seed), "success": bool(res.success),
                                 "success_step": res.success_step, "rollouts": res.rollouts,
                                 "seconds": round(res.seconds, 3)})
    return {"success_rate": float(np.mean([e["success"] for e in episodes])), "episodes": episodes,
            "sim": sim, "variant": variant, "seconds": round(time.perf_counter() - t0, 3)}
