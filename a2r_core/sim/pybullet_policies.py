"""Scripted success and failure policies for the PyBullet push tasks, and an episode runner.

Why: reward models are trained and judged on success clips *and* near-miss failures; the label of
an episode is always the success detector's verdict at the end (`TabletopEnv.success`), never the
policy's intent, so a "failure" policy that happens to succeed is recorded as a success.

Policies are callables `policy(env) -> action [3]` with their own seeded RNG; `make_policy`
builds them by name: "expert", "noise", "early_stop", "wrong_direction", "random".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from a2r_core.errors import ConfigError
from a2r_core.sim.pybullet_tabletop import (
    HOVER_HEIGHT_M,
    PRE_PUSH_STANDOFF_M,
    PUSH_HEIGHT_M,
    TASKS,
    TabletopEnv,
)

Policy = Callable[[TabletopEnv], np.ndarray]

FAILURE_SOURCES = ("noise", "early_stop", "wrong_direction", "random")
POLICY_NAMES = ("expert",) + FAILURE_SOURCES


class ScriptedPush:
    """End-effector push: hover to the pre-push point behind the block, descend, push, stop.

    The phase is recomputed from the geometry every step (no hidden counter), so the policy also
    recovers from perturbations: if the block drifts, the pre-push point follows it.
    `push_distance_m` is how far (along `direction`) the block should end up from its start;
    it slides a little further after the push stops.
    """

    def __init__(self, direction: np.ndarray, push_distance_m: float = 0.14, push_speed: float = 0.5) -> None:
        self.direction = np.asarray(direction, dtype=np.float64)
        self.push_distance_m = float(push_distance_m)
        # Pushing at half the travel speed keeps the block from sliding on after contact.
        self.push_speed = float(push_speed)

    def __call__(self, env: TabletopEnv) -> np.ndarray:
        u = self.direction
        block = env.block_position()
        target = env.target
        moved = float((block[:2] - env.block_start[:2]) @ u)
        behind = block[:2] - u * PRE_PUSH_STANDOFF_M
        speed = 1.0
        if moved >= self.push_distance_m:
            goal = np.array([*target[:2], target[2]])  # done: hold still
        else:
            off_line = np.linalg.norm(target[:2] - behind)
            # Distance of the target ahead of the pre-push point along u (positive = pushing side).
            ahead = float((target[:2] - behind) @ u)
            lateral = np.linalg.norm((target[:2] - behind) - ahead * u)
            low = target[2] < PUSH_HEIGHT_M + 0.02
            if low and lateral < 0.02 and -0.02 < ahead:
                goal = np.array([*(block[:2] + u * 0.05), PUSH_HEIGHT_M])  # pushing
                speed = self.push_speed
            elif off_line < 0.015:
                goal = np.array([*behind, PUSH_HEIGHT_M])  # descend at the pre-push point
            elif low and lateral >= 0.02:
                goal = np.array([*target[:2], HOVER_HEIGHT_M])  # lift before travelling
            else:
                goal = np.array([*behind, max(target[2], HOVER_HEIGHT_M * 0.6)])  # travel
        return np.clip((goal - target) / env.config.max_step_m, -speed, speed)


class NoisyPolicy:
    """A policy plus Gaussian action noise (std in action units), clipped to the bounds."""

    def __init__(self, base: Policy, std: float, seed: int) -> None:
        self.base, self.std, self.rng = base, float(std), np.random.default_rng(seed)

    def __call__(self, env: TabletopEnv) -> np.ndarray:
        return np.clip(self.base(env) + self.rng.normal(0.0, self.std, size=3), -1.0, 1.0)


class RandomPolicy:
    """Uniform random end-effector motion (random exploration)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, env: TabletopEnv) -> np.ndarray:
        return self.rng.uniform(-1.0, 1.0, size=3)


def make_policy(name: str, env: TabletopEnv, seed: int = 0) -> Policy:
    """Build a policy for `env`'s task by name (see POLICY_NAMES).

    - expert: `ScriptedPush` along the task direction, pushing 0.14 m.
    - noise: the expert with action noise std 1.5 (mostly misses the block or pushes it off-line).
    - early_stop: the expert that stops after pushing 0.015 m (it slides to ~0.03-0.05 m, below
      the 0.08 m success distance).
    - wrong_direction: the expert of another push task (picked from the seed).
    - random: uniform random actions.
    """
    u = env.direction
    if name == "expert":
        return ScriptedPush(u)
    if name == "noise":
        return NoisyPolicy(ScriptedPush(u), std=1.5, seed=seed)
    if name == "early_stop":
        return ScriptedPush(u, push_distance_m=0.015)
    if name == "wrong_direction":
        others = [t for t in TASKS.values() if not np.allclose(t.direction, u)]
        other = others[int(np.random.default_rng(seed).integers(len(others)))]
        return ScriptedPush(np.asarray(other.direction))
    if name == "random":
        return RandomPolicy(seed)
    raise ConfigError(f"make_policy: unknown policy {name!r}; known: {list(POLICY_NAMES)}")


@dataclass
class Episode:
    """One rollout: frames (uint8 [T, H, W, 3], T = number of rendered steps, may be 0), the
    actions taken [S, 3], the success label at the end and the final displacement."""

    task: str
    policy: str
    seed: int
    frames: np.ndarray
    actions: np.ndarray
    success: bool
    along_m: float
    lateral_m: float


def run_episode(
    env: TabletopEnv,
    policy: Policy,
    steps: int = 40,
    render_every: Optional[int] = None,
    policy_name: str = "",
) -> Episode:
    """Run `policy` for `steps` steps from the env's current state.

    Frames are rendered at the start and then every `render_every` steps (None: no frames), because
    rendering dominates the cost and clips need only a few frames.
    """
    if steps < 1:
        raise ConfigError(f"run_episode: steps must be >= 1, got {steps}")
    if render_every is not None and render_every < 1:
        raise ConfigError(f"run_episode: render_every must be >= 1 or None, got {render_every}")
    frames, actions = [], []
    if render_every is not None:
        frames.append(env.render())
    for i in range(1, steps + 1):
        a = np.asarray(policy(env), dtype=np.float64)
        actions.append(a)
        env.step(a)
        if render_every is not None and i % render_every == 0:
            frames.append(env.render())
    along, lateral = env.displacement()
    s = env.config.image_size
    return Episode(
        task=env.config.task,
        policy=policy_name,
        seed=env.seed,
        frames=np.stack(frames) if frames else np.zeros((0, s, s, 3), np.uint8),
        actions=np.stack(actions),
        success=env.success(),
        along_m=along,
        lateral_m=lateral,
    )
