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
Relative paths are taken from the current directory, else from the source tree's root.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional


from a2r_core.dataclass_config import build_dataclass
from a2r_core.errors import ConfigError

DATA_DIRS = ("robot", "alt", "val", "test_seen", "test_new_envs", "test_new_tasks")
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
    """The six data directories (see the module docstring); defaults: data/default/*."""

    robot: str = "data/default/robot"
    alt: str = "data/default/alt"
    val: str = "data/default/robot_new_envs"
    test_seen: str = "data/default/test_seen"
    test_new_envs: str = "data/default/test_new_envs"
    test_new_tasks: str = "data/default/test_new_tasks"
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
        return {name: resolve(getattr(self, name)) for name in DATA_DIRS}

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
        if set(self.tasks) & set(self.new_tasks):
            raise ConfigError(f"metaworld.generate: new_tasks must not be training tasks: "
                              f"{sorted(set(self.tasks) & set(self.new_tasks))}")
        for t in self.tasks + self.new_tasks:
            check_task(t)
        if not self.held_out_variants or not self.alt_variants:
            raise ConfigError("metaworld.generate: held_out_variants and alt_variants must be non-empty")
        if "default" in self.held_out_variants:
            raise ConfigError("metaworld.generate.held_out_variants: 'default' is the training env, not held out")
        for v in self.held_out_variants + self.alt_variants:
            get_variant(v)
        self.configs(Path("."))  # GenerateConfig's own checks (size, frames, horizon, ...)

    def configs(self, root: Path) -> dict:
        """name -> GenerateConfig of each of the six directories under `root`."""
        from a2r_core.data.generate import GenerateConfig

        common = {"episodes_per_source": self.episodes_per_source, "size": self.size, "frames": self.frames,
                  "horizon": self.horizon}
        tasks, held = tuple(self.tasks), tuple(self.held_out_variants)
        return {
            "robot": GenerateConfig(tasks=tasks, out_dir=str(root / "robot"), seed=self.seed, **common),
            "alt": GenerateConfig(tasks=tasks + tuple(self.new_tasks), out_dir=str(root / "alt"), domain="alt",
                                  variants=tuple(self.alt_variants), seed=self.seed, **common),
            "val": GenerateConfig(tasks=tasks, out_dir=str(root / "val"), variants=held, seed=self.seed + 1, **common),
            "test_seen": GenerateConfig(tasks=tasks, out_dir=str(root / "test_seen"), seed=self.seed + 2, **common),
            "test_new_envs": GenerateConfig(tasks=tasks, out_dir=str(root / "test_new_envs"), variants=held,
                                            seed=self.seed + 3, **common),
            "test_new_tasks": GenerateConfig(tasks=tuple(self.new_tasks), out_dir=str(root / "test_new_tasks"),
                                             seed=self.seed + 4, **common),
        }

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
            raise ConfigError("metaworld.best_of_n: tasks and seeds must be non-empty")
        for t in self.tasks + list(self.other_tasks or []):
            check_task(t)
        get_variant(self.variant)
        if self.policies is None:
            self.policies = list(METAWORLD_POLICIES)
        if "expert" not in self.policies or any(p not in METAWORLD_POLICIES for p in self.policies):
            raise ConfigError(f"metaworld.best_of_n.policies: must include expert and be a subset of "
                              f"{list(METAWORLD_POLICIES)}")
        if self.horizon < 2 or (self.frames is not None and self.frames < 2):
            raise ConfigError("metaworld.best_of_n: horizon >= 2 and frames >= 2 required")


@dataclass
class MetaWorldSuite:
    """The MetaWorld suite (docs/evaluation.md).

    rows: which of the top-level rows run here (None: all); data / generate: exactly one (named
    directories, or a tiny set made in-run); train_config: a training YAML whose sections (except
    data and output_dir) are the base config of this suite's trained rows (None: the eval's `train:`);
    checkpoints: row -> checkpoint directory evaluated instead of training that row; image_size: the
    best-of-N and MPC renders (None: generate.size, else 112); frames: frames per best-of-N clip
    (None: generate.frames, else 16); per_variant: also one column per held-out variant;
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
        if isinstance(self.best_of_n, dict):
            self.best_of_n = build_dataclass(MetaWorldBestOfN, self.best_of_n, "metaworld.best_of_n")
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
        from a2r_core.dataclass_config import read_yaml_mapping

        path = resolve(self.train_config)
        try:
            raw = read_yaml_mapping(path, "training config")
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
