"""The planner's view of a reward: how it ranks a CEM population against the simulator's progress.

Why: a reward can rank finished episodes well (AUROC, best-of-N) and still be useless to a planner,
which compares many short candidate futures from the same state. This measures exactly that
comparison. Along an expert episode of a MetaWorld task (the expert acts once per planning action,
repeated `action_repeat` env steps, as the planner's actions are), at `points` evenly spaced
planning steps, a population of candidate futures is rolled out from the simulator state:
the expert's own continuation, noisy experts (correlated noise of growing size), holding still,
and the CEM's own initial samples (the Gaussian the planner starts each step from). Each candidate
is scored twice: by the reward under test on the clip the planner would build (frames executed so
far + the candidate's future, thinned by the one clip rule, `a2r_core.planning.rollout_candidates`)
and by the simulator's dense reward after the candidate's last step (the oracle's progress).

Per point: Spearman rank correlation between the two; whether the reward's top candidate is in the
oracle's top quarter (chance 0.25); the expert continuation's rank under the reward (1 = best);
the reward's spread across candidates (std) against its noise floor (std of the same clip scored
under +-1 grey level of pixel dither, i.e. what a camera's noise alone would move it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from a2r_core.errors import ConfigError

ClipRewardFn = Callable[[np.ndarray, list[str]], np.ndarray]
NOISE_STDS = (0.2, 0.4, 0.6, 0.9)  # correlated action noise of the noisy experts (2 each)


@dataclass
class PlannerViewSettings:
    """Where the planner's view is measured: tasks x start seeds of MetaWorld, `points` planning
    steps per expert episode, `population` candidates per point, the planner's CEM settings."""

    tasks: list[str] = field(default_factory=lambda: ["drawer-close-v3"])
    seeds: list[int] = field(default_factory=lambda: [500])
    variant: str = "default"
    image_size: int = 64
    points: int = 9
    population: int = 32
    max_expert_steps: int = 150
    cem: dict = field(default_factory=dict)
    workers: int = 1

    def __post_init__(self) -> None:
        from a2r_core.dataclass_config import build_dataclass
        from a2r_core.planning import CEMConfig

        if not self.tasks or not self.seeds:
            raise ConfigError("planner_view: tasks and seeds must be non-empty")
        if self.points < 1 or self.population < 2 + 2 * len(NOISE_STDS) + 1:
            raise ConfigError(f"planner_view: points >= 1 and population >= {3 + 2 * len(NOISE_STDS)} required")
        if not isinstance(self.workers, int) or self.workers < 1:
            raise ConfigError(f"planner_view: workers must be an integer >= 1, got {self.workers!r}")
        if self.image_size < 16:
            raise ConfigError(f"planner_view: image_size must be >= 16, got {self.image_size}")
        build_dataclass(CEMConfig, self.cem, "planner_view.cem")


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def _expert_actions(model, policy, snapshot, steps: int, repeat: int, noise_std: float,
                    rng: np.random.Generator) -> np.ndarray:
    """`steps` planning actions of the expert (plus smooth noise) acting closed-loop from
    `snapshot`, each applied `repeat` env steps; the model is left at `snapshot`."""
    model.restore(snapshot)
    state = np.zeros(4)
    actions = []
    for _ in range(steps):
        a = np.asarray(policy(model.env.observation(), model.steps_taken), dtype=np.float64)
        if noise_std > 0:
            state = 0.8 * state + 0.6 * rng.normal(0.0, noise_std, size=4)
            a = a + state
        a = np.clip(a, -1.0, 1.0)
        for _ in range(repeat):
            model.step(a)
        actions.append(a)
    model.restore(snapshot)
    return np.stack(actions)


