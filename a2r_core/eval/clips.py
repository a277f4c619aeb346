"""The benchmark's clips: generated once per run, shared by every row, and fed to the trainer.

Why one module: the protocol needs the *same* clips for training every row (rows trained on the
same data in the same run) and for every row's evaluation, and the trainer only takes datasets by
kind name. So the clip sources live here, are registered as trainer dataset kinds
("eval_pybullet", "eval_synthetic"), and are cached per process by their parameters: the 10+
trainings of one benchmark run generate each split once.

Sources:
- PyBullet tabletop pushes (a2r_core.sim): for every (task, variant, seed) a *candidate group* of
  rollouts from one start state: the task's expert, the experts of every other push task
  ("wrong_direction"), the noisy expert, the early-stopping expert and a random policy. Labels are
  the env's success detector at the end; each frame also carries the env's oracle dense reward.
  The same groups serve offline metrics and best-of-N selection.
- The synthetic shapes dataset (a2r_core.data.synthetic): its human-only tasks are the "new tasks
  (second domain only)" column; it has no oracle.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from a2r_core.data.records import ClipItem, ClipRecord
from a2r_core.errors import ConfigError
from a2r_core.training.datasets import register_dataset

PYBULLET_POLICIES = ("expert", "other_experts", "noise", "early_stop", "random")


@dataclass
class EvalClip:
    """One clip as the benchmark sees it.

    frames: uint8 [T, H, W, 3]; oracle: the env's dense reward at each frame ([T]) or None where
    the source has none; group: the best-of-N candidate group ("" = none); source: the policy that
    made it (the failure source for failures).
    """

    frames: np.ndarray
    task: str
    instruction: str
    success: bool
    source: str
    variant: str = "default"
    domain: str = "robot"
    group: str = ""
    oracle: Optional[np.ndarray] = None
    extra: dict = field(default_factory=dict)

    def prefix(self, length: int) -> "EvalClip":
        """The clip's first `length` frames (and oracle values): what a reward sees mid-episode."""
        return replace(self, frames=self.frames[:length],
                       oracle=None if self.oracle is None else self.oracle[:length])


class EvalClipDataset(Dataset):
    """A trainer dataset over in-memory EvalClips (`records` + `ClipItem`s)."""

    def __init__(self, clips: Sequence[EvalClip]) -> None:
        if not clips:
            raise ConfigError("eval dataset: no clips (check tasks, seeds and failure_sources)")
        self.clips = list(clips)
        self.records = [ClipRecord(task=c.task, instruction=c.instruction, domain=c.domain, success=c.success,
                                   failure_source=None if c.success else c.source, variant=c.variant,
                                   num_frames=int(c.frames.shape[0]), extra={"group": c.group})
                        for c in self.clips]

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> ClipItem:
        c = self.clips[index]
        return ClipItem(frames=torch.from_numpy(np.ascontiguousarray(c.frames)), instruction=c.instruction,
                        task=c.task, domain=c.domain, success=c.success, index=index)


# ---- PyBullet -------------------------------------------------------------------------------------

def _policy(name: str, env, seed: int, other: Optional[str] = None):
    from a2r_core.sim.pybullet_policies import ScriptedPush, make_policy
    from a2r_core.sim.pybullet_tabletop import TASKS

    if name == "other_expert":
        return ScriptedPush(np.asarray(TASKS[other].direction, dtype=np.float64))
    return make_policy(name, env, seed=seed)


