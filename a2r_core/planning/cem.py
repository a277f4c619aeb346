"""CEM / MPC over action sequences, with the simulator as the dynamics model.

Why CEM: the reward is a black box over rendered clips (a video-language model behind a service),
so the planner can only sample, render and score. Each planning step: sample `samples` action
sequences of length `horizon` from a diagonal Gaussian, roll them out from the current state
(`rollout_candidates`), score them, refit the Gaussian to the `elites` best, repeat `iterations`
times, then execute the first `execute_steps` actions of the best sequence seen and re-plan
(model-predictive control). The Gaussian's mean is shifted and reused at the next step (warm start).

Scores come from a `RolloutScorer`: `ClipRewardScorer` wraps any
`reward_fn(clips uint8 [N, T, H, W, 3], instructions list[str]) -> [N]` (the reward-query service,
`RewardModel.score`); `InfoRewardScorer` reads a simulator-state value (e.g. the oracle dense
reward) from the rollouts' final info, with no rendering.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol

import numpy as np

from a2r_core.errors import ConfigError, InputError
from a2r_core.planning.rollout import RolloutBatch, RolloutModel, rollout_candidates

ClipRewardFn = Callable[[np.ndarray, list[str]], np.ndarray]


@dataclass
class CEMConfig:
    """Planner parameters (one source of defaults; the ROS planner node mirrors these).

    horizon: planning actions per candidate; action_repeat: env steps per planning action;
    samples: candidates per iteration; elites: best candidates the Gaussian is refit to;
    iterations: refits per planning step; execute_steps: planning actions executed before
    re-planning; init_std / min_std: std of the sampling Gaussian as a fraction of each action
    dimension's half range (reset each step / floor); momentum: weight of the old mean when
    refitting; include_history: prepend the frames executed so far to every candidate clip;
    max_clip_frames: thin clips to at most this many frames (None: keep all), by the one clip rule
    (a2r_core.clips); seed: sampling RNG.

    The defaults are the settings `a2r eval` measures MPC with (config/eval_full.yaml): clips of 8
    frames, what the default model samples, so the planner's clip is exactly the model's input.
    """

    horizon: int = 8
    samples: int = 24
    iterations: int = 2
    elites: int = 5
    action_repeat: int = 2
    execute_steps: int = 3
    init_std: float = 0.6
    min_std: float = 0.05
    momentum: float = 0.1
    include_history: bool = True
    max_clip_frames: Optional[int] = 8
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("horizon", "samples", "iterations", "elites", "action_repeat", "execute_steps"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"CEMConfig.{name}: must be an integer >= 1, got {value!r}")
        if self.elites > self.samples:
            raise ConfigError(f"CEMConfig.elites: {self.elites} > samples {self.samples}")
        if self.execute_steps > self.horizon:
            raise ConfigError(f"CEMConfig.execute_steps: {self.execute_steps} > horizon {self.horizon}")
        if not 0 < self.init_std <= 2:
            raise ConfigError(f"CEMConfig.init_std: must be in (0, 2], got {self.init_std}")
        if not 0 <= self.min_std <= self.init_std:
            raise ConfigError(f"CEMConfig.min_std: must be in [0, init_std={self.init_std}], got {self.min_std}")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"CEMConfig.momentum: must be in [0, 1), got {self.momentum}")
        if self.max_clip_frames is not None and self.max_clip_frames < 2:
            raise ConfigError(f"CEMConfig.max_clip_frames: must be >= 2 or None, got {self.max_clip_frames}")


class RolloutScorer(Protocol):
    """Scores a batch of rolled-out candidates: one float per candidate, higher is better.
    `needs_frames` tells the planner whether to render the candidates' futures."""

    needs_frames: bool

    def __call__(self, batch: RolloutBatch) -> np.ndarray: ...


