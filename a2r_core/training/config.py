"""The training configuration: typed dataclasses loaded from YAML (`yaml.safe_load`).

One YAML file describes a run; every section maps onto one dataclass below, `model:` onto the
model's `A2RConfig`, `loss:` onto `a2r_core.losses.ObjectiveConfig`. Unknown keys are errors (a typo
must not silently fall back to a default). Each dataclass validates itself in `__post_init__` and
raises `ConfigError` naming the offending key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional


from a2r_core.dataclass_config import build_dataclass
from a2r_core.errors import ConfigError
from a2r_core.losses import ObjectiveConfig

VAL_METRICS = ("auto", "auroc_reward", "auroc_contrast", "auroc_grounded", "auroc_success_prob", "auroc_dvd")


@dataclass
class DataConfig:
    """Which dataset to build (`kind`, see `a2r_core.training.datasets.DATASET_KINDS`) and its
    parameters for the training and the held-out validation split."""

    kind: str = "synthetic"
    train: dict = field(default_factory=dict)
    val: Optional[dict] = None
    num_workers: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.train, dict):
            raise ConfigError(f"data.train: must be a mapping, got {type(self.train).__name__}")
        if self.val is None or not isinstance(self.val, dict):
            raise ConfigError("data.val: a mapping with the held-out validation split's parameters is required")
        if self.num_workers < 0:
            raise ConfigError(f"data.num_workers: must be >= 0, got {self.num_workers}")


@dataclass
class SamplerConfig:
    """Batch composition (see `a2r_core.data.sampler.BalancedBatchSampler`)."""

    batch_human: int = 8
    batch_success: int = 8
    batch_failure: int = 8
    batches_per_epoch: Optional[int] = None
    human_aligned_fraction: float = 0.5

    def __post_init__(self) -> None:
        for name in ("batch_human", "batch_success", "batch_failure"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ConfigError(f"sampler.{name}: must be an integer >= 0, got {getattr(self, name)!r}")
        if self.batch_human + self.batch_success + self.batch_failure == 0:
            raise ConfigError("sampler: batch_human + batch_success + batch_failure must be > 0")
        if self.batches_per_epoch is not None and self.batches_per_epoch < 1:
            raise ConfigError(f"sampler.batches_per_epoch: must be >= 1 or null, got {self.batches_per_epoch}")
        if not 0.0 <= self.human_aligned_fraction <= 1.0:
            raise ConfigError(f"sampler.human_aligned_fraction: must be in [0, 1], got {self.human_aligned_fraction}")


@dataclass
class OptimConfig:
    """AdamW with linear warmup then cosine decay to `min_lr_ratio * lr`, per optimizer step."""

    epochs: int = 10
    lr: float = 3e-4
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    grad_clip: Optional[float] = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ConfigError(f"optim.epochs: must be an integer >= 1, got {self.epochs!r}")
        if not self.lr > 0:
            raise ConfigError(f"optim.lr: must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise ConfigError(f"optim.weight_decay: must be >= 0, got {self.weight_decay}")
        self.betas = tuple(float(b) for b in self.betas)  # YAML gives a list
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"optim.betas: must be two numbers in [0, 1), got {self.betas}")
        if self.warmup_steps < 0:
            raise ConfigError(f"optim.warmup_steps: must be >= 0, got {self.warmup_steps}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(f"optim.min_lr_ratio: must be in [0, 1], got {self.min_lr_ratio}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigError(f"optim.grad_clip: must be > 0 or null, got {self.grad_clip}")


@dataclass
class ClusterConfig:
    """Failure clustering (K is the model's `num_failure_prompts`)."""

    seed: int = 0
    max_iter: int = 100
    batch_size: int = 64

    def __post_init__(self) -> None:
        if self.max_iter < 1 or self.batch_size < 1:
            raise ConfigError(f"clustering: max_iter and batch_size must be >= 1, got {self.max_iter}, {self.batch_size}")


@dataclass
class RuntimeConfig:
    """Where and how the loop runs; none of this changes what is learned except `bf16`."""

    device: str = "auto"            # auto | cpu | cuda
    bf16: bool = False              # bf16 autocast (CPU: where the CPU has native bf16)
    num_threads: Optional[int] = None
    progress: bool = True           # tqdm bars
    tensorboard: bool = False       # also write TensorBoard event files under OUTPUT/tensorboard
    val_batch_size: int = 32
    deterministic: bool = True      # torch.use_deterministic_algorithms

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"runtime.device: must be auto, cpu or cuda, got {self.device!r}")
        if self.num_threads is not None and self.num_threads < 1:
            raise ConfigError(f"runtime.num_threads: must be >= 1 or null, got {self.num_threads}")
        if self.val_batch_size < 1:
            raise ConfigError(f"runtime.val_batch_size: must be >= 1, got {self.val_batch_size}")


