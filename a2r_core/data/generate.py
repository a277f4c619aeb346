"""MetaWorld rollouts -> labelled clips on disk (`a2r data metaworld`).

One *episode spec* (domain, task, variant, source, index) fully determines an episode: its seed is
derived from the run seed and the spec's names, so the same run seed gives the same object
positions, actions, instruction, frames and manifest, whatever the number of workers or the order
they finish in, and a resumed run regenerates exactly the clips that are missing.

An episode runs the source's policy for up to `horizon` steps and stops when the environment first
reports success, as MetaWorld's own evaluation does (terminate on success); `success_tail` keeps
that many steps more. The label is the environment's own success flag at the last step, never the
source's intent (with a tail, a task can be undone after its first success: several experts, e.g.
coffee-button or handle-press, let go and the flag drops again, and such clips are failures): a noisy expert that still succeeds is a success clip, an expert that
fails is a failure clip with failure_source "expert". Simulator states are recorded at every step
and only the `frames` states at the clip's sample times are rendered.

The alternate-embodiment domain ("alt": arm hidden, gripper restyled, other camera; see
`a2r_core.sim.variants`) stands in for human video; its records carry domain "human" and
extra["embodiment"] == "alt", because that is the role they play in training.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import multiprocessing as mp
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from a2r_core.data.manifest import MANIFEST_NAME, append_records, read_manifest, write_manifest
from a2r_core.data.records import ClipRecord
from a2r_core.errors import ConfigError

GENERATION_FILE = "generation.json"
_DOMAINS = ("robot", "alt")
# What must match for a resumed run to add to an existing directory.
_FIXED_ON_RESUME = ("size", "frames", "horizon", "success_tail", "seed", "crf")


@dataclass(frozen=True)
class GenerateConfig:
    """One generation run. `sources` defaults to every source for the robot domain and to the
    expert alone for the alternate embodiment (its clips play the human demonstrations)."""

    tasks: tuple[str, ...]
    out_dir: str
    episodes_per_source: int = 5
    sources: Optional[tuple[str, ...]] = None
    domain: str = "robot"
    variants: tuple[str, ...] = ("default",)
    seed: int = 0
    workers: int = 1
    size: int = 112
    frames: int = 16
    horizon: int = 300
    success_tail: int = 0
    crf: int = 18

    def __post_init__(self) -> None:
        from a2r_core.sim.metaworld_env import check_task
        from a2r_core.sim.policies import SOURCES
        from a2r_core.sim.variants import get_variant

        if not self.tasks:
            raise ConfigError("GenerateConfig.tasks must name at least one task")
        for task in self.tasks:
            check_task(task)
        if self.domain not in _DOMAINS:
            raise ConfigError(f"domain must be one of {_DOMAINS}, got {self.domain!r}")
        if self.sources is None:
            object.__setattr__(self, "sources", SOURCES if self.domain == "robot" else ("expert",))
        for source in self.sources or ():
            if source not in SOURCES:
                raise ConfigError(f"unknown source {source!r}; known: {', '.join(SOURCES)}")
        if not self.variants:
            raise ConfigError("GenerateConfig.variants must name at least one variant")
        for variant in self.variants:
            get_variant(variant)
        checks = {"episodes_per_source": (1, 100_000), "workers": (1, 256), "size": (16, 1024),
                  "frames": (2, 256), "horizon": (2, 10_000), "success_tail": (0, 10_000),
                  "crf": (0, 51)}
        for name, (low, high) in checks.items():
            value = getattr(self, name)
            if not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"GenerateConfig.{name} must be an int in [{low}, {high}], got {value!r}")
        if self.size % 2:
            raise ConfigError(f"GenerateConfig.size must be even (h264 yuv420p), got {self.size}")


@dataclass(frozen=True)
class EpisodeSpec:
    """Names one episode; everything else about it follows from these and the run seed."""

    domain: str
    task: str
    variant: str
    source: str
    index: int

    @property
    def clip_id(self) -> str:
        return f"{self.domain}/{self.task}/{self.variant}/{self.source}_{self.index:04d}"

    @property
    def rel_path(self) -> str:
        return f"clips/{self.clip_id}.mp4"

    def seed(self, run_seed: int) -> int:
        """A 63-bit episode seed from the run seed and the spec's names (stable across Python
        versions and processes, unlike hash())."""
        words = [zlib.crc32(s.encode()) for s in (self.domain, self.task, self.variant, self.source)]
        sequence = np.random.SeedSequence([run_seed % (2**32), *words, self.index])
        return int(sequence.generate_state(2, dtype=np.uint32).astype(np.uint64).dot([1, 2**31]))


def episode_specs(config: GenerateConfig) -> list[EpisodeSpec]:
    """Every episode of a run, in the manifest's order."""
    return [EpisodeSpec(config.domain, task, variant, source, index)
            for task in config.tasks for variant in config.variants
            for source in config.sources or () for index in range(config.episodes_per_source)]


