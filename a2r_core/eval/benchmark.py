"""The benchmark protocol (shared/design.md "How we judge reward quality"), end to end.

One run: build the clips of every suite once; for every row, train it through the project's trainer
(`a2r_core.train.train`) on the *same* training clips, then score every column's clips through the
row's scorer; compute the offline metrics per column, the online ones where a simulator exists;
collect everything into one results dict that `a2r_core.eval.report` writes out.

Suites and their columns (split by task and by environment variant, never by clip):
- "pybullet" (a2r_core.sim.pybullet_tabletop): trained on the default variant's training seeds.
  Columns: `default` (seen tasks, seen env, held-out seeds) and `viewpoint`, `distractors`,
  `viewpoint+distractors` (seen tasks, new env variants: the paper's two robustness settings).
  Online: best-of-N selection per column over each start state's candidate group, and MPC success
  rate (CEM with the simulator's state restore as dynamics, a2r_core.planning).
  The oracle row is the env's dense reward (`TabletopEnv.dense_reward`, all four push tasks).
- "synthetic" (a2r_core.data.synthetic): trained on robot clips of the first `robot_tasks` tasks plus
  human-domain clips of all tasks. Columns: `seen` (seen tasks, seen env, a held-out draw) and
  `new_tasks` (tasks present only in the second domain, judged on their robot clips). No simulator,
  so no online metrics and no oracle.
- "metaworld" (a2r_core.eval.metaworld): trained on `a2r data metaworld` manifests (robot clips of
  the seen tasks in the default env + the alternate embodiment as second domain), validated on
  held-out variants. Columns: `seen`, `new_envs` (and `new_envs:<variant>`), `new_tasks` (tasks seen
  only in the alternate embodiment), `best_of_n` (candidate groups from shared start states).
  Online: best-of-N on those groups and MPC (CEM over `MetaWorldRollout`). The oracle row is the
  env's dense reward recorded with every clip (extra["dense_reward"]). A row may be evaluated from
  a given checkpoint (`metaworld.checkpoints`) instead of being trained.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from a2r_core.dataclass_config import build_dataclass, read_yaml_mapping
from a2r_core.errors import ConfigError
from a2r_core.output_dirs import published_dir
from a2r_core.eval import online
from a2r_core.eval.cells import COLUMN_KINDS, Column, cell, score_clips  # noqa: F401 (Column: tests)
from a2r_core.eval.cells import prefix_lengths as _prefix_lengths  # noqa: F401 (tests, older callers)
from a2r_core.eval.clips import (
    PYBULLET_POLICIES,
    pybullet_clips,
    synthetic_clips,
    synthetic_task_instructions,
)
from a2r_core.eval.metaworld import MetaWorldSuite, metaworld_columns, resolve
from a2r_core.eval.rows import (
    DVDScorer,
    ModelScorer,
    OracleScorer,
    RandomScorer,
    RowScorer,
    RowSpec,
    parse_row,
)

@dataclass
class MPCSettings:
    """MPC success rate: rows planned with, start states, and the CEM settings (a2r_core.planning).

    Without `columns`, one cell per row: `tasks` x `seeds` in `variant`. With `columns` (name ->
    {tasks: [...], variants: [...], seeds: [...]}, each optional, defaulting to `tasks` / [variant]
    / `seeds`), one cell per (row, column), each over its tasks x variants x seeds. image_size: the renders the reward
    scores (None: the suite's image size; the model's input size is cheapest, docs/planning.md);
    workers: processes that roll candidates out (MetaWorld; 1 = in-process).
    """

    rows: list[str] = field(default_factory=lambda: ["a2r", "oracle", "random"])
    tasks: list[str] = field(default_factory=lambda: ["push_left"])
    seeds: list[int] = field(default_factory=lambda: [200])
    variant: str = "default"
    max_steps: int = 12
    cem: dict = field(default_factory=dict)
    columns: Optional[dict] = None
    image_size: Optional[int] = None
    workers: int = 1

    def __post_init__(self) -> None:
        from a2r_core.planning import CEMConfig

        for r in self.rows:
            parse_row(r)
        if self.columns is not None:
            if not isinstance(self.columns, dict) or not self.columns:
                raise ConfigError("mpc.columns: a non-empty mapping of column name -> {tasks, variants}")
            for name, col in self.columns.items():
                if not isinstance(col, dict) or set(col) - {"tasks", "variants", "seeds"}:
                    raise ConfigError(f"mpc.columns.{name}: a mapping with optional keys tasks, variants, seeds")
                if not all(col.get(k, True) for k in ("tasks", "variants", "seeds")):
                    raise ConfigError(f"mpc.columns.{name}: tasks, variants and seeds must be non-empty")
        if not isinstance(self.workers, int) or self.workers < 1:
            raise ConfigError(f"mpc.workers: must be an integer >= 1, got {self.workers!r}")
        if self.image_size is not None and self.image_size < 16:
            raise ConfigError(f"mpc.image_size: must be >= 16, got {self.image_size}")
        if self.max_steps < 1:
            raise ConfigError(f"mpc.max_steps: must be >= 1, got {self.max_steps}")
        if not self.tasks or not self.seeds:
            raise ConfigError("mpc: tasks and seeds must be non-empty")
        build_dataclass(CEMConfig, self.cem, "mpc.cem")


@dataclass
class PybulletSuite:
    """The PyBullet suite: tasks, rollout length, seeds per split, evaluation variants."""

    tasks: list[str] = field(default_factory=lambda: ["push_left", "push_right", "push_away", "push_towards"])
    image_size: int = 64
    steps: int = 32
    render_every: int = 4
    train_seeds: list[int] = field(default_factory=lambda: list(range(8)))
    val_seeds: list[int] = field(default_factory=lambda: [50, 51])
    eval_seeds: list[int] = field(default_factory=lambda: [100, 101, 102])
    variants: list[str] = field(default_factory=lambda: ["default", "viewpoint", "distractors",
                                                         "viewpoint+distractors"])
    policies: list[str] = field(default_factory=lambda: list(PYBULLET_POLICIES))
    best_of_n: bool = True
    mpc: Optional[MPCSettings] = None

    def __post_init__(self) -> None:
        from a2r_core.sim.pybullet_tabletop import TASKS, VARIANTS

        if not self.tasks or any(t not in TASKS for t in self.tasks):
            raise ConfigError(f"pybullet.tasks: must be a non-empty subset of {sorted(TASKS)}, got {self.tasks}")
        if not self.variants or any(v not in VARIANTS for v in self.variants):
            raise ConfigError(f"pybullet.variants: must be a non-empty subset of {list(VARIANTS)}, got {self.variants}")
        if "expert" not in self.policies or any(p not in PYBULLET_POLICIES for p in self.policies):
            raise ConfigError(f"pybullet.policies: must include expert and be a subset of {list(PYBULLET_POLICIES)}")
        splits = [set(self.train_seeds), set(self.val_seeds), set(self.eval_seeds)]
        if not all(splits) or any(a & b for i, a in enumerate(splits) for b in splits[i + 1:]):
            raise ConfigError("pybullet: train_seeds, val_seeds and eval_seeds must be non-empty and disjoint")
        if self.steps < 1 or self.render_every < 1 or self.image_size < 16:
            raise ConfigError("pybullet: steps >= 1, render_every >= 1 and image_size >= 16 required")
        if isinstance(self.mpc, dict):
            self.mpc = build_dataclass(MPCSettings, self.mpc, "pybullet.mpc")

    def split(self, seeds: list[int]) -> dict:
        """Trainer dataset parameters (kind "eval_pybullet") of the default variant over `seeds`."""
        return {"tasks": list(self.tasks), "variant": "default", "seeds": list(seeds), "policies": list(self.policies),
                "steps": self.steps, "render_every": self.render_every, "image_size": self.image_size}


@dataclass
class SyntheticSuite:
    """The synthetic suite: SyntheticDataset parameters of the training, validation and test draws.
    `test` overrides `train`'s parameters for the evaluation draw (use another seed)."""

    train: dict = field(default_factory=lambda: {"num_tasks": 6, "robot_tasks": 4, "success_per_task": 8,
                                                 "failure_per_task": 9, "human_per_task": 8, "size": 32, "seed": 0})
    val: dict = field(default_factory=lambda: {"num_tasks": 6, "robot_tasks": 4, "success_per_task": 4,
                                               "failure_per_task": 3, "human_per_task": 0, "size": 32, "seed": 1})
    test: dict = field(default_factory=lambda: {"success_per_task": 6, "failure_per_task": 6, "seed": 2})

    def __post_init__(self) -> None:
        from a2r_core.data.synthetic import SyntheticConfig

        for name in ("train", "val"):
            build_dataclass(SyntheticConfig, getattr(self, name), f"synthetic.{name}")
        if self.test_params()["seed"] in (self.train.get("seed", 0), self.val.get("seed", 0)):
            raise ConfigError("synthetic.test: needs a seed different from train's and val's (a disjoint draw)")

    def test_params(self) -> dict:
        from a2r_core.data.synthetic import SyntheticConfig

        p = {**self.train, **self.test}
        p["robot_tasks"] = p.get("num_tasks", SyntheticConfig.num_tasks)  # robot clips of every task
        p["human_per_task"] = 0
        build_dataclass(SyntheticConfig, p, "synthetic.test")
        return p