class ClipRewardScorer:
    """Scores candidates by a clip reward function (the reward service, `RewardModel.score`)."""

    needs_frames = True

    def __init__(self, reward_fn: ClipRewardFn, instruction: str) -> None:
        if not instruction.strip():
            raise ConfigError("ClipRewardScorer: instruction is empty")
        self.reward_fn = reward_fn
        self.instruction = instruction

    def __call__(self, batch: RolloutBatch) -> np.ndarray:
        if batch.clips is None:
            raise InputError("ClipRewardScorer: the rollouts were not rendered")
        n = batch.clips.shape[0]
        scores = np.asarray(self.reward_fn(batch.clips, [self.instruction] * n), dtype=np.float64).reshape(-1)
        if scores.shape != (n,):
            raise InputError(f"ClipRewardScorer: reward_fn returned {scores.shape[0]} scores for {n} clips")
        return scores


class InfoRewardScorer:
    """Scores candidates by a value the simulator reports after the last step (e.g. the oracle
    "dense_reward"); nothing is rendered, which makes it the planner's fast upper bound."""

    needs_frames = False

    def __init__(self, key: str = "dense_reward") -> None:
        self.key = key

    def __call__(self, batch: RolloutBatch) -> np.ndarray:
        try:
            return np.array([float(info[self.key]) for info in batch.infos])
        except KeyError as exc:
            raise InputError(f"InfoRewardScorer: rollout info has no key {self.key!r}") from exc


class RandomRolloutScorer:
    """Uniform random scores (seeded): the planner's chance floor. Nothing is rendered, because
    random scores do not look at frames; the search itself is the same as with any reward."""

    needs_frames = False

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, batch: RolloutBatch) -> np.ndarray:
        return self.rng.random(batch.actions.shape[0])


@dataclass
class PlanResult:
    """One planning step: the best sequence found [H, A], its score, the best and mean score per
    iteration, and how many candidates were rolled out."""

    actions: np.ndarray
    score: float
    best_per_iteration: list[float]
    mean_per_iteration: list[float]
    rollouts: int


class CEMPlanner:
    """The cross-entropy method over action sequences of a `RolloutModel`; see the module doc."""

    def __init__(self, config: CEMConfig, model: RolloutModel, scorer: RolloutScorer,
                 pool: Optional[Any] = None) -> None:
        """`pool`: a `a2r_core.planning.parallel.RolloutPool` over copies of `model` that rolls the
        candidates out in worker processes (None: in this process)."""
        self.config = config
        self.model = model
        self.scorer = scorer
        self.pool = pool
        low, high = (np.asarray(b, dtype=np.float64) for b in model.action_bounds)
        if low.shape != high.shape or low.ndim != 1 or not np.all(low < high):
            raise ConfigError(f"CEMPlanner: bad action bounds low={low} high={high}")
        self.low, self.high = low, high
        self._centre, self._half = (low + high) / 2, (high - low) / 2
        self.rng = np.random.default_rng(config.seed)
        self.reset()

    def reset(self) -> None:
        """Forget the warm start (call at the start of an episode)."""
        self._mean = np.broadcast_to(self._centre, (self.config.horizon, self.low.size)).copy()

    def plan(self, context_frames: Optional[np.ndarray] = None) -> PlanResult:
        """Search from the model's current state; the model is left in that state."""
        cfg = self.config
        start = self.model.snapshot()
        mean = self._mean.copy()
        std = np.full_like(mean, cfg.init_std) * self._half
        floor = cfg.min_std * self._half
        best_actions, best_score = mean.copy(), -np.inf
        best_hist, mean_hist = [], []
        rollouts = 0
        for _ in range(cfg.iterations):
            noise = self.rng.standard_normal((cfg.samples, cfg.horizon, self.low.size))
            cands = np.clip(mean + std * noise, self.low, self.high)
            cands[0] = np.clip(mean, self.low, self.high)  # the current mean is always a candidate
            batch = rollout_candidates(
                self.model, start, cands, cfg.action_repeat, render=self.scorer.needs_frames,
                context_frames=context_frames if cfg.include_history else (
                    context_frames[-1:] if context_frames is not None else None),
                max_clip_frames=cfg.max_clip_frames, pool=self.pool,
            )
            rollouts += cfg.samples
            scores = np.asarray(self.scorer(batch), dtype=np.float64)
            if scores.shape != (cfg.samples,) or not np.all(np.isfinite(scores)):
                raise InputError(f"CEMPlanner: scorer returned {scores.shape} scores (finite: {np.isfinite(scores).all()}) for {cfg.samples} candidates")
            order = np.argsort(-scores, kind="stable")
            elites = cands[order[: cfg.elites]]
            if scores[order[0]] > best_score:
                best_score, best_actions = float(scores[order[0]]), cands[order[0]].copy()
            best_hist.append(float(scores[order[0]]))
            mean_hist.append(float(scores.mean()))
            mean = cfg.momentum * mean + (1 - cfg.momentum) * elites.mean(axis=0)
            std = np.maximum(elites.std(axis=0), floor)
        # Warm start: the refit mean, shifted by what will be executed, padded with the centre.
        k = cfg.execute_steps
        self._mean = np.concatenate([mean[k:], np.broadcast_to(self._centre, (k, self.low.size))])
        return PlanResult(best_actions, best_score, best_hist, mean_hist, rollouts)


