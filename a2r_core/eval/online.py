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
def rollout_model(sim: str, task: str, variant: str, image_size: int, seed: int, env_steps: int):
    """A RolloutModel at the start state `seed` of `task` in simulator `sim` ("pybullet" |
    "metaworld"), closed afterwards."""
    from a2r_core.planning import PybulletRollout

    if sim == "pybullet":
        from a2r_core.sim.pybullet_tabletop import TabletopConfig, TabletopEnv

        with TabletopEnv(TabletopConfig(task=task, variant=variant, image_size=image_size), seed=seed) as env:
            yield PybulletRollout(env)
    elif sim == "metaworld":
        from a2r_core.planning.parallel import MetaWorldModelFactory

        # The episode limit must not freeze the world before the planner's last candidate ends.
        model = MetaWorldModelFactory(task, variant, image_size, max(500, env_steps), seed)()
        try:
            yield model
        finally:
            model.env.close()
    else:
        raise ConfigError(f"mpc: no rollout model for simulator {sim!r} (pybullet, metaworld)")


@contextmanager
def rollout_pool(sim: str, task: str, variant: str, image_size: int, env_steps: int, workers: int):
    """Worker processes for the candidates of `task` (MetaWorld with workers > 1), else None.
    One pool serves every start seed of a task: a snapshot carries the whole episode state."""
    if sim != "metaworld" or workers <= 1:
        yield None
        return
    from a2r_core.planning.parallel import MetaWorldModelFactory, RolloutPool

    with RolloutPool(MetaWorldModelFactory(task, variant, image_size, max(500, env_steps)), workers) as pool:
        yield pool


def episode_env_steps(max_steps: int, cem: dict) -> int:
    """Simulator steps an MPC episode may need: its executed actions plus the last plan's horizon
    (the episode limit must not freeze the world before the last candidate ends)."""
    from a2r_core.planning import CEMConfig

    config = CEMConfig(**cem)
    return (max_steps + config.horizon + 1) * config.action_repeat


def mpc_episode(reward_fn, sim: str, task: str, seed: int, variant: str, image_size: int, max_steps: int,
                cem: dict, pool=None, stop_on_success: bool = True) -> dict:
    """One MPC episode of `task` from start `seed`: CEM on `reward_fn`, a planner `ClipRewardFn`,
    or "oracle" (the simulator's dense reward) or "random" (seeded uniform scores; neither renders).
    Returns the episode's record; with a learned reward it includes `own_state_ranking`, how the
    reward ranked the candidates at the states this planner reached (planner_view.OwnStateRanking)."""
    from a2r_core.eval.planner_view import OwnStateRanking
    from a2r_core.planning import (CEMConfig, CEMPlanner, ClipRewardScorer, InfoRewardScorer,
                                   RandomRolloutScorer, run_mpc)

    config = CEMConfig(**{"seed": int(seed), **cem})
    with rollout_model(sim, task, variant, image_size, int(seed), episode_env_steps(max_steps, cem)) as model:
        if reward_fn == "oracle":
            scorer = InfoRewardScorer()
        elif reward_fn == "random":
            scorer = RandomRolloutScorer(int(seed))
        else:
            scorer = OwnStateRanking(ClipRewardScorer(reward_fn, model.instruction))
        res = run_mpc(model, CEMPlanner(config, model, scorer, pool=pool), max_steps=max_steps,
                      stop_on_success=stop_on_success)
    record = {"task": task, "seed": int(seed), "variant": variant, "success": bool(res.success),
              "success_step": res.success_step, "rollouts": res.rollouts, "seconds": round(res.seconds, 3)}
    if isinstance(scorer, OwnStateRanking):
        record["own_state_ranking"] = scorer.summary()
    return record


def mpc_success(scorer: RowScorer, spec: RowSpec, tasks: Sequence[str], seeds: Sequence[int], variant: str,
                image_size: int, max_steps: int, cem: dict, sim: str = "pybullet",
                variants: Sequence[str] | None = None, workers: int = 1, progress: bool = False) -> dict:
    """MPC success rate of one row over tasks x start seeds (x `variants`, default [variant]) in
    simulator `sim` (see the module docstring), with its 95 % Wilson interval."""
    from tqdm import tqdm

    from a2r_core.eval.planner_view import pool_own_state_ranking

    reward_fn = spec.kind if spec.kind in ("oracle", "random") else clip_reward_fn(scorer)
    env_steps = episode_env_steps(max_steps, cem)
    looks = list(variants) if variants else [variant]
    bar = tqdm(total=len(looks) * len(tasks) * len(seeds), desc=f"mpc {sim}/{spec.name}", unit="episode",
               disable=not progress, leave=False)
    episodes = []
    t0 = time.perf_counter()
    for look in looks:
        for task in tasks:
            with rollout_pool(sim, task, look, image_size, env_steps, workers) as pool:
                for seed in seeds:
                    episodes.append(mpc_episode(reward_fn, sim, task, int(seed), look, image_size, max_steps, cem, pool))
                    bar.update(1)
    bar.close()
    wins = sum(e["success"] for e in episodes)
    low, high = metrics.wilson_interval(wins, len(episodes))
    return {"success_rate": wins / len(episodes), "successes": wins, "n": len(episodes), "interval": [low, high],
            "own_state_ranking": pool_own_state_ranking(episodes), "episodes": episodes, "sim": sim,
            "variant": variant if not variants else ",".join(looks),
            "seconds": round(time.perf_counter() - t0, 3)}