@dataclass
class EvalConfig:
    """A benchmark run (config/eval_quick.yaml, config/eval_full.yaml).

    rows: row names (a2r_core.eval.rows); train: the base training config for every trained row
    (the trainer's YAML sections except `data` and `output_dir`; each row sets loss.objective,
    model.num_failure_prompts and the kept failure sources; MetaWorld may name its own file);
    synthetic / pybullet / metaworld: the suites (null leaves a suite out); progress: tqdm bars;
    max_prefixes: score each clip's growing prefixes (value order, curves) at most at this many
    evenly spaced lengths, the whole clip always included (null: after every frame). Scoring
    prefixes is clips x frames model calls, the largest cost of a long test set.
    """

    rows: list[str] = field(default_factory=lambda: ["a2r", "no_failure_data", "bce_only", "dvd", "oracle", "random"])
    train: dict = field(default_factory=dict)
    synthetic: Optional[SyntheticSuite] = None
    pybullet: Optional[PybulletSuite] = None
    metaworld: Optional[MetaWorldSuite] = None
    seed: int = 0
    progress: bool = True
    max_prefixes: Optional[int] = None

    def __post_init__(self) -> None:
        if self.max_prefixes is not None and self.max_prefixes < 2:
            raise ConfigError(f"max_prefixes: must be >= 2 (or null: every frame), got {self.max_prefixes}")
        if not self.rows:
            raise ConfigError("rows: at least one row is required")
        if len(set(self.rows)) != len(self.rows):
            raise ConfigError(f"rows: duplicates in {self.rows}")
        self.specs = [parse_row(r) for r in self.rows]
        if isinstance(self.synthetic, dict):
            self.synthetic = build_dataclass(SyntheticSuite, self.synthetic, "synthetic")
        if isinstance(self.pybullet, dict):
            self.pybullet = build_dataclass(PybulletSuite, self.pybullet, "pybullet")
        if isinstance(self.metaworld, dict):
            self.metaworld = build_dataclass(MetaWorldSuite, self.metaworld, "metaworld")
        if self.synthetic is None and self.pybullet is None and self.metaworld is None:
            raise ConfigError("at least one suite (synthetic, pybullet, metaworld) is required")
        if not isinstance(self.train, dict):
            raise ConfigError("train: must be a mapping (the base training config)")
        for key in ("data", "output_dir"):
            if key in self.train:
                raise ConfigError(f"train.{key}: set by the benchmark per suite and row; remove it")
        if self.metaworld is not None:
            self._check_metaworld()
        for suite, sources in self.failure_sources().items():
            for spec in self.suite_rows(suite):
                bad = [x for x in (spec.failure_sources or ()) if x not in sources]
                if bad:
                    raise ConfigError(f"rows: {spec.name}: suite {suite} has no failure source {bad[0]!r}; "
                                      f"its sources: {sorted(sources)}")
        if self.pybullet is not None and self.pybullet.mpc is not None:
            missing = [r for r in self.pybullet.mpc.rows if r not in self.rows]
            if missing:
                raise ConfigError(f"pybullet.mpc.rows: {missing} are not in rows")
        # Fail now, not after an hour of training, on a bad base training config.
        self.train_config(RowSpec("a2r", "trained"), "synthetic", {"num_tasks": 2, "robot_tasks": 2},
                          {"num_tasks": 2, "robot_tasks": 2, "seed": 1})
        if self.metaworld is not None:
            self.train_config(RowSpec("a2r", "trained"), "metaworld", {}, {})

    def _check_metaworld(self) -> None:
        m = self.metaworld
        if m.rows is not None:
            unknown = [r for r in m.rows if r not in self.rows]
            if unknown or not m.rows:
                raise ConfigError(f"metaworld.rows: must be a non-empty subset of rows; not in rows: {unknown}")
        names = [s.name for s in self.suite_rows("metaworld")]
        for row in m.checkpoints:
            if row not in names or parse_row(row).kind != "trained":
                raise ConfigError(f"metaworld.checkpoints: {row!r} is not a trained row of the MetaWorld suite "
                                  f"({[n for n in names if parse_row(n).kind == 'trained']})")
        if isinstance(m.mpc, dict):
            m.mpc = build_dataclass(MPCSettings, m.mpc, "metaworld.mpc")
        if m.mpc is not None:
            from a2r_core.sim.metaworld_env import check_task
            from a2r_core.sim.variants import get_variant

            missing = [r for r in m.mpc.rows if r not in names]
            if missing:
                raise ConfigError(f"metaworld.mpc.rows: {missing} are not MetaWorld rows")
            for col in _mpc_columns(m.mpc).values():
                for t in col["tasks"]:
                    check_task(t)
                for v in col["variants"]:
                    get_variant(v)

    def suite_rows(self, suite: str) -> list[RowSpec]:
        """The rows that run on `suite` (MetaWorld may run a subset: `metaworld.rows`)."""
        if suite == "metaworld" and self.metaworld is not None and self.metaworld.rows is not None:
            return [s for s in self.specs if s.name in self.metaworld.rows]
        return list(self.specs)

    def failure_sources(self) -> dict[str, set[str]]:
        """Failure sources of each enabled suite's training clips (for single_source rows)."""
        out = {}
        if self.synthetic is not None:
            from a2r_core.data.synthetic import FAILURE_SOURCES

            out["synthetic"] = set(FAILURE_SOURCES)
        if self.pybullet is not None:
            names = {"other_experts": "wrong_direction", "noise": "noise", "early_stop": "early_stop",
                     "random": "random"}
            out["pybullet"] = {names[p] for p in self.pybullet.policies if p in names}
        if self.metaworld is not None:
            from a2r_core.sim.policies import FAILURE_SOURCES

            out["metaworld"] = set(FAILURE_SOURCES)
        return out

    def train_config(self, row: RowSpec, kind: str, train: dict, val: dict):
        """The TrainConfig of `row` on suite data `kind` ("synthetic" | "pybullet" | "metaworld");
        MetaWorld's base is `metaworld.train_config`'s file when it names one."""
        from a2r_core.training.config import config_from_dict

        base = self.metaworld.read_train_config()[0] if kind == "metaworld" else None
        raw = copy.deepcopy(self.train if base is None else base)
        raw.setdefault("seed", self.seed)
        extra = {} if row.failure_sources is None else {"failure_sources": list(row.failure_sources)}
        raw["data"] = {"kind": f"eval_{kind}", "train": {**train, **extra}, "val": dict(val)}
        raw["loss"] = {**(raw.get("loss") or {}), "objective": row.objective, "progress": row.progress}
        raw["loss"].pop("progress_branches", None)
        if row.loop:
            raise ConfigError(f"eval row {row.name}: its training data comes from another checkpoint's planner "
                              "(config/train_loop.yaml); give the trained checkpoint in metaworld.checkpoints")
        if row.branches:
            if kind != "metaworld" or self.metaworld.data is None:
                raise ConfigError(f"eval row {row.name}: branch pairs exist for the MetaWorld suite with "
                                  "metaworld.data only")
            raw["loss"]["progress_branches"] = str(self.metaworld.data.branch_manifest())
        if "num_frames" in raw["data"]["train"]:
            # the paper's rows: the model's frame count per clip, sampled with jitter; progress rows:
            # twice that (every stored frame of the default MetaWorld set), so prefixes can be cut
            frames = (raw.get("model") or {}).get("num_frames", 8)
            raw["data"]["train"] = {**raw["data"]["train"], "num_frames": 2 * frames if row.progress else frames}
        if row.num_failure_prompts is not None:
            raw["model"] = {**(raw.get("model") or {}), "num_failure_prompts": row.num_failure_prompts}
        raw["runtime"] = {**(raw.get("runtime") or {}), "progress": self.progress}
        return config_from_dict(raw, f"eval train config (row {row.name}, suite {kind})")


