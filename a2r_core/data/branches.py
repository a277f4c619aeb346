"""Branch pairs: from one state of a demonstration, its own continuation against a deviation.

Why: a planner compares many short futures that all start from the same executed history and asks
which one got furthest; whole-episode clips (successes, failures and their prefixes) never show the
model two attempts that share a history and then part. A branch pair does: the scripted expert of
an episode runs to a branch step k; from there the expert's own next `future_steps` steps are one
clip, and `future_steps` steps of a deviation from the same state are the other (both from the
episode start, so the shared history is in both). The deviations are what a planner's candidates
look like: "cem" (the CEM's initial samples: Gaussian actions held for `action_repeat` steps),
"hold" (the arm stops), "noise" (the expert with correlated noise). The pair is ranked, continuation
above deviation, by the progress objective (`a2r_core.training.branch_pairs`).

A user can make the same data on a robot: replay a demonstration to some point and perturb or stop
it there (as interventions in DAgger-style data collection do); the only label used for training
is the order "the demonstration's continuation is at least as good", dropped where the deviation
itself succeeded (the environment's success flag).

Every pair starts from the episode of the same index and run seed as `a2r data metaworld`'s expert
clip (same object positions), and is a pure function of (run seed, task, variant, index, branch).
The record of a pair is the deviation's clip; `extra["pair_path"]` is the continuation's clip,
sampled at the same `frames` steps over [0, k + future_steps]. The simulator's dense reward at the
end of both is stored for analysis (`extra["dense_reward_end"]`); training never reads it.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from a2r_core.data.generate import EpisodeSpec, close_envs
from a2r_core.dataclass_config import check_int_ranges
from a2r_core.data.manifest import MANIFEST_NAME, append_records, read_manifest, write_manifest
from a2r_core.data.records import ClipRecord
from a2r_core.errors import ConfigError

DEVIATIONS: tuple[str, ...] = ("cem", "hold", "noise")


@dataclass(frozen=True)
class BranchConfig:
    """One branch-pair run (`a2r data branches`)."""

    tasks: tuple[str, ...]
    out_dir: str
    episodes: int = 20
    branches_per_episode: int = 4
    future_steps: int = 16          # the default planner's horizon: 8 actions x action_repeat 2
    action_repeat: int = 2
    cem_std: float = 0.6            # the CEM's init_std (fraction of the half range)
    variant: str = "default"
    seed: int = 0
    workers: int = 1
    size: int = 112
    frames: int = 16
    horizon: int = 300
    crf: int = 18

    def __post_init__(self) -> None:
        from a2r_core.sim.metaworld_env import check_task
        from a2r_core.sim.variants import get_variant

        if not self.tasks:
            raise ConfigError("BranchConfig.tasks must name at least one task")
        for task in self.tasks:
            check_task(task)
        get_variant(self.variant)
        check_int_ranges(self, {"episodes": (1, 100_000), "branches_per_episode": (1, 1000), "future_steps": (1, 1000),
                                "action_repeat": (1, 100), "workers": (1, 256), "size": (16, 1024), "frames": (2, 256),
                                "horizon": (2, 10_000), "crf": (0, 51)}, "BranchConfig.")
        if not 0.0 < self.cem_std <= 2.0:
            raise ConfigError(f"BranchConfig.cem_std must be in (0, 2], got {self.cem_std}")
        if self.size % 2:
            raise ConfigError(f"BranchConfig.size must be even (h264 yuv420p), got {self.size}")


@dataclass(frozen=True)
class BranchSpec:
    task: str
    variant: str
    index: int      # the expert episode's index (same seed as `a2r data metaworld`'s expert_<index>)
    branch: int

    @property
    def deviation(self) -> str:
        return DEVIATIONS[self.branch % len(DEVIATIONS)]

    @property
    def clip_id(self) -> str:
        return f"branch/{self.task}/{self.variant}/{self.index:04d}_b{self.branch:02d}"

    def episode_seed(self, run_seed: int) -> int:
        return EpisodeSpec("robot", self.task, self.variant, "expert", self.index).seed(run_seed)


def branch_specs(config: BranchConfig) -> list[BranchSpec]:
    return [BranchSpec(task, config.variant, index, b) for task in config.tasks
            for index in range(config.episodes) for b in range(config.branches_per_episode)]


def _deviation_actions(kind: str, expert, env, steps: int, config: BranchConfig,
                       rng: np.random.Generator) -> tuple[list, list, bool]:
    """Run `steps` steps of the deviation from env's current state; (states, dense rewards, success)."""
    states, rewards, success = [], [], False
    held = np.zeros(4)
    noise = np.zeros(4)
    std, smooth = float(rng.uniform(0.5, 1.0)), 0.9
    obs = env.observation()
    for t in range(steps):
        if kind == "cem":
            if t % config.action_repeat == 0:
                held = np.clip(rng.normal(0.0, config.cem_std, size=4), -1.0, 1.0)
            action = held
        elif kind == "hold":
            action = np.zeros(4)
        else:
            noise = smooth * noise + np.sqrt(1 - smooth**2) * rng.normal(0.0, std, size=4)
            action = np.clip(expert.get_action(obs) + noise, -1.0, 1.0)
        result = env.step(action)
        obs, success = result.obs, result.success
        states.append(env.get_state())
        rewards.append(result.reward)
    return states, rewards, bool(success)