def _rollout(env, policy, steps: int, render_every: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames and the oracle reward at each rendered step (run_episode records no oracle)."""
    frames, oracle = [env.render()], [env.dense_reward()]
    for i in range(1, steps + 1):
        env.step(np.asarray(policy(env), dtype=np.float64))
        if i % render_every == 0:
            frames.append(env.render())
            oracle.append(env.dense_reward())
    return np.stack(frames), np.asarray(oracle, dtype=np.float64)


def pybullet_clips(tasks: Sequence[str], variant: str, seeds: Sequence[int],
                   policies: Sequence[str] = PYBULLET_POLICIES, steps: int = 32, render_every: int = 4,
                   image_size: int = 64, paraphrase: bool = False) -> list[EvalClip]:
    """Roll out every policy from every (task, variant, seed) start state (see the module docstring).

    `paraphrase`: training clips cycle through the task's instruction paraphrases; evaluation
    clips use the canonical one. Policy names: PYBULLET_POLICIES ("other_experts" adds one clip per
    other push task).
    """
    from a2r_core.sim.pybullet_tabletop import TASKS, TabletopConfig, TabletopEnv, instruction

    bad = [p for p in policies if p not in PYBULLET_POLICIES]
    if bad:
        raise ConfigError(f"pybullet policies: unknown {bad}; known: {list(PYBULLET_POLICIES)}")
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ConfigError(f"pybullet tasks: unknown {unknown}; known: {sorted(TASKS)}")
    out: list[EvalClip] = []
    for task in tasks:
        with TabletopEnv(TabletopConfig(task=task, variant=variant, image_size=image_size)) as env:
            for seed in seeds:
                runs = []
                for p in policies:
                    if p == "other_experts":
                        runs += [("other_expert", o) for o in TASKS if o != task]
                    else:
                        runs.append((p, None))
                text = instruction(task, int(seed) if paraphrase else 0)
                for name, other in runs:
                    env.reset(int(seed))
                    frames, oracle = _rollout(env, _policy(name, env, int(seed), other), steps, render_every)
                    source = "expert" if name == "expert" else ("wrong_direction" if other else name)
                    out.append(EvalClip(frames=frames, task=task, instruction=text, success=env.success(),
                                        source=source, variant=variant, group=f"{task}/{variant}/{seed}",
                                        oracle=oracle, extra={"policy": name if other is None else f"expert:{other}",
                                                              "seed": int(seed)}))
    return out


# ---- synthetic --------------------------------------------------------------------------------------

def synthetic_clips(params: dict, tasks: Optional[Sequence[str]] = None, domain: str = "robot") -> list[EvalClip]:
    """The robot (or human) clips of a SyntheticDataset, optionally only of `tasks`; no oracle."""
    from a2r_core.data.synthetic import SyntheticDataset

    ds = SyntheticDataset(**params)
    out = []
    for i, r in enumerate(ds.records):
        if r.domain != domain or (tasks is not None and r.task not in tasks):
            continue
        out.append(EvalClip(frames=ds.render(i), task=r.task, instruction=r.instruction, success=r.success,
                            source=r.failure_source or "success", variant=f"synthetic-{domain}", domain=domain))
    return out


def synthetic_task_instructions(params: dict) -> dict[str, list[str]]:
    from a2r_core.data.synthetic import SyntheticDataset

    return SyntheticDataset(**params).task_instructions


# ---- trainer dataset kinds (cached) -----------------------------------------------------------------

_CACHE: "OrderedDict[str, list[EvalClip]]" = OrderedDict()
_CACHE_SIZE = 8


def _cached(kind: str, params: dict, make) -> list[EvalClip]:
    key = kind + json.dumps(params, sort_keys=True, default=str)
    if key not in _CACHE:
        _CACHE[key] = make()
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    return _CACHE[key]


def _keep_sources(clips: list[EvalClip], failure_sources: Optional[Sequence[str]]) -> list[EvalClip]:
    """Successes plus the failures whose source is listed (None: all): the single-source ablation."""
    if failure_sources is None:
        return clips
    return [c for c in clips if c.success or c.source in failure_sources]


def _pybullet_dataset(params: dict) -> EvalClipDataset:
    p = dict(params)
    sources = p.pop("failure_sources", None)
    p.setdefault("paraphrase", True)
    clips = _cached("pybullet", p, lambda: pybullet_clips(**p))
    return EvalClipDataset(_keep_sources(clips, sources))


def _synthetic_dataset(params: dict) -> EvalClipDataset:
    p = dict(params)
    sources = p.pop("failure_sources", None)
    clips = _cached("synthetic", p, lambda: synthetic_clips(p, domain="robot") + synthetic_clips(p, domain="human"))
    return EvalClipDataset(_keep_sources(clips, sources))


register_dataset("eval_pybullet", _pybullet_dataset)
register_dataset("eval_synthetic", _synthetic_dataset)