def only_rows(raw: dict, rows: Sequence[str], where: str) -> dict:
    """The raw eval config restricted to `rows` (each must be one of its rows): the top-level rows
    and every suite's and MPC's row list keep the selected ones, in the config's order. For
    re-running some rows of a config (`a2r eval --rows`) with everything else as written."""
    known = list(raw.get("rows") or [])
    unknown = [r for r in rows if r not in known]
    if unknown:
        raise ConfigError(f"{where}: --rows {unknown} are not rows of this config ({', '.join(known)})")
    raw = copy.deepcopy(raw)
    raw["rows"] = [r for r in known if r in rows]
    for suite in ("synthetic", "pybullet", "metaworld"):
        part = raw.get(suite)
        if not isinstance(part, dict):
            continue
        if part.get("rows") is not None:
            part["rows"] = [r for r in part["rows"] if r in rows]
            if not part["rows"]:
                raw[suite] = None  # no selected row runs on this suite
                continue
        mpc = part.get("mpc")
        if isinstance(mpc, dict) and mpc.get("rows") is not None:
            mpc["rows"] = [r for r in mpc["rows"] if r in rows]
            if not mpc["rows"]:
                part["mpc"] = None
        if isinstance(part.get("checkpoints"), dict):
            part["checkpoints"] = {k: v for k, v in part["checkpoints"].items() if k in rows}
    return raw


