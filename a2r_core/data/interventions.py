"""Interventions: branch pairs from the planner's own states (`a2r data interventions`).

Why: measured with `a2r+loop3` (docs/planning.md), the learned reward ranks a CEM population well
along *expert* states (Spearman 0.36 with the simulator's progress, top choice in the top quarter
70 % of the time) and not at all at the states the planner itself reaches (Spearman about 0,
top choice in the top quarter at chance): every training clip that shares a history with a
candidate starts from an expert's history, never the planner's. Branch pairs
(`a2r_core.data.branches`) teach the comparison a planner makes, but only from expert states.

An intervention pair is that comparison from a state the planner reached. A planner attempt
(`a2r data planner`, its executed actions stored in the manifest) is replayed from its start seed
to a random executed step k; from there the scripted expert takes over for `future_planning_steps`
planning actions (the continuation: what a person taking the controls, as in DAgger, would do),
and a deviation does the same from the same state: the CEM's initial samples ("cem"), holding
still ("hold") or the expert with correlated noise ("noise"), as in `a2r data branches`. Both
clips are the planner's history (one frame at the start and one per executed planning action, as
`run_mpc` records it) followed by one frame per future planning action, so the trainer's clip
rule thins them exactly as the planner thins a candidate's clip. The records use the branch
manifest's layout, so `loss.progress_branches` trains on them unchanged (continuation above
deviation; pairs whose deviation succeeded are left out).

A user gets the same data on a robot by taking over from the planner's attempts for a second or
two (teleoperation or a scripted controller) and recording what the planner would have done.
The simulator's dense reward at both ends is stored for analysis (`extra["dense_reward_end"]`);
training never reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from a2r_core.data.branches import DEVIATIONS, run_pair_jobs
from a2r_core.data.manifest import read_manifest
from a2r_core.data.records import ClipRecord
from a2r_core.dataclass_config import check_int_ranges
from a2r_core.errors import ConfigError


@dataclass(frozen=True)
class InterventionConfig:
    """One intervention run: the planner attempts to branch from, and what to write."""

    planner_manifests: tuple[str, ...]
    out_dir: str
    branches_per_episode: int = 3
    future_planning_steps: int = 8   # the default planner's horizon (8 actions)
    cem_std: float = 0.6             # the CEM's init_std (fraction of the half range)
    include_successes: bool = False  # also branch from attempts that succeeded
    seed: int = 0
    workers: int = 1
    crf: int = 18

    def __post_init__(self) -> None:
        if not self.planner_manifests:
            raise ConfigError("a2r data interventions: name at least one planner manifest (--from)")
        for path in self.planner_manifests:
            if not Path(path).is_file():
                raise ConfigError(f"a2r data interventions: {path} does not exist (make it with `a2r data planner`)")
        check_int_ranges(self, {"branches_per_episode": (1, 100), "future_planning_steps": (1, 100),
                                "workers": (1, 256), "crf": (0, 51)}, "a2r data interventions: ")
        if not 0.0 < self.cem_std <= 2.0:
            raise ConfigError(f"a2r data interventions: cem_std must be in (0, 2], got {self.cem_std}")


@dataclass(frozen=True)
class InterventionSpec:
    """One pair: the attempt (`record`) and the branch number."""

    record: ClipRecord
    branch: int

    @property
    def deviation(self) -> str:
        return DEVIATIONS[self.branch % len(DEVIATIONS)]

    @property
    def clip_id(self) -> str:
        source = self.record.extra["clip_id"].replace("planner/", "", 1)
        return f"intervention/{source}_b{self.branch:02d}"


def attempts(config: InterventionConfig) -> list[ClipRecord]:
    """The planner attempts to branch from (each must carry its executed actions)."""
    records = []
    for path in config.planner_manifests:
        for record in read_manifest(path):
            if record.extra.get("source") != "planner" or "actions" not in record.extra:
                raise ConfigError(f"a2r data interventions: {path} is not a planner manifest with executed "
                                  "actions (made by `a2r data planner` before it stored them, or by another "
                                  "command); run `a2r data planner` again")
            if config.include_successes or not record.success:
                records.append(record)
    return records


def intervention_specs(config: InterventionConfig) -> list[InterventionSpec]:
    return [InterventionSpec(r, b) for r in attempts(config) for b in range(config.branches_per_episode)]


def _future(model, kind: str, expert, steps: int, repeat: int, cem_std: float,
            rng: np.random.Generator) -> tuple[list[np.ndarray], float, bool]:
    """`steps` planning actions of `kind` from the model's state, one frame after each; the
    frames, the dense reward after the last step and the success flag at the end."""
    frames, info = [], {}
    noise = np.zeros(4)
    std = float(rng.uniform(0.5, 1.0))
    for _ in range(steps):
        if kind == "expert":
            action = np.clip(expert.get_action(model.env.observation()), -1.0, 1.0)
        elif kind == "cem":
            action = np.clip(rng.normal(0.0, cem_std, size=4), -1.0, 1.0)
        elif kind == "hold":
            action = np.zeros(4)
        else:  # noise: the expert plus smooth correlated noise
            noise = 0.9 * noise + np.sqrt(1 - 0.81) * rng.normal(0.0, std, size=4)
            action = np.clip(expert.get_action(model.env.observation()) + noise, -1.0, 1.0)
        for _ in range(repeat):
            info = model.step(action)
        frames.append(model.render())
    return frames, float(info.get("dense_reward", float("nan"))), bool(model.success())


def generate_pair(spec: InterventionSpec, config: InterventionConfig, out_dir: Path) -> ClipRecord:
    """Replay the attempt to a random executed step, branch there, write both clips."""
    from a2r_core.data.video_io import write_video
    from a2r_core.planning.parallel import MetaWorldModelFactory
    from a2r_core.sim.policies import expert as make_expert

    record = spec.record
    actions = np.asarray(record.extra["actions"], dtype=np.float64)
    repeat = int(record.extra["action_repeat"])
    size = int(record.extra.get("size", 64))
    steps = config.future_planning_steps
    rng = np.random.default_rng([config.seed, int(record.seed), spec.branch, 11])
    k = int(rng.integers(0, len(actions) + 1))  # executed planning actions before the branch
    max_env_steps = max(500, (len(actions) + steps + 2) * repeat)
    model = MetaWorldModelFactory(record.task, record.variant, size, max_env_steps, int(record.seed))()
    try:
        history = [model.render()]
        for action in actions[:k]:
            for _ in range(repeat):
                model.step(action)
            history.append(model.render())
        branch_state = model.snapshot()
        expert = make_expert(record.task)
        cont, cont_reward, cont_success = _future(model, "expert", expert, steps, repeat, config.cem_std, rng)
        model.restore(branch_state)
        dev, dev_reward, dev_success = _future(model, spec.deviation, expert, steps, repeat, config.cem_std, rng)
        dt = float(model.env.dt) * repeat
    finally:
        model.env.close()
    fps = round(1.0 / dt, 4)
    path = f"clips/{spec.clip_id}_deviation.mp4"
    pair_path = f"clips/{spec.clip_id}_continuation.mp4"
    write_video(out_dir / path, np.stack(history + dev), fps, crf=config.crf)
    write_video(out_dir / pair_path, np.stack(history + cont), fps, crf=config.crf)
    return ClipRecord(
        task=record.task, instruction=record.instruction, domain="robot", success=dev_success, path=path,
        failure_source=None if dev_success else f"intervention_{spec.deviation}", variant=record.variant,
        seed=int(record.seed), num_frames=len(history) + steps, fps=fps,
        extra={"clip_id": spec.clip_id, "pair_path": pair_path, "deviation": spec.deviation,
               "source": "intervention", "attempt": record.extra["clip_id"], "branch_step": k,
               "future_steps": steps * repeat, "action_repeat": repeat, "size": size,
               "continuation_success": cont_success,
               "dense_reward_end": {"continuation": round(cont_reward, 5), "deviation": round(dev_reward, 5)}})


def _work(job: tuple[InterventionSpec, InterventionConfig, Path]) -> ClipRecord:
    return generate_pair(*job)


def generate_interventions(config: InterventionConfig, progress: bool = True) -> tuple[int, int, float, Path]:
    """Make every missing pair; (generated, skipped, seconds, manifest path). Resumable."""
    out = Path(config.out_dir)
    def jobs_for(done: set) -> list:
        return [(s, config, out) for s in intervention_specs(config) if s.clip_id not in done]

    return run_pair_jobs(out, jobs_for, _work, config.workers, "a2r data interventions", progress)


def summary(records: Sequence[ClipRecord]) -> dict[str, int]:
    """Pairs per deviation, and how many continuations / deviations reached success."""
    counts: dict[str, int] = {}
    for r in records:
        counts[r.extra["deviation"]] = counts.get(r.extra["deviation"], 0) + 1
    counts["continuation succeeded"] = sum(bool(r.extra.get("continuation_success")) for r in records)
    counts["deviation succeeded (left out)"] = sum(bool(r.success) for r in records)
    return counts


__all__ = ["InterventionConfig", "InterventionSpec", "attempts", "generate_interventions", "generate_pair",
           "intervention_specs", "summary"]
