"""Candidate rollouts in worker processes: the planner's simulator cost spread over the cores.

Why: a CEM step rolls dozens of candidates out through the simulator and renders their futures;
rendering (MuJoCo through EGL on the CPU) is most of an MPC episode's time and runs on one core per
process. Each worker builds its own copy of the simulator once (from a picklable `factory`), and
for every batch restores the main process's snapshot into it, rolls its share of the candidates
out and renders the frames asked for (`a2r_core.planning.rollout.roll_futures`, the same code as
in-process). Results are identical to the in-process path: the simulators are deterministic and
the snapshot carries the whole state.

Workers start with the "spawn" method: a forked child would inherit the parent's GL context,
which EGL does not allow.
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from a2r_core.errors import ConfigError

_MODEL: Any = None  # the worker process's own simulator


def _init_worker(factory: Callable[[], Any]) -> None:
    global _MODEL
    _MODEL = factory()


def _roll_chunk(start: Any, actions: np.ndarray, action_repeat: int, render_steps: np.ndarray):
    from a2r_core.planning.rollout import roll_futures

    return roll_futures(_MODEL, start, actions, action_repeat, render_steps)


@dataclass(frozen=True)
class MetaWorldModelFactory:
    """Builds a `MetaWorldRollout` of `task` in `variant` at `image_size` px (picklable, so a
    worker process can build its own)."""

    task: str
    variant: str = "default"
    image_size: int = 64
    max_steps: int = 500
    seed: int = 0

    def __call__(self) -> Any:
        from a2r_core.planning.metaworld_rollout import MetaWorldRollout
        from a2r_core.sim.metaworld_env import MetaWorldEnv, RenderConfig
        from a2r_core.sim.variants import get_variant

        env = MetaWorldEnv(self.task, RenderConfig(width=self.image_size, height=self.image_size),
                           get_variant(self.variant), max_steps=self.max_steps)
        model = MetaWorldRollout(env)
        model.reset(self.seed)
        return model


class RolloutPool:
    """`workers` processes, each holding a simulator built by `factory`; `roll` has the contract of
    `roll_futures` (pass it to `rollout_candidates(pool=...)` or `CEMPlanner(pool=...)`)."""

    def __init__(self, factory: Callable[[], Any], workers: int = 2) -> None:
        if not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"RolloutPool: workers must be an integer >= 1, got {workers!r}")
        self.workers = workers
        self._executor: Optional[ProcessPoolExecutor] = ProcessPoolExecutor(
            max_workers=workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
            initargs=(factory,))

    def roll(self, start: Any, actions: np.ndarray, action_repeat: int,
             render_steps: np.ndarray) -> tuple[Optional[np.ndarray], list[dict], np.ndarray]:
        if self._executor is None:
            raise ConfigError("RolloutPool: already closed")
        chunks = [c for c in np.array_split(np.asarray(actions, dtype=np.float64), self.workers) if len(c)]
        parts = list(self._executor.map(_roll_chunk, [start] * len(chunks), chunks,
                                        [action_repeat] * len(chunks), [render_steps] * len(chunks)))
        frames = None if parts[0][0] is None else np.concatenate([p[0] for p in parts])
        infos = [info for p in parts for info in p[1]]
        return frames, infos, np.concatenate([p[2] for p in parts])

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> "RolloutPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["MetaWorldModelFactory", "RolloutPool"]