@dataclass
class EpisodeResult:
    """What one rollout produced before rendering."""

    states: list
    rewards: list  # the environment's dense reward after each step (rewards[0]: 0.0, the reset)
    success: bool
    first_success_step: Optional[int]
    steps: int
    instruction: str


def rollout(env, spec: EpisodeSpec, run_seed: int, horizon: int, success_tail: int,
            all_tasks: Sequence[str]) -> EpisodeResult:
    """Run one episode in `env` (a MetaWorldEnv of spec.task); record the state after each step."""
    from a2r_core.data.instructions import pick
    from a2r_core.sim.policies import make_policy

    seed = spec.seed(run_seed)
    policy = make_policy(spec.source, spec.task, np.random.default_rng([seed, 1]), horizon, all_tasks)
    instruction = pick(spec.task, np.random.default_rng([seed, 2]))
    obs = env.reset(seed)
    states = [env.get_state()]
    rewards = [0.0]
    first, success = None, False
    for t in range(horizon):
        result = env.step(policy(obs, t))
        obs, success = result.obs, result.success
        states.append(env.get_state())
        rewards.append(result.reward)
        if success and first is None:
            first = t + 1
        if first is not None and t + 1 >= first + success_tail:
            break
    return EpisodeResult(states, rewards, bool(success), first, len(states) - 1, instruction)


class _EnvCache:
    """A few MetaWorld envs per worker process, keyed by (task, variant, domain): building one
    costs ~0.2 s plus a GL context, and consecutive specs usually share it."""

    def __init__(self, size: int, keep: int = 4) -> None:
        self.size, self.keep = size, keep
        self.envs: dict[tuple[str, str, str], object] = {}

    def get(self, spec: EpisodeSpec, horizon: int):
        from a2r_core.sim.metaworld_env import MetaWorldEnv, RenderConfig
        from a2r_core.sim.variants import for_domain, get_variant

        key = (spec.task, spec.variant, spec.domain)
        if key not in self.envs:
            if len(self.envs) >= self.keep:
                oldest = next(iter(self.envs))
                self.envs.pop(oldest).close()
            variant = for_domain(spec.domain, get_variant(spec.variant))
            self.envs[key] = MetaWorldEnv(spec.task, RenderConfig(width=self.size, height=self.size),
                                          variant, max_steps=horizon + 1)
            # (Re-)register after MuJoCo's EGL module registered its own exit hook: atexit runs
            # last-registered first, and the contexts must be freed before EGL terminates.
            atexit.unregister(close_envs)
            atexit.register(close_envs)
        return self.envs[key]

    def close(self) -> None:
        while self.envs:
            self.envs.popitem()[1].close()


_CACHE: Optional[_EnvCache] = None


def close_envs() -> None:
    """Free this process's cached envs and GL contexts (also run at exit: EGL must be torn down
    before the interpreter unloads it, or it prints errors)."""
    global _CACHE
    if _CACHE is not None:
        _CACHE.close()
        _CACHE = None


def cached_env(spec: EpisodeSpec, size: int, horizon: int):
    """This process's MetaWorldEnv for spec's (task, variant, domain) at `size` px (see _EnvCache)."""
    global _CACHE
    if _CACHE is None or _CACHE.size != size:
        close_envs()
        _CACHE = _EnvCache(size)
    return _CACHE.get(spec, horizon)


def generate_clip(spec: EpisodeSpec, config: GenerateConfig, all_tasks: Sequence[str]) -> ClipRecord:
    """Roll out, render and write one clip; return its manifest record (path relative to out_dir)."""
    from a2r_core.data.video_io import write_video

    env = cached_env(spec, config.size, config.horizon)
    result = rollout(env, spec, config.seed, config.horizon, config.success_tail, all_tasks)
    sample_steps = np.round(np.linspace(0, len(result.states) - 1, config.frames)).astype(int)
    frames = env.render_states([result.states[i] for i in sample_steps])
    duration = max(result.steps, 1) * env.dt
    fps = round(config.frames / duration, 4)
    write_video(Path(config.out_dir) / spec.rel_path, frames, fps, crf=config.crf)
    failure_source = None if result.success else spec.source
    return ClipRecord(
        task=spec.task, instruction=result.instruction,
        domain="robot" if spec.domain == "robot" else "human",
        success=result.success, path=spec.rel_path, failure_source=failure_source,
        variant=spec.variant, seed=spec.seed(config.seed), num_frames=int(frames.shape[0]), fps=fps,
        extra={"clip_id": spec.clip_id, "source": spec.source, "index": spec.index,
               "embodiment": "sawyer" if spec.domain == "robot" else "alt",
               "episode_steps": result.steps, "first_success_step": result.first_success_step,
               "sample_steps": [int(s) for s in sample_steps], "size": config.size,
               "dense_reward": [round(float(result.rewards[i]), 5) for i in sample_steps]},
    )


