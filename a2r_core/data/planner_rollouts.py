"""The planner's own attempts as training clips (`a2r data planner`): MPC with a reward, labelled by
the environment's success flag.

Why: a planner searches for whatever its reward over-scores, and finds states no training clip
shows. Measured with the progress and branch recipes on drawer-close (docs/planning.md): the CEM
drove the arm off to the side of the scene, away from the drawer, because the reward rose with it.
Such an attempt is a failure like any other, and a user gets exactly this data by running the
planner on the robot and labelling each attempt done / not done. Trained on as robot failure clips
(failure source "planner"), the four losses and the progress objective push the reward of those
states down (failures and their prefixes rank below successes), so the next planner cannot
exploit them the same way. One round of this is the "planner in the loop".

Each episode is `run_mpc` with `CEMPlanner` on `RewardModel.reward_for` (the one scoring path),
the eval's CEM settings by default, candidates rolled out in worker processes; the clip is the
executed episode (start frame + one per executed planning action) thinned to `frames` by the one
clip rule, at the planner's render size. Start seeds must not be the eval's (300, 301, 500).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from a2r_core.data.manifest import MANIFEST_NAME, append_records, read_manifest, write_manifest
from a2r_core.data.records import ClipRecord
from a2r_core.errors import ConfigError

EVAL_SEEDS = (300, 301, 500)  # the planning eval's start seeds: never trained on


@dataclass(frozen=True)
class PlannerRolloutConfig:
    checkpoint: str
    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    out_dir: str
    variant: str = "default"
    max_steps: int = 42
    image_size: int = 64
    frames: int = 16
    workers: int = 2
    cem: dict = field(default_factory=lambda: {"horizon": 8, "samples": 24, "iterations": 2, "elites": 5,
                                               "action_repeat": 2, "execute_steps": 3, "max_clip_frames": 8})

    def __post_init__(self) -> None:
        from a2r_core.sim.metaworld_env import check_task

        if not self.tasks or not self.seeds:
            raise ConfigError("a2r data planner: name at least one task and one start seed")
        for task in self.tasks:
            check_task(task)
        reused = sorted(set(self.seeds) & set(EVAL_SEEDS))
        if reused:
            raise ConfigError(f"a2r data planner: start seeds {reused} are the planning eval's; choose others")
        if not 1 <= self.max_steps <= 1000 or not 2 <= self.frames <= 256 or self.workers < 1:
            raise ConfigError("a2r data planner: max_steps in [1, 1000], frames in [2, 256], workers >= 1")


def clip_id(task: str, variant: str, seed: int) -> str:
    return f"planner/{task}/{variant}/seed_{seed:06d}"


def collect(config: PlannerRolloutConfig, progress: bool = True) -> tuple[int, int, float, Path]:
    """Run every missing episode; (generated, skipped, seconds, manifest). Resumable."""
    from tqdm import tqdm

    from a2r_core.clips import clip_indices
    from a2r_core.data.video_io import write_video
    from a2r_core.eval.online import episode_env_steps, rollout_model, rollout_pool
    from a2r_core.planning import CEMConfig, CEMPlanner, ClipRewardScorer, run_mpc
    from a2r_core.reward import RewardModel

    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / MANIFEST_NAME
    existing = read_manifest(manifest, allow_torn_tail=True) if manifest.exists() else []
    done = {r.extra.get("clip_id"): r for r in existing if (out / r.path).is_file()}
    reward = RewardModel.load(config.checkpoint)
    env_steps = episode_env_steps(config.max_steps, config.cem)
    cem = CEMConfig(**config.cem)
    todo = [(t, s) for t in config.tasks for s in config.seeds if clip_id(t, config.variant, s) not in done]
    started = time.perf_counter()
    new: list[ClipRecord] = []
    bar = tqdm(total=len(todo), desc="a2r data planner", unit="episode", disable=not progress)
    for task in config.tasks:
        seeds = [s for t, s in todo if t == task]
        if not seeds:
            continue
        with rollout_pool("metaworld", task, config.variant, config.image_size, env_steps, config.workers) as pool:
            for seed in seeds:
                with rollout_model("metaworld", task, config.variant, config.image_size, seed, env_steps) as model:
                    planner = CEMPlanner(dataclasses.replace(cem, seed=seed), model,
                                         ClipRewardScorer(reward.reward_for, model.instruction), pool=pool)
                    result = run_mpc(model, planner, max_steps=config.max_steps)
                    frames = result.frames[clip_indices(len(result.frames), config.frames)]
                    dt = float(model.env.dt) * cem.action_repeat
                    instruction = model.instruction
                ident = clip_id(task, config.variant, seed)
                path = f"clips/{ident}.mp4"
                fps = round(len(frames) / max(len(result.actions) * dt, dt), 4)  # the episode's span
                write_video(out / path, frames, fps)
                record = ClipRecord(
                    task=task, instruction=instruction, domain="robot", success=bool(result.success), path=path,
                    failure_source=None if result.success else "planner", variant=config.variant, seed=seed,
                    num_frames=len(frames), fps=fps,
                    extra={"clip_id": ident, "source": "planner", "planner_reward": str(config.checkpoint),
                           "executed_actions": int(len(result.actions)), "success_step": result.success_step,
                           "actions": [[float(a) for a in row] for row in result.actions],
                           "action_repeat": cem.action_repeat,
                           "size": config.image_size,
                           "dense_reward_end": round(float(result.infos[-1].get("dense_reward", float("nan"))), 5)
                           if result.infos else None})
                append_records(manifest, [record])
                new.append(record)
                bar.update(1)
    bar.close()
    records = {r.extra["clip_id"]: r for r in [*done.values(), *new]}
    write_manifest(manifest, [records[k] for k in sorted(records)])
    return len(new), len(done), time.perf_counter() - started, manifest


__all__ = ["EVAL_SEEDS", "PlannerRolloutConfig", "clip_id", "collect"]
