"""The benchmark's MetaWorld suite: its config, its data (named directories or a tiny in-run set),
and its columns.

Why its own module: MetaWorld is the one suite whose data already exists on disk (manifests made
by `a2r data metaworld` / scripts/generate_default_data.sh) and whose rows may be trained from a
separate training recipe (config/train_default.yaml) or taken from a shipped checkpoint. The
benchmark machinery (rows, metrics, report) is shared with the other suites; only the clip sources
and the settings live here.

Data layout (scripts/generate_default_data.sh; all six are `a2r data metaworld` directories):
  robot           training: seen tasks, default env, every source
  alt             training: the alternate embodiment (the second, "human" domain), more tasks
  val             validation (checkpoint selection): seen tasks, held-out variants
  test_seen       column metaworld/seen: seen tasks, seen env, new seeds
  test_new_envs   column metaworld/new_envs: seen tasks, held-out variants (+ one column per variant)
  test_new_tasks  column metaworld/new_tasks: tasks the robot never trained on (alt domain only)
  test_new_tasks_2 (optional) column metaworld/new_tasks_2: a second set of such tasks, seeds apart,
                  so that one lucky set of new tasks cannot carry the number
A new-task column's instruction top-1 is among its own tasks (5-way for the default sets); the
seen columns' is among every task of the suite.
Relative paths are taken from the current directory, else from the source tree's root.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional


from a2r_core.dataclass_config import build_dataclass
from a2r_core.errors import ConfigError

DATA_DIRS = ("robot", "alt", "val", "test_seen", "test_new_envs", "test_new_tasks")
OPTIONAL_DIRS = ("test_new_tasks_2",)
NEW_TASK_SETS = ("test_new_tasks", "test_new_tasks_2")  # data directory -> column name without "test_"
GENERATE_SCRIPT = "scripts/generate_default_data.sh"
SOURCE_ROOT = Path(__file__).resolve().parents[2]


def resolve(path: str | Path) -> Path:
    """A config path: absolute, else relative to the current directory if it exists there, else to
    the source tree (so `--profile full` works from anywhere in an editable install)."""
    p = Path(path)
    if p.is_absolute() or p.exists() or not (SOURCE_ROOT / p).exists():
        return p
    return SOURCE_ROOT / p


@dataclass
class MetaWorldData:
    """The data directories (see the module docstring); defaults: data/default/*."""

    robot: str = "data/default/robot"
    alt: str = "data/default/alt"
    val: str = "data/default/robot_new_envs"
    test_seen: str = "data/default/test_seen"
    test_new_envs: str = "data/default/test_new_envs"
    test_new_tasks: str = "data/default/test_new_tasks"
    test_new_tasks_2: Optional[str] = None  # a second new-task set (scripts/generate_default_data.sh)
    branches: Optional[str] = None   # `a2r data branches` output, for ROW+branches rows

    def branch_manifest(self) -> Path:
        """The branch-pair manifest ROW+branches rows train with; ConfigError naming the generator."""
        from a2r_core.data.manifest import MANIFEST_NAME

        path = resolve(self.branches) / MANIFEST_NAME if self.branches else None
        if path is None or not path.is_file():
            raise ConfigError(f"+branches rows need metaworld.data.branches: a directory made by `a2r data "
                              f"branches` (got {self.branches!r}); see config/train_branches.yaml")
        return path

    def dirs(self) -> dict[str, Path]:
        names = DATA_DIRS + tuple(n for n in OPTIONAL_DIRS if getattr(self, n) is not None)
        return {name: resolve(getattr(self, name)) for name in names}

    def check(self) -> dict[str, Path]:
        """The directories, each holding a manifest; ConfigError naming the generator otherwise."""
        from a2r_core.data.manifest import MANIFEST_NAME

        dirs = self.dirs()
        missing = [f"metaworld.data.{k} = {v}" for k, v in dirs.items() if not (v / MANIFEST_NAME).is_file()]
        if missing:
            raise ConfigError(f"MetaWorld data missing ({'; '.join(missing)}: no {MANIFEST_NAME}). Make the "
                              f"default set with `{GENERATE_SCRIPT}` (from the repository root), or point "
                              "metaworld.data at your own `a2r data metaworld` directories")
        return dirs


@dataclass
class MetaWorldGenerate:
    """A tiny set generated in-run into OUT/data/metaworld/ with the layout (and the seed offsets)
    of scripts/generate_default_data.sh: for the quick profile and tests."""

    tasks: list[str] = field(default_factory=lambda: ["drawer-close-v3", "button-press-v3"])
    new_tasks: list[str] = field(default_factory=lambda: ["door-close-v3"])
    new_tasks_2: list[str] = field(default_factory=list)  # a second new-task set (empty: none)
    held_out_variants: list[str] = field(default_factory=lambda: ["cam_left"])
    alt_variants: list[str] = field(default_factory=lambda: ["default"])
    episodes_per_source: int = 1
    size: int = 32
    frames: int = 8
    horizon: int = 150
    seed: int = 0

    def __post_init__(self) -> None:
        from a2r_core.sim.metaworld_env import check_task
        from a2r_core.sim.variants import get_variant

        if not self.tasks or not self.new_tasks:
            raise ConfigError("metaworld.generate: tasks and new_tasks must be non-empty")
        shared = (set(self.tasks) & set(self.new_tasks + self.new_tasks_2)) | (set(self.new_tasks) & set(self.new_tasks_2))
        if shared:
            raise ConfigError(f"metaworld.generate: tasks, new_tasks and new_tasks_2 must not share tasks: {sorted(shared)}")
        for t in self.tasks + self.new_tasks + self.new_tasks_2:
            check_task(t)
        if not self.held_out_variants or not self.alt_variants:
            raise ConfigError("metaworld.generate: held_out_variants and alt_variants must be non-empty")
        if "default" in self.held_out_variants:
            raise ConfigError("metaworld.generate.held_out_variants: 'default' is the training env, not held out")
        for v in self.held_out_variants + self.alt_variants:
            get_variant(v)
        self.configs(Path("."))  # GenerateConfig's own checks (size, frames, horizon, ...)

    def configs(self, root: Path) -> dict:
        """name -> GenerateConfig of each data directory under `root`."""
        from a2r_core.data.generate import GenerateConfig

        common = {"episodes_per_source": self.episodes_per_source, "size": self.size, "frames": self.frames,
                  "horizon": self.horizon}
        tasks, held = tuple(self.tasks), tuple(self.held_out_variants)
        out = {
            "robot": GenerateConfig(tasks=tasks, out_dir=str(root / "robot"), seed=self.seed, **common),
            "alt": GenerateConfig(tasks=tasks + tuple(self.new_tasks + self.new_tasks_2), out_dir=str(root / "alt"),
                                  domain="alt",
                                  variants=tuple(self.alt_variants), seed=self.seed, **common),
            "val": GenerateConfig(tasks=tasks, out_dir=str(root / "val"), variants=held, seed=self.seed + 1, **common),
            "test_seen": GenerateConfig(tasks=tasks, out_dir=str(root / "test_seen"), seed=self.seed + 2, **common),
            "test_new_envs": GenerateConfig(tasks=tasks, out_dir=str(root / "test_new_envs"), variants=held,
                                            seed=self.seed + 3, **common),
            "test_new_tasks": GenerateConfig(tasks=tuple(self.new_tasks), out_dir=str(root / "test_new_tasks"),
                                             seed=self.seed + 4, **common),
        }
        if self.new_tasks_2:
            out["test_new_tasks_2"] = GenerateConfig(tasks=tuple(self.new_tasks_2), out_dir=str(root / "test_new_tasks_2"),
                                                     seed=self.seed + 5, **common)
        return out

    def run(self, root: Path, progress: bool = False) -> dict[str, Path]:
        from a2r_core.data.generate import generate

        out = {}
        for name, gcfg in self.configs(root).items():
            generate(gcfg, progress=progress)
            out[name] = Path(gcfg.out_dir)
        return out


@dataclass
class MetaWorldBestOfN:
    """Best-of-N candidate groups rolled out in-run (a2r_core.eval.clips.metaworld_candidate_groups):
    one group per (task, seed) start state of `variant`; `other_tasks` (default: `tasks`) give the
    other-task experts; `frames` per clip (default: the suite's)."""

    tasks: list[str] = field(default_factory=lambda: ["drawer-close-v3"])
    seeds: list[int] = field(default_factory=lambda: [1000])
    variant: str = "default"
    policies: Optional[list[str]] = None
    other_tasks: Optional[list[str]] = None
    horizon: int = 300
    frames: Optional[int] = None

    def __post_init__(self) -> None:
        from a2r_core.eval.clips import METAWORLD_POLICIES
        from a2r_core.sim.metaworld_env import check_task
        from a2r_core.sim.variants import get_variant

        if not self.tasks or not self.seeds:
            raise ConfigError("tasks and seeds must be non-empty")
        for t in self.tasks + list(self.other_tasks or []):
            check_task(t)
        get_variant(self.variant)
        if self.policies is None:
            self.policies = list(METAWORLD_POLICIES)
        if "expert" not in self.policies or any(p not in METAWORLD_POLICIES for p in self.policies):
            raise ConfigError(f"policies: must include expert and be a subset of "
                              f"{list(METAWORLD_POLICIES)}")
        if self.horizon < 2 or (self.frames is not None and self.frames < 2):
            raise ConfigError("horizon >= 2 and frames >= 2 required")


@dataclass
class MetaWorldSuite:
    """The MetaWorld suite (docs/evaluation.md).

    rows: which of the top-level rows run here (None: all); data / generate: exactly one (named
    directories, or a tiny set made in-run); train_config: a training YAML whose sections (except
    data and output_dir) are the base config of this suite's trained rows (None: the eval's `train:`);
    checkpoints: row -> checkpoint directory evaluated instead of training that row; image_size: the
    best-of-N and MPC renders (None: generate.size, else 112); frames: frames per best-of-N clip
    (None: generate.frames, else 16); per_variant: also one column per held-out variant;
    best_of_n / best_of_n_new_tasks: candidate groups of seen / of new tasks (None: no column);
    planner_view: where the planner's ranking of every non-oracle row is measured
    (a2r_core.eval.planner_view; None: not measured).
    """

    rows: Optional[list[str]] = None
    data: Optional[MetaWorldData] = None
    generate: Optional[MetaWorldGenerate] = None
    train_config: Optional[str] = None
    checkpoints: dict = field(default_factory=dict)
    image_size: Optional[int] = None
    frames: Optional[int] = None
    per_variant: bool = True
    best_of_n: Optional[MetaWorldBestOfN] = None
    best_of_n_new_tasks: Optional[MetaWorldBestOfN] = None  # candidate groups of tasks the robot never did
    mpc: Optional[object] = None  # benchmark.MPCSettings (built by EvalConfig, which owns that class)
    planner_view: Optional[object] = None  # planner_view.PlannerViewSettings: the planner's ranking

    def __post_init__(self) -> None:
        if isinstance(self.data, dict):
            self.data = build_dataclass(MetaWorldData, self.data, "metaworld.data")
        if isinstance(self.generate, dict):
            self.generate = build_dataclass(MetaWorldGenerate, self.generate, "metaworld.generate")
        if (self.data is None) == (self.generate is None):
            raise ConfigError("metaworld: set exactly one of `data` (directories made by "
                              f"{GENERATE_SCRIPT}) and `generate` (a tiny set made in-run)")
        for name in ("best_of_n", "best_of_n_new_tasks"):  # one spec type, named by its field in errors
            if isinstance(getattr(self, name), dict):
                where = f"metaworld.{name}"
                try:
                    setattr(self, name, build_dataclass(MetaWorldBestOfN, getattr(self, name), where))
                except ConfigError as exc:
                    msg = str(exc)
                    raise ConfigError(msg if msg.startswith(where) else f"{where}: {msg}") from exc
        if isinstance(self.planner_view, dict):
            from a2r_core.eval.planner_view import PlannerViewSettings

            self.planner_view = build_dataclass(PlannerViewSettings, self.planner_view, "metaworld.planner_view")
        if not isinstance(self.checkpoints, dict) or not all(isinstance(v, str) for v in self.checkpoints.values()):
            raise ConfigError("metaworld.checkpoints: must map row names to checkpoint directories")
        if self.image_size is None:
            self.image_size = self.generate.size if self.generate is not None else 112
        if self.frames is None:
            self.frames = self.generate.frames if self.generate is not None else 16
        if self.image_size < 16 or self.frames < 2:
            raise ConfigError("metaworld: image_size >= 16 and frames >= 2 required")
        self.read_train_config()  # fail now on a missing or malformed file

    def read_train_config(self) -> tuple[Optional[dict], dict]:
        """(base training sections of `train_config` without data and output_dir, that file's data
        section), or (None, {}) without a train_config."""
        if self.train_config is None:
            return None, {}
        from a2r_core.training.config import read_train_mapping

        path = resolve(self.train_config)
        try:
            raw = read_train_mapping(path)
        except ConfigError as exc:
            raise ConfigError(f"metaworld.train_config: {exc}") from exc
        data = raw.pop("data", None) or {}
        raw.pop("output_dir", None)
        return raw, data if isinstance(data, dict) else {}

    def data_params(self, dirs: dict[str, Path], base: dict) -> dict:
        """Trainer parameters (kind "eval_metaworld") of the training and validation splits: robot +
        alt (successes only: they play demonstrations) / val; per-split options (num_frames,
        augment, size) kept from the training config's own data section."""
        from a2r_core.data.manifest import MANIFEST_NAME

        _, options = self.read_train_config()
        num_frames = (base.get("model") or {}).get("num_frames", 8)

        def split(name: str) -> dict:
            kept = {k: v for k, v in (options.get(name) or {}).items() if k not in ("sources", "manifest", "kind")}
            kept.setdefault("num_frames", num_frames)
            return kept

        train = {**split("train"), "sources": [
            {"kind": "manifest", "manifest": str(dirs["robot"] / MANIFEST_NAME)},
            {"kind": "manifest", "manifest": str(dirs["alt"] / MANIFEST_NAME), "success": True}]}
        val = {**split("val"), "sources": [{"kind": "manifest", "manifest": str(dirs["val"] / MANIFEST_NAME)}]}
        return {"train": train, "val": val}


def _groups(s: MetaWorldSuite, spec: Optional[MetaWorldBestOfN], progress: bool) -> list:
    from a2r_core.eval.clips import metaworld_candidate_groups

    if spec is None:
        return []
    return metaworld_candidate_groups(spec.tasks, spec.seeds, spec.variant, s.image_size, spec.frames or s.frames,
                                      spec.horizon, spec.policies, spec.other_tasks, progress=progress)


def metaworld_columns(s: MetaWorldSuite, dirs: dict[str, Path], default_train: dict,
                      progress: bool) -> tuple[list, dict[str, str], dict]:
    """(columns, instruction -> task, trainer data params) of the suite. Seen columns discriminate
    among every task of the suite; each new-task column (and the new-task best-of-N) among its own
    tasks: "which of the tasks the robot never did is this?" (issue 14's measure)."""
    from a2r_core.data import instructions
    from a2r_core.eval.cells import COLUMN_KINDS, Column
    from a2r_core.eval.clips import metaworld_clips

    seen = metaworld_clips(dirs["test_seen"], progress=progress)
    new_envs = metaworld_clips(dirs["test_new_envs"], progress=progress)
    new_sets = {name[len("test_"):]: metaworld_clips(dirs[name], progress=progress)
                for name in NEW_TASK_SETS if name in dirs}
    groups, new_groups = _groups(s, s.best_of_n, progress), _groups(s, s.best_of_n_new_tasks, progress)
    every = seen + new_envs + groups + new_groups + [c for clips in new_sets.values() for c in clips]
    tasks = sorted({c.task for c in every})

    def among(clips: list) -> dict[str, str]:
        return {t: instructions.canonical(t) for t in sorted({c.task for c in clips})}

    candidates = among(every)
    cols = [Column("metaworld", "seen", COLUMN_KINDS[0], seen, candidates),
            Column("metaworld", "new_envs", COLUMN_KINDS[1], new_envs, candidates, per_variant=s.per_variant)]
    cols += [Column("metaworld", name, COLUMN_KINDS[2], clips, among(clips)) for name, clips in new_sets.items()]
    if groups:
        cols.append(Column("metaworld", "best_of_n", COLUMN_KINDS[0], groups, candidates, online=True))
    if new_groups:
        cols.append(Column("metaworld", "best_of_n_new_tasks", COLUMN_KINDS[2], new_groups, among(new_groups),
                           online=True))
    task_of = {text: t for t in tasks for text in instructions.paraphrases(t)}
    base = s.read_train_config()[0]
    return cols, task_of, s.data_params(dirs, base if base is not None else default_train)
