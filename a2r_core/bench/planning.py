"""Planning: candidate rollouts/s and seconds per MPC episode, learned reward and oracle.

What is timed is the full eval's MetaWorld MPC (config/eval_full.yaml, `metaworld.mpc`: its CEM
settings, its render size and its worker count) on drawer-close-v3: one episode of `max_steps`
planning actions that does not stop on success, so every row does the same amount of work
whatever the reward. The learned reward is the a2r-small model (`--checkpoint`, else random
weights: the same cost) scored through `RewardModel.reward_for`, the one scoring path; the oracle
plans on the simulator's dense reward and renders nothing. Rollouts are also timed in this
process and in the worker pool, so the pool's gain is read from one run.
"""

from __future__ import annotations

import time

import numpy as np

from a2r_core.bench.table import BenchContext, BenchRow

TASK = "drawer-close-v3"
SEED = 300


def _eval_mpc():
    """The full eval's MetaWorld MPC settings (one source: config/eval_full.yaml)."""
    from a2r_core.commands.eval import PROFILES, _config_dir
    from a2r_core.eval.benchmark import load_eval_config

    return load_eval_config(_config_dir() / PROFILES["full"]).metaworld.mpc


def _reward_model(ctx: BenchContext):
    from a2r_core.bench.model_forward import build_small
    from a2r_core.reward import RewardModel

    return RewardModel.from_module(build_small(ctx.checkpoint), model_id=ctx.checkpoint or "a2r-small (random)")


def _rollouts_per_s(pool, image_size: int, mpc, candidates: int) -> float:
    from a2r_core.clips import candidate_future_steps
    from a2r_core.eval.online import rollout_model
    from a2r_core.planning import CEMConfig, rollout_candidates

    cfg = CEMConfig(**mpc.cem)
    actions = np.random.default_rng(0).uniform(-1, 1, size=(candidates, cfg.horizon, 4))
    with rollout_model("metaworld", TASK, "default", image_size, SEED, 500) as model:
        history = np.stack([model.render()] * 10)  # mid-episode: 10 frames executed so far
        start = model.snapshot()
        rollout_candidates(model, start, actions[:2], cfg.action_repeat, True, history, cfg.max_clip_frames, pool)
        t0 = time.perf_counter()
        rollout_candidates(model, start, actions, cfg.action_repeat, True, history, cfg.max_clip_frames, pool)
        seconds = time.perf_counter() - t0
    rendered = len(candidate_future_steps(len(history), cfg.horizon, cfg.max_clip_frames))
    return candidates / seconds, rendered


def run(ctx: BenchContext) -> list[BenchRow]:
    from a2r_core.eval.online import episode_env_steps, mpc_episode, rollout_pool
    from a2r_core.planning import CEMConfig

    mpc = _eval_mpc()
    reward = _reward_model(ctx)
    size = mpc.image_size or reward.image_size
    cfg = CEMConfig(**mpc.cem)
    max_steps = 3 if ctx.quick else mpc.max_steps
    candidates = 8 if ctx.quick else 48
    setting = (f"{TASK}, {size}x{size}, CEM {cfg.samples} samples x {cfg.iterations} iterations, horizon "
               f"{cfg.horizon} x repeat {cfg.action_repeat}, clips of {cfg.max_clip_frames} frames")
    rows: list[BenchRow] = []
    env_steps = episode_env_steps(max_steps, mpc.cem)
    for workers in sorted({1, mpc.workers}):
        with rollout_pool("metaworld", TASK, "default", size, env_steps, workers) as pool:
            rps, rendered = _rollouts_per_s(pool, size, mpc, candidates)
            rows.append(BenchRow("planning", f"candidate rollouts, {workers} process(es)", setting, rps, "rollouts/s",
                                 extra={"candidates": candidates, "frames_rendered_per_candidate": rendered,
                                        "workers": workers}))
            for name, fn in (("learned", reward.reward_for), ("oracle", "oracle")):
                # the same episode whatever the reward: it does not stop on success
                episode = mpc_episode(fn, "metaworld", TASK, SEED, "default", size, max_steps, mpc.cem, pool,
                                      stop_on_success=False)
                seconds, rollouts = episode["seconds"], episode["rollouts"]
                rows.append(BenchRow("planning", f"MPC episode, {name} reward, {workers} process(es)",
                                     f"{setting}, {max_steps} planning actions", seconds, "s/episode",
                                     extra={"rollouts": rollouts, "rollouts_per_s": rollouts / seconds,
                                            "workers": workers, "max_steps": max_steps}))
    return rows


__all__ = ["run"]