def load_eval_config(path: str | Path, rows: Optional[Sequence[str]] = None) -> EvalConfig:
    """Read an eval YAML file (yaml.safe_load; unknown keys are errors naming the file); with
    `rows`, only those rows of it (`only_rows`)."""
    path = Path(path)
    raw = read_yaml_mapping(path, "eval config")
    if rows:
        raw = only_rows(raw, rows, str(path))
    try:
        return build_dataclass(EvalConfig, raw, str(path))
    except ConfigError as exc:
        raise ConfigError(str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}") from exc


# ---- columns -------------------------------------------------------------------------------------

def _synthetic_columns(s: SyntheticSuite) -> tuple[list[Column], dict[str, str], dict]:
    test = s.test_params()
    instr = synthetic_task_instructions(test)
    seen = sorted({t for t, _ in list(instr.items())[: s.train.get("robot_tasks", 4)]})
    candidates = {t: v[0] for t, v in instr.items()}
    new = [t for t in instr if t not in seen]
    cols = [Column("synthetic", "seen", COLUMN_KINDS[0], synthetic_clips(test, tasks=seen), candidates)]
    if new:
        cols.append(Column("synthetic", "new_tasks", COLUMN_KINDS[2], synthetic_clips(test, tasks=new), candidates))
    task_of = {text: t for t, v in instr.items() for text in v}
    return cols, task_of, {"train": dict(s.train), "val": dict(s.val)}


