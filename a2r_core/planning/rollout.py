"""What a planner needs from a simulator, and how candidate futures are rolled out and rendered.

Why a protocol: the CEM planner must not know which simulator it drives. A `RolloutModel` can save
its state, go back to it, step an action, render a frame and say whether the task is done; with
that, the simulator itself is the planner's dynamics model ("simulator state restore as dynamics"
in shared/design.md). The PyBullet tabletop env gets an adapter here; the MetaWorld one is added
next to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Protocol, runtime_checkable

import numpy as np

from a2r_core.clips import candidate_clip, candidate_future_steps, thin
from a2r_core.errors import InputError


@runtime_checkable
class RolloutModel(Protocol):
    """A simulator a planner can roll candidates through.

    `snapshot()` returns an opaque state that `restore()` returns to exactly (same frames after the
    same actions); `step()` applies one action within `action_bounds` and returns an info dict
    (simulator-specific keys, e.g. "dense_reward", "success"); `render()` returns uint8 [H, W, 3].
    """

    @property
    def action_bounds(self) -> tuple[np.ndarray, np.ndarray]: ...

    def snapshot(self) -> Any: ...

    def restore(self, snapshot: Any) -> None: ...

    def step(self, action: np.ndarray) -> dict: ...

    def render(self) -> np.ndarray: ...

    def success(self) -> bool: ...


class PybulletRollout:
    """`RolloutModel` over a `TabletopEnv` (a2r_core.sim.pybullet_tabletop).

    The env already has the right methods; the adapter pins the contract in one place (so a change
    of the env shows up here, not in the planner) and carries the task's instruction.
    """

    def __init__(self, env: Any, instruction: Optional[str] = None) -> None:
        from a2r_core.sim.pybullet_tabletop import TabletopEnv, instruction as task_instruction

        if not isinstance(env, TabletopEnv):
            raise InputError(f"PybulletRollout: expected a TabletopEnv, got {type(env).__name__}")
        self.env = env
        self.instruction = instruction or task_instruction(env.config.task)

    @property
    def action_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.env.action_bounds

    def snapshot(self) -> Any:
        return self.env.snapshot()

    def restore(self, snapshot: Any) -> None:
        self.env.restore(snapshot)

    def step(self, action: np.ndarray) -> dict:
        return self.env.step(action)

    def render(self) -> np.ndarray:
        return self.env.render()

    def success(self) -> bool:
        return self.env.success()


@dataclass
class RolloutBatch:
    """N candidate futures from one start state.

    actions: float [N, H, A] (planning actions; each was applied `action_repeat` times).
    clips: uint8 [N, T, H, W, 3] or None when frames were not asked for: the context frames given
      to `rollout_candidates` followed by one frame after each planning action.
    infos: the info dict after each candidate's last step.
    successes: bool [N], `model.success()` at the end of each candidate.
    """

    actions: np.ndarray
    clips: Optional[np.ndarray]
    infos: list[dict]
    successes: np.ndarray


def subsample_frames(frames: np.ndarray, max_frames: Optional[int]) -> np.ndarray:
    """Keep at most `max_frames` frames [.., T, H, W, 3] along axis -4, evenly spaced, first and
    last kept: `a2r_core.clips.thin`, the one clip rule (reward models look at the start and the
    outcome)."""
    return thin(frames, max_frames)


def roll_futures(model: RolloutModel, start: Any, actions: np.ndarray, action_repeat: int,
                 render_steps: np.ndarray) -> tuple[Optional[np.ndarray], list[dict], np.ndarray]:
    """Roll each candidate [N, H, A] out from `start` (each planning action applied `action_repeat`
    times) and render the frames after the planning actions listed in `render_steps` (sorted
    indices into the horizon; empty: render nothing) -> (frames uint8 [N, k, h, w, 3] or None,
    info after each candidate's last step, success flags [N]). The model is left at `start`."""
    n, horizon = actions.shape[:2]
    wanted = set(int(h) for h in render_steps)
    infos: list[dict] = []
    successes = np.zeros(n, dtype=bool)
    futures: list[np.ndarray] = []
    for i in range(n):  # candidates are sequential: one simulator
        model.restore(start)
        frames = []
        info: dict = {}
        for h in range(horizon):
            for _ in range(action_repeat):
                info = model.step(actions[i, h])
            if h in wanted:
                frames.append(model.render())
        infos.append(info)
        successes[i] = model.success()
        if wanted:
            futures.append(np.stack(frames))
    model.restore(start)
    return (np.stack(futures) if wanted else None), infos, successes


def rollout_candidates(
    model: RolloutModel,
    start: Any,
    actions: np.ndarray,
    action_repeat: int = 1,
    render: bool = True,
    context_frames: Optional[np.ndarray] = None,
    max_clip_frames: Optional[int] = None,
    pool: Optional[Any] = None,
) -> RolloutBatch:
    """Roll every candidate action sequence out from `start` and (optionally) render its future.

    Each candidate: restore `start`, then for each planning action apply it `action_repeat` times.
    `context_frames` (uint8 [C, H, W, 3], e.g. the frames executed so far, ending with the current
    one) come first in every clip so a reward model sees the whole attempt; the clip (context +
    one frame after each planning action) is thinned to `max_clip_frames` by the one clip rule
    (`a2r_core.clips`), and only the future frames that survive thinning are rendered (rendering
    is most of a candidate's cost). The model is left at `start`. With `pool` (a
    `a2r_core.planning.parallel.RolloutPool` over copies of `model`), the candidates are rolled out
    by its worker processes instead, with the same results.
    """
    actions = np.asarray(actions, dtype=np.float64)
    if actions.ndim != 3 or actions.shape[0] < 1 or actions.shape[1] < 1:
        raise InputError(f"rollout_candidates: actions must be [N, H, A] with N, H >= 1, got {actions.shape}")
    if action_repeat < 1:
        raise InputError(f"rollout_candidates: action_repeat must be >= 1, got {action_repeat}")
    horizon = actions.shape[1]
    ctx = None
    if render and context_frames is not None and len(context_frames):
        ctx = np.asarray(context_frames, dtype=np.uint8)
        if ctx.ndim != 4 or ctx.shape[-1] != 3:
            raise InputError(f"rollout_candidates: context_frames must be [C, H, W, 3], got {ctx.shape}")
    history = 0 if ctx is None else ctx.shape[0]
    steps = candidate_future_steps(history, horizon, max_clip_frames) if render else np.zeros(0, np.int64)
    if pool is not None:
        future, infos, successes = pool.roll(start, actions, action_repeat, steps)
    else:
        future, infos, successes = roll_futures(model, start, actions, action_repeat, steps)
    clips = None
    if render:
        if ctx is not None and ctx.shape[1:] != future.shape[2:]:
            raise InputError(
                f"rollout_candidates: context_frames must be [C, {future.shape[2]}, {future.shape[3]}, 3], got {ctx.shape}")
        if ctx is None:
            ctx = np.zeros((0, *future.shape[2:]), dtype=np.uint8)
        clips = np.ascontiguousarray(candidate_clip(ctx, future, steps, horizon, max_clip_frames))
    return RolloutBatch(actions=actions, clips=clips, infos=infos, successes=successes)