def _work(job: tuple[EpisodeSpec, GenerateConfig, tuple[str, ...]]) -> ClipRecord:
    return generate_clip(*job)


@dataclass
class GenerateReport:
    """What a run did: clips made now, clips found done, label counts, wall time."""

    generated: int
    skipped: int
    seconds: float
    manifest: Path
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def episodes_per_second(self) -> float:
        return self.generated / self.seconds if self.seconds > 0 else 0.0


def _check_resume(out: Path, config: GenerateConfig) -> None:
    meta = out / GENERATION_FILE
    if not meta.exists():
        return
    try:
        previous = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{meta} is unreadable ({exc}); remove it or use another --out") from exc
    for key in _FIXED_ON_RESUME:
        if key in previous and previous[key] != getattr(config, key):
            raise ConfigError(f"{out} was generated with {key}={previous[key]!r}, this run asks for "
                              f"{getattr(config, key)!r}; use another --out to mix settings")


def _write_meta(out: Path, config: GenerateConfig) -> None:
    meta = out / GENERATION_FILE
    previous = json.loads(meta.read_text(encoding="utf-8")) if meta.exists() else {}
    runs = previous.get("runs", [])
    current = dataclasses.asdict(config)
    runs.append({k: current[k] for k in ("tasks", "domain", "variants", "sources", "episodes_per_source")})
    current.pop("out_dir")
    current.pop("workers")
    current["runs"] = runs
    tmp = meta.with_name(meta.name + ".tmp")
    tmp.write_text(json.dumps(current, indent=2, sort_keys=True, default=list) + "\n", encoding="utf-8")
    tmp.replace(meta)


def generate(config: GenerateConfig, progress: bool = True) -> GenerateReport:
    """Generate every missing clip of `config` into config.out_dir and (re)write its manifest,
    sorted by clip id so the file is the same however the work was split."""
    from tqdm import tqdm

    from a2r_core.sim.metaworld_env import task_names

    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_resume(out, config)
    manifest = out / MANIFEST_NAME
    existing = read_manifest(manifest, allow_torn_tail=True) if manifest.exists() else []
    done = {r.extra.get("clip_id"): r for r in existing if (out / r.path).is_file()}
    todo = [s for s in episode_specs(config) if s.clip_id not in done]
    all_tasks = tuple(task_names())
    started = time.perf_counter()
    new: list[ClipRecord] = []
    jobs = [(spec, config, all_tasks) for spec in todo]
    bar = tqdm(total=len(jobs), desc=f"a2r data {config.domain}", unit="clip", disable=not progress)
    try:
        if config.workers == 1 or len(jobs) <= 1:
            for job in jobs:
                record = _work(job)
                append_records(manifest, [record])
                new.append(record)
                bar.update(1)
        else:
            # spawn: workers start clean (no inherited GL or torch thread state).
            context = mp.get_context("spawn")
            chunk = max(1, min(config.episodes_per_source, len(jobs) // (config.workers * 4) or 1))
            with context.Pool(config.workers) as pool:
                for record in pool.imap_unordered(_work, jobs, chunksize=chunk):
                    append_records(manifest, [record])
                    new.append(record)
                    bar.update(1)
    finally:
        bar.close()
        close_envs()
    seconds = time.perf_counter() - started
    records = {r.extra["clip_id"]: r for r in [*done.values(), *new]}
    write_manifest(manifest, [records[k] for k in sorted(records)])
    _write_meta(out, config)
    counts = Counter(("success" if r.success else f"failure:{r.failure_source}") for r in records.values())
    return GenerateReport(len(new), len(done), seconds, manifest, dict(sorted(counts.items())))


def summary_plot(manifest: Path, out_png: Path) -> Path:
    """Bar chart of success rate per source and task, for a person checking a generated set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_manifest(manifest)
    tasks = sorted({r.task for r in records})
    sources = sorted({r.extra.get("source", r.failure_source or "expert") for r in records})
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(sources) * max(1, len(tasks)) ** 0.5), 4))
    width = 0.8 / max(1, len(tasks))
    for i, task in enumerate(tasks):
        rates = []
        for source in sources:
            group = [r for r in records if r.task == task and r.extra.get("source") == source]
            rates.append(np.mean([r.success for r in group]) if group else np.nan)
        ax.bar(np.arange(len(sources)) + i * width, rates, width, label=task)
    ax.set_xticks(np.arange(len(sources)) + 0.4 - width / 2, sources, rotation=30)
    ax.set_ylabel("success rate (env flag)")
    ax.set_ylim(0, 1)
    ax.set_title(f"{manifest.parent.name}: {len(records)} clips")
    if len(tasks) <= 12:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png