def _pybullet_columns(s: PybulletSuite) -> tuple[list[Column], dict[str, str], dict]:
    from a2r_core.sim.pybullet_tabletop import load_instructions

    instr = {t: v for t, v in load_instructions().items() if t in s.tasks}
    candidates = {t: v[0] for t, v in instr.items()}
    cols = []
    for variant in s.variants:
        clips = pybullet_clips(s.tasks, variant, s.eval_seeds, s.policies, s.steps, s.render_every, s.image_size)
        kind = COLUMN_KINDS[0] if variant == "default" else COLUMN_KINDS[1]
        cols.append(Column("pybullet", variant, kind, clips, candidates, online=s.best_of_n))
    task_of = {text: t for t, v in instr.items() for text in v}
    return cols, task_of, {"train": s.split(s.train_seeds), "val": s.split(s.val_seeds)}


# ---- scoring -------------------------------------------------------------------------------------

def evaluate_column_parts(scorer: RowScorer, column: Column, max_prefixes: Optional[int] = None) -> dict[str, dict]:
    """Cells of one row on one column: {column.key: whole column} plus, with `per_variant`,
    {f"{column.key}:{variant}": that variant's clips}, all from one scoring pass (a2r_core.eval.cells)."""
    sc = score_clips(scorer, column.clips, column.candidates, max_prefixes)
    clips = column.clips
    out = {column.key: cell(sc, clips, np.ones(len(clips), dtype=bool), column.online)}
    if isinstance(scorer, OracleScorer):
        lacking = sum(c.oracle is None for c in clips)
        if lacking:
            out[column.key]["note"] = (f"{lacking} of {len(clips)} clips carry no env dense reward "
                                       "(extra['dense_reward']: clips made before it was recorded); the oracle "
                                       "is undefined for them")
    if column.per_variant:
        variants = np.array([c.variant for c in clips])
        for v in sorted(set(variants)):
            out[f"{column.key}:{v}"] = cell(sc, clips, variants == v, column.online)
    return out