@dataclass
class MPCResult:
    """An MPC episode: executed planning actions [S, A], the frames seen (uint8 [F, H, W, 3],
    the start frame then one per executed planning action; empty when not recorded), the info after
    each executed planning action, the plans, whether/when the task succeeded, and timing."""

    actions: np.ndarray
    frames: np.ndarray
    infos: list[dict]
    plans: list[PlanResult]
    success: bool
    success_step: Optional[int]
    rollouts: int
    seconds: float
    extra: dict = field(default_factory=dict)


def run_mpc(
    model: RolloutModel,
    planner: CEMPlanner,
    max_steps: int,
    stop_on_success: bool = True,
    record_frames: Optional[bool] = None,
    progress: bool = False,
) -> MPCResult:
    """Plan, execute the first `execute_steps` actions of the best plan, repeat, for at most
    `max_steps` executed planning actions (each applied `action_repeat` env steps).

    Frames are recorded when the scorer needs them (they are the clips' history) or when
    `record_frames` is True.
    """
    if max_steps < 1:
        raise ConfigError(f"run_mpc: max_steps must be >= 1, got {max_steps}")
    cfg = planner.config
    record = planner.scorer.needs_frames if record_frames is None else record_frames
    planner.reset()
    t0 = time.perf_counter()
    frames = [model.render()] if record else []
    actions, infos, plans = [], [], []
    success_step: Optional[int] = None
    rollouts = 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=max_steps, desc="mpc", unit="step")
    while len(actions) < max_steps:
        plan = planner.plan(np.stack(frames) if frames else None)
        plans.append(plan)
        rollouts += plan.rollouts
        for a in plan.actions[: min(cfg.execute_steps, max_steps - len(actions))]:
            info: dict[str, Any] = {}
            for _ in range(cfg.action_repeat):
                info = model.step(a)
            actions.append(a)
            infos.append(info)
            if record:
                frames.append(model.render())
            if bar is not None:
                bar.update(1)
            if success_step is None and model.success():
                success_step = len(actions)
            if stop_on_success and success_step is not None:
                break
        if stop_on_success and success_step is not None:
            break
    if bar is not None:
        bar.close()
    s = frames[0].shape if frames else (0, 0, 3)
    return MPCResult(
        actions=np.stack(actions),
        frames=np.stack(frames) if frames else np.zeros((0, *s), np.uint8),
        infos=infos,
        plans=plans,
        success=model.success(),
        success_step=success_step,
        rollouts=rollouts,
        seconds=time.perf_counter() - t0,
    )