def generate_pair(spec: BranchSpec, config: BranchConfig) -> ClipRecord:
    """Roll out the expert, branch it at a random step, render and write both clips."""
    from a2r_core.data.generate import cached_env, rollout
    from a2r_core.data.video_io import write_video
    from a2r_core.sim.policies import expert as make_expert

    episode = EpisodeSpec("robot", spec.task, spec.variant, "expert", spec.index)
    env = cached_env(episode, config.size, config.horizon)
    seed = spec.episode_seed(config.seed)
    rng = np.random.default_rng([seed, 3, spec.branch])
    # The expert's episode as `a2r data metaworld` rolls it out, kept future_steps past its first
    # success so a late branch still has a continuation.
    run = rollout(env, episode, config.seed, config.horizon, config.future_steps, (spec.task,))
    states, rewards, first, instruction = run.states, run.rewards, run.first_success_step, run.instruction
    done = first if first is not None else len(states) - 1
    k = int(rng.integers(0, max(1, min(done, len(states) - 1 - config.future_steps) + 1)))
    end = min(k + config.future_steps, len(states) - 1)
    continuation = states[: end + 1]

    # The deviation from the same state: replay the expert to k (deterministic), then deviate.
    expert = make_expert(spec.task)
    obs = env.reset(seed)
    for _ in range(k):
        obs = env.step(np.clip(expert.get_action(obs), -1.0, 1.0)).obs
    dev_states, dev_rewards, dev_success = _deviation_actions(spec.deviation, expert, env, end - k, config, rng)
    deviation = states[: k + 1] + dev_states

    sample = np.round(np.linspace(0, end, config.frames)).astype(int)
    fps = round(config.frames / max(end * env.dt, env.dt), 4)
    out = Path(config.out_dir)
    path = f"clips/{spec.clip_id}_deviation.mp4"
    pair_path = f"clips/{spec.clip_id}_continuation.mp4"
    write_video(out / path, env.render_states([deviation[i] for i in sample]), fps, crf=config.crf)
    write_video(out / pair_path, env.render_states([continuation[i] for i in sample]), fps, crf=config.crf)
    return ClipRecord(
        task=spec.task, instruction=instruction, domain="robot", success=dev_success, path=path,
        failure_source=None if dev_success else f"branch_{spec.deviation}", variant=spec.variant,
        seed=seed, num_frames=config.frames, fps=fps,
        extra={"clip_id": spec.clip_id, "pair_path": pair_path, "deviation": spec.deviation,
               "branch_step": k, "future_steps": end - k, "expert_first_success": first,
               "sample_steps": [int(s) for s in sample], "size": config.size,
               "dense_reward_end": {"continuation": round(float(rewards[end]), 5),
                                    "deviation": round(float((rewards[: k + 1] + dev_rewards)[end]), 5)}})


def _work(job: tuple[BranchSpec, BranchConfig]) -> ClipRecord:
    return generate_pair(*job)


def run_pair_jobs(out_dir: str | Path, jobs_for: Callable[[set], list], work: Callable, workers: int, desc: str,
                  progress: bool = True, cleanup: Optional[Callable[[], None]] = None) -> tuple[int, int, float, Path]:
    """The resumable loop of a pair generator (`a2r data branches`, `a2r data interventions`): the
    pairs already in `out_dir` whose two clips exist are kept, `jobs_for(done clip ids)` gives the
    missing ones, `work(job)` makes one (in `workers` spawned processes when > 1) and each record is
    appended as it arrives, so an interrupted run resumes. (generated, skipped, seconds, manifest)."""
    from tqdm import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / MANIFEST_NAME
    existing = read_manifest(manifest, allow_torn_tail=True) if manifest.exists() else []
    done = {r.extra.get("clip_id"): r for r in existing
            if (out / r.path).is_file() and (out / r.extra.get("pair_path", "")).is_file()}
    jobs = jobs_for(set(done))
    started = time.perf_counter()
    new: list[ClipRecord] = []
    bar = tqdm(total=len(jobs), desc=desc, unit="pair", disable=not progress)
    pool: Optional[mp.pool.Pool] = None
    try:
        if workers == 1 or len(jobs) <= 1:
            results = map(work, jobs)
        else:
            pool = mp.get_context("spawn").Pool(workers)
            results = pool.imap_unordered(work, jobs, chunksize=max(1, len(jobs) // (workers * 8)))
        for record in results:
            append_records(manifest, [record])
            new.append(record)
            bar.update(1)
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()
        if cleanup is not None:
            cleanup()
    records = {r.extra["clip_id"]: r for r in [*done.values(), *new]}
    write_manifest(manifest, [records[k] for k in sorted(records)])
    return len(new), len(done), time.perf_counter() - started, manifest


def generate_branches(config: BranchConfig, progress: bool = True) -> tuple[int, int, float, Path]:
    """Make every missing pair of `config`; (generated, skipped, seconds, manifest path). Resumable."""
    def jobs_for(done: set) -> list:
        return [(s, config) for s in branch_specs(config) if s.clip_id not in done]

    return run_pair_jobs(config.out_dir, jobs_for, _work, config.workers, "a2r data branches", progress,
                         cleanup=close_envs)


__all__ = ["BranchConfig", "BranchSpec", "DEVIATIONS", "branch_specs", "generate_branches", "generate_pair",
           "run_pair_jobs"]
