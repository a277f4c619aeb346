"""Simulators: rendered frames/s and candidate rollouts/s, the planner's cost besides the reward.

A candidate rollout is what `a2r_core.planning.rollout_candidates` does for one CEM sample:
restore the start state, apply `HORIZON` planning actions `ACTION_REPEAT` env steps each, and
render one frame (112x112) after each planning action. Rows are given for PyBullet (tabletop push,
through the planner's own `PybulletRollout`) and MetaWorld (drawer-close-v3, through the planner's
`MetaWorldRollout`), each where importable; a
simulator that cannot be imported is skipped with the reason.
"""

from __future__ import annotations

import time
import numpy as np

from a2r_core.bench.table import BenchContext, BenchRow

IMAGE_SIZE = 112
HORIZON = 8
ACTION_REPEAT = 2
METAWORLD_TASK = "drawer-close-v3"


def _frames_per_s(render, count: int) -> tuple[float, float]:
    render()  # warm-up (GL context, scene upload)
    start = time.perf_counter()
    for _ in range(count):
        render()
    seconds = time.perf_counter() - start
    return count / seconds, seconds


def _rollouts_per_s(model, candidates: int, seed: int) -> tuple[float, float]:
    from a2r_core.planning import rollout_candidates

    low, high = model.action_bounds
    actions = np.random.default_rng(seed).uniform(low, high, size=(candidates, HORIZON, len(low)))
    start_state = model.snapshot()
    rollout_candidates(model, start_state, actions[:1], action_repeat=ACTION_REPEAT)  # warm-up
    start = time.perf_counter()
    batch = rollout_candidates(model, start_state, actions, action_repeat=ACTION_REPEAT)
    seconds = time.perf_counter() - start
    assert batch.clips is not None and batch.clips.shape[:2] == (candidates, HORIZON)
    return candidates / seconds, seconds


def _rows(sim: str, fps: float, frame_s: float, frames: int, rps: float, roll_s: float, n: int) -> list[BenchRow]:
    setting = f"{IMAGE_SIZE}x{IMAGE_SIZE}"
    roll_setting = f"horizon {HORIZON} x repeat {ACTION_REPEAT}, {HORIZON} frames {setting}"
    return [BenchRow("sim", f"{sim} render", setting, fps, "frames/s", extra={"frames": frames, "seconds": frame_s}),
            BenchRow("sim", f"{sim} candidate rollout", roll_setting, rps, "rollouts/s",
                     extra={"candidates": n, "seconds": roll_s, "horizon": HORIZON, "action_repeat": ACTION_REPEAT})]


def bench_pybullet(frames: int, candidates: int) -> list[BenchRow]:
    from a2r_core.planning import PybulletRollout
    from a2r_core.sim.pybullet_tabletop import TabletopConfig, TabletopEnv

    with TabletopEnv(TabletopConfig(image_size=IMAGE_SIZE), seed=0) as env:
        fps, frame_s = _frames_per_s(env.render, frames)
        rps, roll_s = _rollouts_per_s(PybulletRollout(env), candidates, seed=0)
    return _rows("pybullet tabletop", fps, frame_s, frames, rps, roll_s, candidates)


def bench_metaworld(frames: int, candidates: int) -> list[BenchRow]:
    from a2r_core.planning.metaworld_rollout import MetaWorldRollout
    from a2r_core.sim.metaworld_env import MetaWorldEnv, RenderConfig

    steps_needed = (candidates + 1) * HORIZON * ACTION_REPEAT + 10
    with MetaWorldEnv(METAWORLD_TASK, RenderConfig(width=IMAGE_SIZE, height=IMAGE_SIZE),
                      max_steps=max(500, steps_needed)) as env:
        env.reset(0)
        fps, frame_s = _frames_per_s(env.render, frames)
        rps, roll_s = _rollouts_per_s(MetaWorldRollout(env), candidates, seed=0)
    return _rows(f"metaworld {METAWORLD_TASK}", fps, frame_s, frames, rps, roll_s, candidates)


def run(ctx: BenchContext) -> tuple[list[BenchRow], dict[str, str]]:
    """Rows of every simulator that imports, and {simulator: reason} for those skipped."""
    frames, candidates = (10, 4) if ctx.quick else (200, 32)
    rows: list[BenchRow] = []
    skipped: dict[str, str] = {}
    for name, fn in (("pybullet", bench_pybullet), ("metaworld", bench_metaworld)):
        try:
            rows += fn(frames, candidates)
        except ImportError as exc:  # the simulator is an optional dependency
            skipped[f"sim/{name}"] = f"not importable: {exc}"
    return rows, skipped


__all__ = ["bench_pybullet", "bench_metaworld", "run"]
