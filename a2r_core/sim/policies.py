"""Who acts in a MetaWorld episode: the scripted expert, and the named sources of failures.

Why several failure sources: a reward model only learns "tried and failed" from failures that look
like tries. Near-success sources keep most of the expert's behaviour and break one thing:
- "noise":        the expert with temporally correlated Gaussian action noise (std in [0.8, 1.5]);
- "perturb":      the expert, interrupted by 3-5 bursts (20-50 steps) of a constant random push;
- "early_stop":   the expert until a random step, then the arm holds still;
- "wrong_target": the expert fed a shifted object/goal position, so it does the task elsewhere;
- "other_expert": another task's expert acting in this task's scene;
and one far-from-success source, "random": smooth random exploration.
None of them *guarantees* failure: the episode's label is the environment's success flag at its end,
so a noisy expert that still succeeds is a success clip (see `a2r_core.data.generate`).

Every policy draws its randomness from the `np.random.Generator` it is given, so an episode is a
pure function of its seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from a2r_core.errors import ConfigError

SUCCESS_SOURCE = "expert"
FAILURE_SOURCES: tuple[str, ...] = ("noise", "perturb", "early_stop", "wrong_target", "other_expert",
                                    "random")
SOURCES: tuple[str, ...] = (SUCCESS_SOURCE,) + FAILURE_SOURCES

# MetaWorld names a few expert classes differently from their task.
_CLASS_OVERRIDES = {"peg-insert-side-v3": "SawyerPegInsertionSideV3Policy"}

# Observation layout of MetaWorld v3 (39 floats): hand xyz, gripper, object 1 (xyz + quat),
# object 2 (xyz + quat), the previous frame's 18 numbers, goal xyz.
_OBJ1 = slice(4, 7)
_OBJ2 = slice(11, 14)
_GOAL = slice(36, 39)

Policy = Callable[[np.ndarray, int], np.ndarray]
"""A policy maps (observation, step index) to an action in [-1, 1]^4."""


def expert_class_name(task: str) -> str:
    """MetaWorld's scripted-expert class name for `task` ("drawer-close-v3" ->
    "SawyerDrawerCloseV3Policy")."""
    if task in _CLASS_OVERRIDES:
        return _CLASS_OVERRIDES[task]
    if not task.endswith("-v3"):
        raise ConfigError(f"a2r's experts are MetaWorld v3's; {task!r} is not a v3 task name")
    return "Sawyer" + "".join(p.capitalize() for p in task[:-3].split("-")) + "V3Policy"


def expert(task: str) -> Any:
    """A fresh instance of MetaWorld's scripted expert for `task`."""
    import warnings

    import metaworld.policies as mw_policies

    # MetaWorld warns on every call of experts whose P-gains saturate the [-1, 1] action clip; that
    # is how they are meant to work, and the warning would flood generation logs.
    warnings.filterwarnings("ignore", message=r"Constant\(s\) may be too high", category=UserWarning)
    name = expert_class_name(task)
    cls = getattr(mw_policies, name, None)
    if cls is None:
        raise ConfigError(f"MetaWorld has no scripted expert {name} for task {task!r}")
    return cls()


def _clip(action: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(action, dtype=np.float32), -1.0, 1.0)


@dataclass
class _Expert:
    policy: Any

    def __call__(self, obs: np.ndarray, t: int) -> np.ndarray:
        return _clip(self.policy.get_action(obs))


@dataclass
class _Noisy:
    """Expert plus temporally correlated Gaussian noise: white noise averages out over a few
    steps and the expert still succeeds; correlated noise makes it drift, overshoot and miss."""

    policy: Any
    std: float
    smooth: float
    rng: np.random.Generator
    state: np.ndarray = field(default_factory=lambda: np.zeros(4))

    def __call__(self, obs: np.ndarray, t: int) -> np.ndarray:
        scale = np.sqrt(1.0 - self.smooth**2)  # keeps the noise's stationary std at `std`
        self.state = self.smooth * self.state + scale * self.rng.normal(0.0, self.std, size=4)
        return _clip(self.policy.get_action(obs) + self.state)


@dataclass
class _Perturbed:
    """Expert, but during a few random windows the action is a fixed random push."""

    policy: Any
    windows: list[tuple[int, int, np.ndarray]]

    def __call__(self, obs: np.ndarray, t: int) -> np.ndarray:
        for start, stop, push in self.windows:
            if start <= t < stop:
                return _clip(push)
        return _clip(self.policy.get_action(obs))


@dataclass
class _EarlyStop:
    policy: Any
    stop_step: int

    def __call__(self, obs: np.ndarray, t: int) -> np.ndarray:
        if t >= self.stop_step:
            return np.zeros(4, dtype=np.float32)  # mocap holds the arm where it is
        return _clip(self.policy.get_action(obs))


@dataclass
class _WrongTarget:
    """Expert that sees the object(s) and goal shifted by a fixed offset."""

    policy: Any
    offset: np.ndarray

    def __call__(self, obs: np.ndarray, t: int) -> np.ndarray:
        seen = np.array(obs, dtype=np.float64, copy=True)
        for part in (_OBJ1, _OBJ2, _GOAL):
            if np.any(seen[part] != 0.0):  # zeros mean "no such object" in MetaWorld's layout
                seen[part] += self.offset
        return _clip(self.policy.get_action(seen))


@dataclass
class _Random:
    """Smooth random exploration: an Ornstein-Uhlenbeck-like walk in action space, so the arm
    travels across the workspace instead of jittering in place."""

    rng: np.random.Generator
    smooth: float
    state: np.ndarray

    def __call__(self, obs: np.ndarray, t: int) -> np.ndarray:
        self.state = self.smooth * self.state + (1.0 - self.smooth) * self.rng.uniform(-1, 1, size=4)
        return _clip(self.state * 2.0)


def make_policy(source: str, task: str, rng: np.random.Generator, horizon: int,
                all_tasks: Sequence[str]) -> Policy:
    """The policy of one episode of `task` from `source`, its randomness drawn from `rng` now.

    `all_tasks` is where "other_expert" picks another task's expert from (any task but `task`).
    """
    if source not in SOURCES:
        raise ConfigError(f"unknown episode source {source!r}; known: {', '.join(SOURCES)}")
    if horizon < 2:
        raise ConfigError(f"horizon must be >= 2 steps, got {horizon}")
    if source == SUCCESS_SOURCE:
        return _Expert(expert(task))
    if source == "noise":
        return _Noisy(expert(task), float(rng.uniform(0.8, 1.5)), float(rng.uniform(0.85, 0.95)), rng)
    if source == "perturb":
        windows = []
        for _ in range(int(rng.integers(3, 6))):
            start = int(rng.integers(5, max(6, horizon - horizon // 8)))
            windows.append((start, start + int(rng.integers(20, 50)), rng.uniform(-1, 1, size=4)))
        return _Perturbed(expert(task), windows)
    if source == "early_stop":
        return _EarlyStop(expert(task), int(rng.integers(max(1, horizon // 20), max(2, horizon // 4))))
    if source == "wrong_target":
        direction = rng.normal(size=2)
        direction /= np.linalg.norm(direction) + 1e-9
        shift = np.array([*(direction * rng.uniform(0.08, 0.18)), 0.0])
        return _WrongTarget(expert(task), shift)
    if source == "other_expert":
        others = [t for t in all_tasks if t != task]
        if not others:
            raise ConfigError("source 'other_expert' needs at least one other task in the task list")
        return _Expert(expert(others[int(rng.integers(len(others)))]))
    return _Random(rng, float(rng.uniform(0.8, 0.95)), rng.uniform(-1, 1, size=4))