def evaluate_column(scorer: RowScorer, column: Column, max_prefixes: Optional[int] = None) -> dict:
    """Offline (and best-of-N) metrics of one row on one column, plus what the plots need."""
    return evaluate_column_parts(scorer, column, max_prefixes)[column.key]


def _demos(dataset, seed: int) -> dict[str, list[np.ndarray]]:
    """Up to 8 demonstrations per task (successes and second-domain clips, as DVD's trainer picks
    them), decoded only for the chosen clips (a manifest training set stays on disk)."""
    rng = np.random.default_rng(seed)
    by_task: dict[str, list[int]] = {}
    for i, r in enumerate(dataset.records):
        if r.success or r.domain == "human":
            by_task.setdefault(r.task, []).append(i)
    return {t: [dataset[v[i]]["frames"].numpy() for i in sorted(rng.choice(len(v), size=min(8, len(v)), replace=False))]
            for t, v in by_task.items()}


def _build_scorer(spec: RowSpec, cfg: EvalConfig, suite: str, data: dict, task_of: dict[str, str],
                  run_dir: Path) -> tuple[RowScorer, dict]:
    """The row's scorer and, for a trained row, what its training did (or which checkpoint it was
    given: `metaworld.checkpoints` evaluates that directory instead of training)."""
    if spec.kind == "oracle":
        return OracleScorer(), {}
    if spec.kind == "random":
        return RandomScorer(cfg.seed), {}
    from a2r_core.train import train
    from a2r_core.training.datasets import build_dataset

    given = cfg.metaworld.checkpoints.get(spec.name) if suite == "metaworld" else None
    # a given checkpoint needs no training config, unless its scorer reads the training data (dvd);
    # +loop rows have none the eval could build
    tcfg = cfg.train_config(spec, suite, data["train"], data["val"]) if given is None or spec.output == "dvd" else None
    if given is not None:
        best_dir = resolve(given)
        if not (best_dir / "model.safetensors").is_file():
            raise ConfigError(f"metaworld.checkpoints.{spec.name}: {given}: not a checkpoint directory "
                              "(no model.safetensors)")
        info = {"checkpoint": str(given), "given": True}
    else:
        t0 = time.perf_counter()
        result = train(tcfg, output_dir=run_dir)
        best_dir = result.best_dir
        info = {"train_seconds": round(time.perf_counter() - t0, 2), "best_metric": result.best_metric,
                "metric_name": result.metric_name, "epochs": result.epochs_done, "steps": result.step,
                "checkpoint": "/".join(run_dir.parts[-3:]) + "/best", "given": False}
    if spec.output == "dvd":
        params = dict(tcfg.data.train)
        params.pop("augment", None)  # demonstrations as recorded, not augmented
        train_set = build_dataset(tcfg.data.kind, params)
        return DVDScorer(best_dir, _demos(train_set, cfg.seed), task_of, tcfg.loss.dvd_hidden), info
    return ModelScorer(best_dir, output=spec.output, reward_mode=spec.reward_mode), info


def _suites(cfg: EvalConfig, tmp: Path) -> list[tuple]:
    """(name, columns, instruction -> task, trainer data params) of every enabled suite."""
    suites = []
    if cfg.synthetic is not None:
        suites.append(("synthetic",) + _synthetic_columns(cfg.synthetic))
    if cfg.pybullet is not None:
        suites.append(("pybullet",) + _pybullet_columns(cfg.pybullet))
    if cfg.metaworld is not None:
        m = cfg.metaworld
        dirs = m.data.check() if m.data is not None else m.generate.run(tmp / "data" / "metaworld", cfg.progress)
        suites.append(("metaworld",) + metaworld_columns(m, dirs, cfg.train, cfg.progress))
    return suites


def _mpc_settings(cfg: EvalConfig, suite: str):
    """(MPCSettings, image size) of a suite's MPC, or (None, 0)."""
    if suite == "pybullet" and cfg.pybullet.mpc is not None:
        return cfg.pybullet.mpc, cfg.pybullet.image_size
    if suite == "metaworld" and cfg.metaworld.mpc is not None:
        return cfg.metaworld.mpc, cfg.metaworld.image_size
    return None, 0