@dataclass
class TrainConfig:
    """A whole training run. `model` is an `A2RConfig` (its tasks/instructions are filled in from
    the training data when left empty)."""

    model: Any = None
    data: DataConfig = field(default_factory=DataConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    loss: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    clustering: ClusterConfig = field(default_factory=ClusterConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    output_dir: str = "runs/train"
    seed: int = 0
    val_metric: str = "auto"
    init_from: Optional[str] = None  # a checkpoint directory whose weights the run starts from


    def __post_init__(self) -> None:
        from a2r_core.model import A2RConfig

        if self.model is None:
            self.model = A2RConfig()
        if not isinstance(self.model, A2RConfig):
            raise ConfigError(f"model: expected an A2RConfig, got {type(self.model).__name__}")
        if self.init_from is not None and (not isinstance(self.init_from, str) or not self.init_from):
            raise ConfigError(f"init_from: must be a checkpoint directory (a string), got {self.init_from!r}")
        if self.val_metric not in VAL_METRICS:
            raise ConfigError(f"val_metric: must be one of {', '.join(VAL_METRICS)}, got {self.val_metric!r}")
        if self.val_metric == "auroc_dvd" and self.loss.objective != "dvd":
            raise ConfigError("val_metric: auroc_dvd needs loss.objective: dvd")
        if self.val_metric == "auroc_contrast" and self.model.num_failure_prompts == 0:
            raise ConfigError("val_metric: auroc_contrast needs model.num_failure_prompts > 0")

    @property
    def resolved_val_metric(self) -> str:
        """The metric that picks the best checkpoint ("auto": the score the objective trains for:
        the failure-contrasted reward for a2r, the success head for bce_only, the pair head for dvd,
        the plain cosine reward for no_failure_data)."""
        if self.val_metric != "auto":
            return self.val_metric
        if self.loss.objective == "a2r" and self.model.num_failure_prompts == 0:
            return "auroc_reward"  # no prompts, no failure texts to contrast with
        return {"a2r": "auroc_contrast", "dvd": "auroc_dvd",
                "bce_only": "auroc_success_prob"}.get(self.loss.objective, "auroc_reward")

    def to_dict(self) -> dict:
        """Plain-data form (JSON/YAML-safe) of the whole config, as written next to a run."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "model":
                out[f.name] = value.to_dict()
            elif dataclasses.is_dataclass(value):
                out[f.name] = {k: (list(v) if isinstance(v, tuple) else v)
                               for k, v in dataclasses.asdict(value).items()}
            else:
                out[f.name] = value
        return out


def config_from_dict(raw: dict, source: str = "<dict>") -> TrainConfig:
    """Build a TrainConfig from a plain mapping (`source` names it in error messages)."""
    from a2r_core.model import A2RConfig

    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(raw).__name__}")
    sections = {"data": DataConfig, "sampler": SamplerConfig, "loss": ObjectiveConfig,
                "optim": OptimConfig, "clustering": ClusterConfig, "runtime": RuntimeConfig}
    known = set(sections) | {"model", "output_dir", "seed", "val_metric", "init_from"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key(s) {unknown}; known: {sorted(known)}")
    kwargs: dict[str, Any] = {}
    try:
        for name, cls in sections.items():
            if name in raw:
                kwargs[name] = build_dataclass(cls, raw[name], f"{source}: {name}")
        if "model" in raw:
            model_raw = raw["model"] or {}
            if not isinstance(model_raw, dict):
                raise ConfigError(f"{source}: model: must be a mapping")
            kwargs["model"] = A2RConfig.from_dict(model_raw)
        for key in ("output_dir", "seed", "val_metric", "init_from"):
            if key in raw:
                kwargs[key] = raw[key]
        return TrainConfig(**kwargs)
    except ConfigError as exc:
        msg = str(exc)
        raise ConfigError(msg if msg.startswith(source) else f"{source}: {msg}") from exc


def _merged(base: dict, over: dict) -> dict:
    """`over` on top of `base`: mappings merge key by key, anything else (lists too) is replaced."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def read_train_mapping(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict:
    """A training YAML file as one mapping, its `base:` resolved.

    `base: other.yaml` (relative to this file) starts from that file's mapping and lays this one
    over it (nested mappings merge, lists and values replace), so a variant of a recipe names only
    what it changes instead of copying the recipe (config/train_taskbank.yaml). Bases may chain;
    a cycle is a ConfigError.
    """
    from a2r_core.dataclass_config import read_yaml_mapping

    path = Path(path)
    raw = read_yaml_mapping(path, "training config")
    base = raw.pop("base", None)
    if base is None:
        return raw
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{path}: base: must be the path of another training config, got {base!r}")
    base_path = (path.parent / base).resolve()
    if base_path in _seen or base_path == path.resolve():
        raise ConfigError(f"{path}: base: {base} leads back to itself")
    return _merged(read_train_mapping(base_path, _seen + (path.resolve(),)), raw)


def load_config(path: str | Path) -> TrainConfig:
    """Read a training YAML file (its `base:` resolved, `read_train_mapping`)."""
    return config_from_dict(read_train_mapping(path), str(path))
