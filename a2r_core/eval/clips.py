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
- MetaWorld (a2r_core.sim, manifests of `a2r data metaworld`): test clips are read from a manifest
  directory (`metaworld_clips`; each record's extra["dense_reward"] is the oracle), training clips
  go to the trainer through the registered kind "eval_metaworld" (manifests, decoded lazily, with
  the single-source filter), and best-of-N candidate groups are rolled out here from shared start
  states (`metaworld_candidate_groups`), because the generated sets draw a new start per episode.
"""

from __future__ import annotations

import json
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from a2r_core.data.records import ClipItem, ClipRecord
from a2r_core.errors import ConfigError
from a2r_core.training.datasets import build_dataset, register_dataset

PYBULLET_POLICIES = ("expert", "other_experts", "noise", "early_stop", "random")
# MetaWorld best-of-N candidates: the task's expert, the expert of every other listed task acting in
# this scene ("other_experts"), and the failure sources of a2r_core.sim.policies.
METAWORLD_POLICIES = ("expert", "other_experts", "noise", "perturb", "early_stop", "wrong_target", "random")


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


# ---- MetaWorld ----------------------------------------------------------------------------------

def metaworld_clips(directory: str | Path, canonical_instruction: bool = True,
                    progress: bool = False) -> list[EvalClip]:
    """Every clip of an `a2r data metaworld` directory (its manifest.jsonl), all frames decoded.

    `canonical_instruction`: score each clip for its task's canonical instruction (as the other
    suites' test clips are), keeping the generated paraphrase in extra["instruction"]. The oracle
    is the record's extra["dense_reward"] (the env's dense reward at each rendered frame); clips
    made before that was recorded, or whose decoded length differs, have oracle None.
    """
    from tqdm import tqdm

    from a2r_core.data import instructions
    from a2r_core.data.manifest import MANIFEST_NAME, read_manifest, resolve_path
    from a2r_core.data.video_io import read_video

    manifest = Path(directory) / MANIFEST_NAME
    if not manifest.is_file():
        raise ConfigError(f"{directory}: no {MANIFEST_NAME} (make the set with `a2r data metaworld` or "
                          "scripts/generate_default_data.sh)")
    out = []
    for r in tqdm(read_manifest(manifest), desc=f"load {Path(directory).name}", unit="clip", disable=not progress):
        frames = read_video(resolve_path(manifest, r))
        dense = r.extra.get("dense_reward")
        oracle = np.asarray(dense, dtype=np.float64) if dense is not None and len(dense) == len(frames) else None
        text = instructions.canonical(r.task) if canonical_instruction else r.instruction
        out.append(EvalClip(frames=frames, task=r.task, instruction=text, success=r.success,
                            source=r.extra.get("source", r.failure_source or "expert"), variant=r.variant,
                            domain=r.domain, oracle=oracle,
                            extra={"clip_id": r.extra.get("clip_id", r.path), "instruction": r.instruction}))
    return out


def _metaworld_episode(env, policy, seed: int, horizon: int, frames: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """One episode from start `seed`, stopped at the first success as `a2r data metaworld` does;
    `frames` evenly spaced states rendered. Returns (frames, dense reward at those frames, success)."""
    obs = env.reset(seed)
    states, rewards, success = [env.get_state()], [0.0], False
    for t in range(horizon):
        result = env.step(policy(obs, t))
        obs, success = result.obs, result.success
        states.append(env.get_state())
        rewards.append(result.reward)
        if success:
            break
    steps = np.round(np.linspace(0, len(states) - 1, frames)).astype(int)
    return env.render_states([states[i] for i in steps]), np.asarray(rewards, dtype=np.float64)[steps], bool(success)


def metaworld_candidate_groups(tasks: Sequence[str], seeds: Sequence[int], variant: str = "default",
                               size: int = 64, frames: int = 16, horizon: int = 300,
                               policies: Sequence[str] = METAWORLD_POLICIES,
                               other_tasks: Optional[Sequence[str]] = None, progress: bool = False) -> list[EvalClip]:
    """Best-of-N candidate groups: for every (task, seed) start state, one rollout per policy
    ("other_experts": one per task of `other_tasks`, default `tasks`, other than this one), all from
    the same start. Labels: the env's success flag at the end; oracle: its dense reward per frame."""
    from tqdm import tqdm

    from a2r_core.data import instructions
    from a2r_core.sim.metaworld_env import MetaWorldEnv, RenderConfig
    from a2r_core.sim.policies import make_policy
    from a2r_core.sim.variants import get_variant

    bad = [p for p in policies if p not in METAWORLD_POLICIES]
    if bad or "expert" not in policies:
        raise ConfigError(f"metaworld policies: must include expert and be a subset of {list(METAWORLD_POLICIES)}, "
                          f"got {list(policies)}")
    others = list(tasks if other_tasks is None else other_tasks)
    out: list[EvalClip] = []
    jobs = []
    for task in tasks:
        for p in policies:
            if p == "other_experts":
                jobs += [(task, "other_expert", o) for o in others if o != task]
            else:
                jobs.append((task, p, None))
    bar = tqdm(total=len(jobs) * len(seeds), desc="metaworld best-of-N rollouts", unit="clip", disable=not progress)
    for task in tasks:
        text = instructions.canonical(task)
        with MetaWorldEnv(task, RenderConfig(width=size, height=size), get_variant(variant),
                          max_steps=horizon + 1) as env:
            for seed in seeds:
                for _, name, other in [j for j in jobs if j[0] == task]:
                    rng = np.random.default_rng([int(seed), zlib.crc32(f"{name}:{other}".encode())])
                    policy = make_policy(name, task, rng, horizon, [other] if other else [task])
                    clip, oracle, success = _metaworld_episode(env, policy, int(seed), horizon, frames)
                    out.append(EvalClip(frames=clip, task=task, instruction=text, success=success,
                                        source="other_expert" if other else name, variant=variant,
                                        group=f"{task}/{variant}/{seed}", oracle=oracle,
                                        extra={"policy": name if other is None else f"expert:{other}",
                                               "seed": int(seed)}))
                    bar.update(1)
    bar.close()
    return out


def _metaworld_dataset(params: dict) -> Dataset:
    """`kind: eval_metaworld`: the `mixed` kind over manifests; the single-source ablation's
    `failure_sources` reaches every source as ManifestDataset's own filter."""
    return build_dataset("mixed", dict(params), where="eval_metaworld")


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
register_dataset("eval_metaworld", _metaworld_dataset)