def _population(model, policy, snapshot, cem, size: int, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """Candidate action sequences [size, H, 4] and what each one is."""
    h, rep = cem.horizon, cem.action_repeat
    cands = [_expert_actions(model, policy, snapshot, h, rep, 0.0, rng)]
    kinds = ["expert"]
    for std in NOISE_STDS:
        for _ in range(2):
            cands.append(_expert_actions(model, policy, snapshot, h, rep, std, rng))
            kinds.append(f"noisy_{std}")
    cands.append(np.zeros((h, 4)))
    kinds.append("still")
    rest = size - len(cands)
    cands.extend(np.clip(cem.init_std * rng.standard_normal((rest, h, 4)), -1.0, 1.0))
    kinds.extend(["cem"] * rest)
    return np.stack(cands), kinds


def _noise_floor(reward_fn: ClipRewardFn, clip: np.ndarray, instruction: str, rng: np.random.Generator,
                 repeats: int = 8) -> float:
    """Std of the reward of one clip under +-1 grey level of random pixel dither."""
    dither = rng.integers(-1, 2, size=(repeats, *clip.shape))
    noisy = np.clip(clip[None].astype(np.int16) + dither, 0, 255).astype(np.uint8)
    return float(np.std(np.asarray(reward_fn(noisy, [instruction] * repeats), dtype=np.float64)))


def measure_episode(reward_fn: ClipRewardFn, task: str, seed: int, settings: PlannerViewSettings,
                    rng: Optional[np.random.Generator] = None) -> dict:
    """The planner's view along one expert episode of `task` from start `seed` (module doc)."""
    from a2r_core.eval.online import rollout_pool
    from a2r_core.planning import CEMConfig, rollout_candidates
    from a2r_core.planning.metaworld_rollout import MetaWorldRollout
    from a2r_core.sim.metaworld_env import MetaWorldEnv, RenderConfig
    from a2r_core.sim.policies import make_policy
    from a2r_core.sim.variants import get_variant

    cem = CEMConfig(**{"seed": int(seed), **settings.cem})
    rng = rng if rng is not None else np.random.default_rng(seed)
    steps_cap = (settings.max_expert_steps + cem.horizon + 2) * cem.action_repeat
    size = settings.image_size
    with MetaWorldEnv(task, RenderConfig(width=size, height=size), get_variant(settings.variant),
                      max_steps=max(500, steps_cap)) as env, \
            rollout_pool("metaworld", task, settings.variant, size, steps_cap, settings.workers) as pool:
        model = MetaWorldRollout(env)
        model.reset(int(seed))
        policy = make_policy("expert", task, rng, 500, [task])
        snapshots, frames = [model.snapshot()], [model.render()]
        while not model.success() and len(snapshots) <= settings.max_expert_steps:
            a = np.asarray(policy(env.observation(), model.steps_taken), dtype=np.float64)
            for _ in range(cem.action_repeat):
                model.step(a)
            snapshots.append(model.snapshot())
            frames.append(model.render())
        expert_steps, expert_success = len(snapshots) - 1, model.success()
        where = np.unique(np.round(np.linspace(0, max(expert_steps - 1, 0), settings.points)).astype(int))
        points = []
        for p in where:
            cands, kinds = _population(model, policy, snapshots[p], cem, settings.population, rng)
            batch = rollout_candidates(model, snapshots[p], cands, cem.action_repeat, render=True,
                                       context_frames=np.stack(frames[: p + 1]) if cem.include_history
                                       else frames[p][None], max_clip_frames=cem.max_clip_frames, pool=pool)
            oracle = np.array([float(i["dense_reward"]) for i in batch.infos])
            learned = np.asarray(reward_fn(batch.clips, [model.instruction] * len(cands)), dtype=np.float64)
            best = int(np.argmax(learned))
            top_quarter = oracle >= np.quantile(oracle, 0.75)
            order = np.argsort(-learned, kind="stable")
            still = kinds.index("still")
            points.append({
                "step": int(p), "fraction": float(p / max(expert_steps, 1)),
                "spearman": _spearman(learned, oracle),
                "oracle_varies": bool(np.ptp(oracle) > 1e-3 * max(1.0, np.abs(oracle).max())),
                "top1_in_oracle_top_quarter": bool(top_quarter[best]),
                "expert_rank": int(np.nonzero(order == 0)[0][0]) + 1,
                "still_rank": int(np.nonzero(order == still)[0][0]) + 1,
                "spread": float(np.std(learned)),
                "noise_floor": _noise_floor(reward_fn, batch.clips[still], model.instruction, rng),
            })
    return {"task": task, "seed": int(seed), "expert_steps": expert_steps,
            "expert_success": bool(expert_success), "population": settings.population, "points": points}


def summarize(episodes: Sequence[dict]) -> dict:
    """Means over every measured point of the episodes (NaN-free where a value is undefined)."""
    pts = [p for e in episodes for p in e["points"]]
    if not pts:
        return {"n_points": 0}
    rho = np.array([p["spearman"] for p in pts], dtype=np.float64)
    varies = np.array([p["oracle_varies"] for p in pts])
    spread = np.array([p["spread"] for p in pts])
    floor = np.array([p["noise_floor"] for p in pts])
    pop = episodes[0]["population"]

    def nanmean(x: np.ndarray) -> float:
        x = x[np.isfinite(x)]
        return float(x.mean()) if x.size else float("nan")

    return {
        "n_points": len(pts),
        "spearman": nanmean(rho),
        "spearman_where_oracle_varies": nanmean(rho[varies]),
        "top1_hit_rate": float(np.mean([p["top1_in_oracle_top_quarter"] for p in pts])),
        "top1_chance": 0.25,
        "expert_rank_median": float(np.median([p["expert_rank"] for p in pts])),
        "still_rank_median": float(np.median([p["still_rank"] for p in pts])),
        "population": pop,
        "spread_over_noise": float(np.median(spread / np.maximum(floor, 1e-9))),
        "spread": float(np.median(spread)),
        "noise_floor": float(np.median(floor)),
    }


def planner_view(reward_fn: ClipRewardFn, settings: PlannerViewSettings, progress: bool = False) -> dict:
    """The planner's view over `settings.tasks` x `settings.seeds`: per-episode points and the
    summary (`summarize`)."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    work = [(t, s) for t in settings.tasks for s in settings.seeds]
    episodes = [measure_episode(reward_fn, t, int(s), settings)
                for t, s in tqdm(work, desc="planner view", unit="episode", disable=not progress)]
    return {"summary": summarize(episodes), "episodes": episodes,
            "seconds": round(time.perf_counter() - t0, 2)}


class OwnStateRanking:
    """The planner's view at the planner's OWN states: wraps a planner's scorer and, at every
    scoring call of an MPC episode (each CEM iteration of each planning step), compares the
    reward's scores of the candidates with the simulator's dense reward at their ends (in the
    rollouts' infos, no extra simulation). Why: along expert states a reward can rank a population
    well while at the states its planner reaches it ranks at chance (docs/planning.md measured
    both); MPC success depends on the latter."""

    def __init__(self, scorer) -> None:
        self.scorer = scorer
        self.needs_frames = scorer.needs_frames
        self.spearman: list[float] = []
        self.top1_hits: list[bool] = []

    def __call__(self, batch) -> np.ndarray:
        scores = self.scorer(batch)
        dense = np.array([float(i.get("dense_reward", np.nan)) for i in batch.infos], dtype=np.float64)
        if len(dense) >= 2 and np.all(np.isfinite(dense)):
            self.spearman.append(_spearman(np.asarray(scores, dtype=np.float64), dense))
            self.top1_hits.append(bool(dense[int(np.argmax(scores))] >= np.quantile(dense, 0.75)))
        return scores

    def summary(self) -> dict:
        """The counts (calls, top-1 hits, Spearman sum over calls where both vary) and their means."""
        rho = [r for r in self.spearman if np.isfinite(r)]
        return _ranking_stats(len(self.top1_hits), sum(self.top1_hits), len(rho), float(np.sum(rho)))


def _ranking_stats(n_calls: int, top1_hits: int, n_spearman: int, spearman_sum: float) -> dict:
    """One own-state ranking summary from its counts: an episode's, or several pooled."""
    return {"spearman": spearman_sum / n_spearman if n_spearman else float("nan"),
            "top1_hit_rate": top1_hits / n_calls if n_calls else float("nan"),
            "n_calls": n_calls, "top1_hits": top1_hits, "n_spearman": n_spearman, "spearman_sum": spearman_sum,
            "top1_chance": 0.25}


def pool_own_state_ranking(episodes: Sequence[dict]) -> Optional[dict]:
    """Episode records' `own_state_ranking` pooled over every scoring call (None: none recorded)."""
    parts = [e["own_state_ranking"] for e in episodes if e.get("own_state_ranking")]
    if not sum(p["n_calls"] for p in parts):
        return None
    return _ranking_stats(*(sum(p[k] for p in parts) for k in ("n_calls", "top1_hits", "n_spearman", "spearman_sum")))


__all__ = ["OwnStateRanking", "PlannerViewSettings", "measure_episode", "planner_view", "pool_own_state_ranking",
           "summarize"]