def _mpc_columns(m: MPCSettings) -> dict[str, dict]:
    """Column name -> {tasks, variants, seeds} of an MPC setting ("" names the single implicit column)."""
    if m.columns is None:
        return {"": {"tasks": list(m.tasks), "variants": [m.variant], "seeds": list(m.seeds)}}
    return {name: {"tasks": list(col.get("tasks", m.tasks)), "variants": list(col.get("variants", [m.variant])),
                   "seeds": list(col.get("seeds", m.seeds))} for name, col in m.columns.items()}


def run_benchmark(cfg: EvalConfig, out_dir: str | Path, profile: str = "custom") -> dict:
    """Run the whole protocol; write results, tables and plots to `out_dir` atomically; return the
    results dict (also in `out_dir/results.json`)."""
    from tqdm import tqdm

    from a2r_core.eval import report

    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out}: already exists and is not an empty directory; choose another --out")
    if cfg.metaworld is not None and cfg.metaworld.data is not None:
        cfg.metaworld.data.check()  # before making anything: name the generator script if missing
    t_start = time.perf_counter()
    with published_dir(out) as tmp:  # mode as mkdir gives (0755 under umask 022), not mkdtemp's 0700
        suites = _suites(cfg, tmp)
        results: dict = {"profile": profile, "rows": cfg.rows, "columns": [], "cells": {}, "train": {},
                         "checkpoints": {}, "mpc": {}, "planner_view": {},
                         "oracle_tasks": list(cfg.pybullet.tasks) if cfg.pybullet else [],
                         "config": _plain(cfg)}
        for name, cols, _, _ in suites:
            for c in cols:
                results["columns"].append({"key": c.key, "suite": name, "name": c.name, "kind": c.kind,
                                           "online": c.online, "n_clips": len(c.clips),
                                           "n_success": sum(x.success for x in c.clips),
                                           "candidate_tasks": sorted(c.candidates)})
                if c.per_variant:
                    for v in sorted({x.variant for x in c.clips}):
                        part = [x for x in c.clips if x.variant == v]
                        results["columns"].append({"key": f"{c.key}:{v}", "suite": name, "name": f"{c.name}:{v}",
                                                   "kind": c.kind, "online": c.online, "part_of": c.key,
                                                   "n_clips": len(part), "n_success": sum(x.success for x in part)})
        work = [(s, spec) for s in suites for spec in cfg.suite_rows(s[0])]
        bar = tqdm(work, desc="eval", unit="row", disable=not cfg.progress)
        for (suite, cols, task_of, data), spec in bar:
            bar.set_postfix_str(f"{suite}/{spec.name}")
            if spec.kind == "oracle" and suite == "synthetic":
                continue  # no simulator, no dense reward
            scorer, info = _build_scorer(spec, cfg, suite, data, task_of,
                                         tmp / "runs" / suite / spec.name.replace(":", "_"))
            if info.get("given"):
                results["checkpoints"][f"{suite}/{spec.name}"] = info["checkpoint"]
            elif info:
                results["train"][f"{suite}/{spec.name}"] = info
            for c in cols:
                results["cells"].setdefault(spec.name, {}).update(evaluate_column_parts(scorer, c, cfg.max_prefixes))
            m, image_size = _mpc_settings(cfg, suite)
            if m is not None and spec.name in m.rows:
                for name, col in _mpc_columns(m).items():
                    key = f"{suite}/{spec.name}" + (f"/{name}" if name else "")
                    results["mpc"][key] = {"column": name or m.variant, **online.mpc_success(
                        scorer, spec, col["tasks"], col["seeds"], m.variant, m.image_size or image_size, m.max_steps,
                        m.cem, sim=suite, variants=col["variants"], workers=m.workers, progress=cfg.progress)}
            view = cfg.metaworld.planner_view if suite == "metaworld" and cfg.metaworld is not None else None
            if view is not None and spec.kind != "oracle":
                from a2r_core.eval.planner_view import planner_view

                results["planner_view"][f"{suite}/{spec.name}"] = planner_view(online.clip_reward_fn(scorer), view)
        results["wall_seconds"] = round(time.perf_counter() - t_start, 1)
        report.write_all(results, tmp)
    return results


def _plain(cfg: EvalConfig) -> dict:
    """The config as plain data for results.json."""
    d = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        d[f.name] = dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v
    return d
