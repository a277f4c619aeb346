"""The Adapt2Reward trainer: one loop for single-process and `torchrun` DDP runs.

    from a2r_core.train import train
    from a2r_core.training.config import load_config
    result = train(load_config("config/train_synthetic.yaml"), output_dir="runs/x")

What one epoch does (every rank; files are written by rank 0 only):
1. batches from `BalancedBatchSampler` (rank r of W takes every W-th batch of the epoch's list);
2. per batch: preprocess the uint8 clips, `Adapt2Reward.forward`, the configured `Objective`
   (a2r / baselines), AdamW step with gradient clipping and the warmup + cosine LR schedule,
   optionally under bf16 autocast;
3. re-cluster each task's failure clips (spherical K-means on the current video embeddings, labels
   matched to the previous epoch's), which sets the fVLC targets of the next epoch (the first
   clustering runs before epoch 0, so fVLC is active from the first step);
4. held-out validation: success-vs-failure AUROC on the validation split's robot clips, scored
   through `RewardModel` (the same path as inference: reward_mode "cosine" -> auroc_reward,
   "contrast" -> auroc_contrast, success head -> auroc_success_prob) or, for "dvd", the pair head;
5. checkpoint `last/` (model + prompt pool + cluster state + optimizer, scheduler, RNG states and
   counters, so `--resume` continues exactly) and, when the chosen metric improved, `best/`
   (model + prompts + clusters only); both via `save_checkpoint` (temp dir + rename).

DDP: started by torchrun (WORLD_SIZE > 1 in the environment), gloo on CPU, NCCL on CUDA; no code
or config change. Resume happens at epoch boundaries (checkpoints are written once per epoch).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from a2r_core.clips import clip_indices
from a2r_core.clustering import FailureClusterer
from a2r_core.data.sampler import BalancedBatchSampler
from a2r_core.errors import CheckpointError, ConfigError
from a2r_core.losses import LossLabels, Objective, dvd_reward
from a2r_core.training import state as train_state
from a2r_core.training.config import TrainConfig
from a2r_core.training.datasets import build_dataset
from a2r_core.training.init_weights import load_initial_weights
from a2r_core.training.logs import RunLogger
from a2r_core.training.branch_pairs import BranchPairs
from a2r_core.training.progress import clip_rewards, make_progress_batch, progress_loss

TRAIN_STATE_KEY = "train_state"


@dataclass
class TrainResult:
    """What a finished (or stopped) run produced."""

    output_dir: Path
    last_dir: Path
    best_dir: Path
    epochs_done: int
    step: int
    best_metric: float
    metric_name: str
    history: list[dict] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Distributed helpers


@dataclass
class _Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialised_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()


def _setup_distributed(device_pref: str) -> tuple[_Dist, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = device_pref in ("auto", "cuda") and torch.cuda.is_available()
    if device_pref == "cuda" and not torch.cuda.is_available():
        raise ConfigError("runtime.device: cuda requested but no CUDA device is available")
    if world <= 1:
        return _Dist(), torch.device("cuda" if use_cuda else "cpu")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    info = _Dist(world_size=world, local_rank=local_rank)
    if not dist.is_initialized():
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        info.initialised_here = True
    info.rank = dist.get_rank()
    info.world_size = dist.get_world_size()
    return info, torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")


def _gather_rows(local: torch.Tensor, total: int, d: _Dist) -> torch.Tensor:
    """Rank r holds rows r, r+W, ... of a [total, D] matrix; every rank gets the whole matrix."""
    if d.world_size == 1:
        return local
    per = math.ceil(total / d.world_size)
    padded = local.new_zeros((per,) + tuple(local.shape[1:]))
    padded[: local.shape[0]] = local
    parts = [torch.empty_like(padded) for _ in range(d.world_size)]
    dist.all_gather(parts, padded)
    out = local.new_empty((total,) + tuple(local.shape[1:]))
    for r, part in enumerate(parts):
        n = len(range(r, total, d.world_size))
        out[r::d.world_size] = part[:n]
    return out


# ---------------------------------------------------------------------------------------------
# Pieces of the loop


class _TrainStep(nn.Module):
    """Model + objective in one module, so DDP sees every trainable parameter (incl. the DVD head)."""

    def __init__(self, model: nn.Module, objective: Objective) -> None:
        super().__init__()
        self.model = model
        self.objective = objective

    def forward(self, video: torch.Tensor, instructions: list[str], task_ids: torch.Tensor,
                labels: LossLabels, progress_pairs: Optional[torch.Tensor] = None,
                branch_pairs: Optional[torch.Tensor] = None, task_bank: Optional[list[str]] = None):
        """The objective's (total, parts). With `progress_pairs`, rows past the labelled batch are
        the progress objective's extra clips: the paper's losses see only the labelled rows, the
        progress loss ranks pairs over all rows (a2r_core.training.progress), the branch loss its
        own pairs (a2r_core.training.branch_pairs). `task_bank`: one instruction per task id, the
        texts VLC also contrasts every clip with (`loss.vlc_task_bank`)."""
        features = self.model(video, instructions, task_ids)
        if task_bank is not None:
            features["task_bank_text"] = self.model.encode_text(task_bank)
        if progress_pairs is None:
            return self.objective(features, labels)
        n = labels.task.shape[0]
        main = {k: (v if k in ("logit_scale", "task_bank_text") else v[:n]) for k, v in features.items()}
        total, parts = self.objective(main, labels)
        rewards = clip_rewards(features, self.model.config.reward_mode)
        rank = progress_loss(rewards, progress_pairs)
        parts["progress"] = rank.detach()
        total = total + self.objective.config.weights["progress"] * rank
        if branch_pairs is not None:
            branch = progress_loss(rewards, branch_pairs)
            parts["branch"] = branch.detach()
            total = total + self.objective.config.weights["branch"] * branch
        return total, parts


def _bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(c() for c in checks if c is not None)


def _video_batch(model, frames: Sequence[torch.Tensor], device: torch.device) -> torch.Tensor:
    """Preprocess uint8 clips [T, H, W, 3] (sizes may differ between clips) to the model's input."""
    with torch.no_grad():
        if len({tuple(f.shape) for f in frames}) == 1:
            return model.preprocess(torch.stack(list(frames)).to(device))
        return torch.cat([model.preprocess(f[None].to(device)) for f in frames])


def _schedule(optim_cfg, total_steps: int):
    """LR multiplier per step: linear warmup from 0, then cosine down to `min_lr_ratio`."""
    warm = optim_cfg.warmup_steps
    floor = optim_cfg.min_lr_ratio

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = min(1.0, (step - warm) / max(1, total_steps - warm))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def _fill_model_tasks(cfg: TrainConfig, records) -> None:
    """Give every robot task of the training data a prompt row unless the config lists tasks."""
    model_cfg = cfg.model
    tasks = list(model_cfg.tasks) or sorted({r.task for r in records if r.domain == "robot"})
    instr = dict(model_cfg.task_instructions)
    for task in tasks:
        if task not in instr:
            instr[task] = sorted({r.instruction for r in records if r.task == task})
    cfg.model = dataclasses.replace(model_cfg, tasks=tasks, task_instructions=instr)


def _param_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for _, p in module.named_parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


# ---------------------------------------------------------------------------------------------
# The trainer


class Trainer:
    """Holds one run's model, data and state; `fit()` runs the epochs. See the module docstring."""

    def __init__(self, config: TrainConfig, output_dir: str | Path | None = None, resume: bool = False) -> None:
        from a2r_core.model import Adapt2Reward

        self.cfg = cfg = config
        self.output_dir = Path(output_dir or cfg.output_dir)
        self.last_dir = self.output_dir / "last"
        self.best_dir = self.output_dir / "best"
        rt = cfg.runtime
        self.dist, self.device = _setup_distributed(rt.device)
        # Process-wide torch settings this run changes; close() puts them back.
        self._saved_torch = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
                             torch.is_deterministic_algorithms_warn_only_enabled())
        if rt.num_threads:
            torch.set_num_threads(rt.num_threads)
        if rt.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.bf16 = rt.bf16 and _bf16_supported(self.device)
        if rt.bf16 and not self.bf16 and self.dist.is_main:
            print(f"a2r train: bf16 autocast requested but {self.device} has no native bf16; running float32")

        if self.last_dir.exists() and not resume:
            raise ConfigError(f"{self.output_dir}: already holds a run (last/); pass --resume to continue "
                              "it or choose another output directory")
        if resume and not self.last_dir.exists():
            raise CheckpointError(f"{self.last_dir}: nothing to resume (no checkpoint there)")

        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed % 2**32)
        self.train_set = build_dataset(cfg.data.kind, cfg.data.train, "data.train")
        self.val_set = build_dataset(cfg.data.kind, cfg.data.val, "data.val")
        records = self.train_set.records
        _fill_model_tasks(cfg, records)
        self.task_ids = {t: i for i, t in enumerate(sorted({r.task for r in records}))}
        # loss.vlc_task_bank: every task's instructions, by task id; one is drawn per task per step.
        self.task_bank = ([sorted({r.instruction for r in records if r.task == t}) for t in self.task_ids]
                          if cfg.loss.vlc_task_bank else None)

        self.model = Adapt2Reward(cfg.model)
        if cfg.init_from and not resume:  # fine-tuning; a resumed run has its own weights in last/
            load_initial_weights(self.model, cfg.init_from)
        self.model = self.model.to(self.device)
        self.objective = Objective(cfg.loss, cfg.model.embed_dim).to(self.device)
        self.step_module = _TrainStep(self.model, self.objective)
        self.optimizer = torch.optim.AdamW(_param_groups(self.step_module, cfg.optim.weight_decay),
                                           lr=cfg.optim.lr, betas=cfg.optim.betas)
        uses_failures = cfg.loss.uses_failure_clips
        self.sampler = BalancedBatchSampler(
            records, cfg.sampler.batch_human, cfg.sampler.batch_success,
            cfg.sampler.batch_failure if uses_failures else 0, cfg.sampler.batches_per_epoch,
            seed=cfg.seed, human_aligned_fraction=cfg.sampler.human_aligned_fraction,
            rank=self.dist.rank, world_size=self.dist.world_size)
        self.total_steps = cfg.optim.epochs * len(self.sampler)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _schedule(cfg.optim, self.total_steps))
        # K = 0 (a model without failure prompts) leaves nothing to cluster for.
        self.clusterer = FailureClusterer(max(1, cfg.model.num_failure_prompts), seed=cfg.clustering.seed,
                                          max_iter=cfg.clustering.max_iter)
        self.use_clusters = "fvlc" in cfg.loss.active_losses and cfg.model.num_failure_prompts > 0
        self.failure_indices = [i for i, r in enumerate(records) if r.domain == "robot" and not r.success]
        self.epoch = 0
        self.step = 0
        self.metric_name = cfg.resolved_val_metric
        # Checkpoints score, by default, with the reward they were selected on.
        self.model.config.reward_mode = {"auroc_contrast": "contrast",
                                          "auroc_grounded": "grounded"}.get(self.metric_name, "cosine")
        self._progress_rng = np.random.default_rng([cfg.seed, 7919])  # progress objective's cuts
        self._branch_rng = np.random.default_rng([cfg.seed, 104729])  # branch pairs drawn per step
        self._bank_rng = np.random.default_rng([cfg.seed, 15485863])  # task-bank paraphrases per step
        robot_tasks = {r.task for r in records if r.domain == "robot"}  # the tasks with failure prompts
        self.branch_pairs = (BranchPairs(cfg.loss.progress_branches, robot_tasks, cfg.loss.progress_branch_pairs)
                             if cfg.loss.progress and cfg.loss.progress_branches else None)
        self.best_metric = -math.inf
        self.best_epoch = -1
        self.history: list[dict] = []

        if self.dist.world_size > 1:
            ddp_kwargs = {"device_ids": [self.device.index]} if self.device.type == "cuda" else {}
            self.ddp = nn.parallel.DistributedDataParallel(self.step_module, find_unused_parameters=True, **ddp_kwargs)
        else:
            self.ddp = self.step_module
        self.logger = RunLogger(self.output_dir, rt.tensorboard) if self.dist.is_main else None
        if self.dist.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            (self.output_dir / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        if resume:
            self._load_last()
            if self.logger:
                self.logger.resume_at(self.step)

    # -- checkpoints ----------------------------------------------------------------------------
    def _extras(self, with_train_state: bool) -> tuple[dict[str, torch.Tensor], dict]:
        tensors, cluster_meta = train_state.clusters_to_tensors(self.clusterer.state) \
            if self.clusterer.state.tasks else ({}, {})
        meta: dict = {TRAIN_STATE_KEY: {
            "epoch": self.epoch, "step": self.step, "metric_name": self.metric_name,
            "best_metric": self.best_metric if math.isfinite(self.best_metric) else None,
            "best_epoch": self.best_epoch, "clusters": cluster_meta, "objective": self.cfg.loss.objective,
            "task_ids": self.task_ids, "config": self.cfg.to_dict()}}
        if self.objective.dvd_head is not None:
            tensors.update(train_state.module_to_tensors(self.objective.dvd_head, train_state.DVD_PREFIX))
        if with_train_state:
            opt_t, opt_meta = train_state.optimizer_to_tensors(self.optimizer)
            rng_t, rng_meta = train_state.rng_state()
            # the progress cuts, branch and task-bank draws continue where they were (ints too
            # big for float JSON go as strings)
            rng_meta["generators"] = {name: json.dumps(gen.bit_generator.state) for name, gen in self._generators()}
            tensors.update(opt_t)
            tensors.update(rng_t)
            meta[TRAIN_STATE_KEY].update({"optimizer": opt_meta, "scheduler": self._scheduler_state(),
                                          "rng": rng_meta, "history": self.history})
        return tensors, self._finite_json(meta)

    @staticmethod
    def _finite_json(value):
        """NaN/inf -> None (checkpoint JSON is strict: an AUROC of a one-class split is NaN)."""
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: Trainer._finite_json(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [Trainer._finite_json(v) for v in value]
        return value

    def _scheduler_state(self) -> dict:
        sd = self.scheduler.state_dict()
        return {k: v for k, v in sd.items() if k != "lr_lambdas"}

    def _save(self, path: Path, with_train_state: bool) -> None:
        from a2r_core.model import save_checkpoint

        tensors, meta = self._extras(with_train_state)
        save_checkpoint(self.model, path, extra_tensors=tensors, extra_json=meta)

    def _load_last(self) -> None:
        from a2r_core.model import load_checkpoint

        loaded, tensors, meta = load_checkpoint(self.last_dir)
        if TRAIN_STATE_KEY not in meta or "optimizer" not in meta[TRAIN_STATE_KEY]:
            raise CheckpointError(f"{self.last_dir}: no training state in this checkpoint (cannot resume)")
        st = meta[TRAIN_STATE_KEY]
        if st["objective"] != self.cfg.loss.objective:
            raise CheckpointError(f"{self.last_dir}: was trained with objective {st['objective']!r}, "
                                  f"the config says {self.cfg.loss.objective!r}")
        try:
            self.model.load_state_dict(loaded.state_dict())
        except RuntimeError as exc:
            raise CheckpointError(f"{self.last_dir}: model does not match the config: {exc}") from exc
        train_state.optimizer_from_tensors(self.optimizer, tensors, st["optimizer"])
        sched = dict(st["scheduler"])
        sched["lr_lambdas"] = [None] * len(self.optimizer.param_groups)
        self.scheduler.load_state_dict(sched)
        if st["clusters"]:
            self.clusterer.state = train_state.clusters_from_tensors(tensors, st["clusters"])
        if self.objective.dvd_head is not None:
            train_state.module_from_tensors(self.objective.dvd_head, tensors, train_state.DVD_PREFIX)
        train_state.set_rng_state(tensors, st["rng"])
        for name, gen in self._generators():
            if name in st["rng"].get("generators", {}):  # checkpoints from before they were saved lack them
                gen.bit_generator.state = json.loads(st["rng"]["generators"][name])
        self.epoch, self.step = st["epoch"], st["step"]
        self.best_metric = st["best_metric"] if st["best_metric"] is not None else -math.inf
        self.best_epoch = st["best_epoch"]
        self.history = [{k: (float("nan") if v is None else v) for k, v in row.items()}
                        for row in st.get("history", [])]

    # -- clustering -----------------------------------------------------------------------------
    @torch.no_grad()
    def _embed(self, dataset, indices: Sequence[int], batch_size: int) -> torch.Tensor:
        """Video embeddings [len(indices), D] (float32), eval mode."""
        was_training = self.model.training
        self.model.eval()
        out = []
        for start in range(0, len(indices), batch_size):
            chunk = indices[start:start + batch_size]
            video = _video_batch(self.model, [dataset[i]["frames"] for i in chunk], self.device)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                out.append(self.model.encode_video(video).float())
        self.model.train(was_training)
        dim = self.cfg.model.embed_dim
        return torch.cat(out) if out else torch.zeros(0, dim, device=self.device)

    def recluster(self) -> None:
        """Re-run the per-task failure clustering on the current embeddings (all ranks agree)."""
        if not self.use_clusters or not self.failure_indices:
            return
        idx = self.failure_indices
        mine = idx[self.dist.rank::self.dist.world_size]
        # Clips as inference sees them (no augmentation): the prompts stand for what the reward
        # will be shown, and jittering here also costs more than the embedding itself.
        view = self.train_set.eval_view() if hasattr(self.train_set, "eval_view") else self.train_set
        feats = _gather_rows(self._embed(view, mine, self.cfg.clustering.batch_size), len(idx), self.dist)
        records = self.train_set.records
        self.clusterer.update(feats.cpu().double().numpy(), np.asarray(idx), [records[i].task for i in idx])

    # -- validation -----------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Success-vs-failure AUROC on the validation split's robot clips (NaN if one class only)."""
        from sklearn.metrics import roc_auc_score

        ds = self.val_set
        robot = [i for i, r in enumerate(ds.records) if r.domain == "robot"]
        labels = np.array([ds.records[i].success for i in robot], dtype=bool)
        scores: dict[str, list[float]] = {}
        was_training = self.model.training
        self.model.eval()
        try:
            if self.cfg.loss.objective == "dvd":
                scores["auroc_dvd"] = self._dvd_scores(robot)
            else:
                from a2r_core.reward import RewardModel

                bs = self.cfg.runtime.val_batch_size
                models = {"auroc_reward": RewardModel.from_module(self.model, batch_size=bs,
                                                                   reward_mode="cosine")}
                if self.model.num_failure_prompts:
                    models["auroc_contrast"] = RewardModel.from_module(self.model, batch_size=bs,
                                                                       reward_mode="contrast")
                if self.metric_name == "auroc_grounded":  # only when it selects: one more scoring pass
                    models["auroc_grounded"] = RewardModel.from_module(self.model, batch_size=bs,
                                                                       reward_mode="grounded")
                scores = {name: [] for name in models}
                scores["auroc_success_prob"] = []
                for start in range(0, len(robot), bs):
                    items = [ds[i] for i in robot[start:start + bs]]
                    uniq = sorted({it["instruction"] for it in items})
                    col = [uniq.index(it["instruction"]) for it in items]
                    clips = [it["frames"].numpy() for it in items]
                    for name, rm in models.items():
                        out = rm.score(clips, uniq)
                        scores[name] += [float(out.reward[b, c]) for b, c in enumerate(col)]
                        if name == "auroc_reward":
                            scores["auroc_success_prob"] += [float(out.success_prob[b, c]) for b, c in enumerate(col)]
        finally:
            self.model.train(was_training)
        metrics = {}
        for name, values in scores.items():
            v = np.asarray(values, dtype=np.float64)
            ok = np.isfinite(v)
            two_classes = ok.any() and labels[ok].any() and not labels[ok].all()
            metrics[name] = float(roc_auc_score(labels[ok], v[ok])) if two_classes else float("nan")
        return metrics

    def _dvd_scores(self, robot: list[int]) -> list[float]:
        """DVD reward: mean "same task" probability against up to 8 training demos of the task."""
        head = self.objective.dvd_head
        train = self.train_set.records
        rng = np.random.default_rng(self.cfg.seed)
        refs: dict[str, list[int]] = {}
        for i, r in enumerate(train):
            if r.success or r.domain == "human":
                refs.setdefault(r.task, []).append(i)
        refs = {t: sorted(rng.choice(v, size=min(8, len(v)), replace=False).tolist()) for t, v in refs.items()}
        ref_list = sorted({i for v in refs.values() for i in v})
        ref_feat = dict(zip(ref_list, self._embed(self.train_set, ref_list, self.cfg.runtime.val_batch_size)))
        clip_feat = self._embed(self.val_set, robot, self.cfg.runtime.val_batch_size)
        out = []
        for row, i in enumerate(robot):
            task_refs = refs.get(self.val_set.records[i].task, [])
            if not task_refs:
                out.append(float("nan"))
                continue
            r = torch.stack([ref_feat[j] for j in task_refs])
            out.append(float(dvd_reward(head, clip_feat[row:row + 1], r)[0]))
        return out

    def _generators(self) -> tuple[tuple[str, np.random.Generator], ...]:
        """The loop's own random generators, saved with the training state so a resume continues them."""
        return (("progress", self._progress_rng), ("branch", self._branch_rng), ("task_bank", self._bank_rng))

    # -- the loop -------------------------------------------------------------------------------
    def _draw_task_bank(self) -> Optional[list[str]]:
        """One instruction per task id for this step (a random paraphrase: the text side sees them all)."""
        if self.task_bank is None:
            return None
        return [texts[int(self._bank_rng.integers(len(texts)))] for texts in self.task_bank]

    def _labels(self, items) -> tuple[LossLabels, torch.Tensor]:
        recs = [self.train_set.records[it["index"]] for it in items]
        task = torch.tensor([self.task_ids[r.task] for r in recs])
        domain = torch.tensor([1 if r.domain == "robot" else 0 for r in recs])
        success = torch.tensor([bool(r.success) for r in recs])
        cluster = torch.tensor([self.clusterer.state.label_of(it["index"])
                                if (r.domain == "robot" and not r.success) else -1 for it, r in zip(items, recs)])
        # Only robot clips use failure texts (VLC negatives, fVLC targets): human rows get -1 so the
        # model does not run the text encoder for failure texts nobody reads.
        prompt_rows = torch.tensor([self.model.task_index(r.task) if r.domain == "robot" else -1 for r in recs])
        return LossLabels(task, domain, success, cluster).to(self.device), prompt_rows.to(self.device)

    def _with_progress_clips(self, items, prompt_rows: torch.Tensor):
        """The batch's clips (resampled to the model's frame count by the one clip rule) followed
        by the progress objective's extra clips; their instructions, prompt rows and ranked pairs."""
        cfg, k = self.cfg.loss, self.model.config.num_frames
        recs = [self.train_set.records[it["index"]] for it in items]
        pb = make_progress_batch(
            [it["frames"] for it in items], [r.success or r.domain != "robot" for r in recs],
            [r.domain == "robot" for r in recs], [r.task for r in recs], k, self._progress_rng,
            rewind=cfg.progress_rewind, failures=cfg.progress_failures, human=cfg.progress_human,
            full_fraction=cfg.progress_full_fraction, sources=[r.failure_source for r in recs])
        frames = [it["frames"][torch.from_numpy(clip_indices(len(it["frames"]), k))] for it in items] + pb.frames
        instructions = [it["instruction"] for it in items] + [items[s]["instruction"] for s in pb.source]
        rows = torch.cat([prompt_rows, prompt_rows[torch.tensor(pb.source, dtype=torch.long, device=prompt_rows.device)]])
        branch_pairs = None
        if self.branch_pairs is not None:
            drawn = self.branch_pairs.draw(self._branch_rng, k)
            start = len(frames)
            for pair in drawn:
                frames += [pair.continuation, pair.deviation]
                instructions += [pair.instruction, pair.instruction]
            extra = [self.model.task_index(pair.task) for pair in drawn for _ in range(2)]
            rows = torch.cat([rows, torch.tensor(extra, dtype=rows.dtype, device=rows.device)])
            branch_pairs = torch.tensor([[start + 2 * j, start + 2 * j + 1] for j in range(len(drawn))],
                                        dtype=torch.long, device=self.device).view(-1, 2)
        return frames, instructions, rows, pb.pair_tensor(self.device), branch_pairs

    def _train_epoch(self) -> float:
        self.sampler.set_epoch(self.epoch)
        loader = DataLoader(self.train_set, batch_sampler=list(self.sampler), collate_fn=list,
                            num_workers=self.cfg.data.num_workers)
        self.step_module.train()
        losses = []
        bar = tqdm(loader, desc=f"epoch {self.epoch + 1}/{self.cfg.optim.epochs}", leave=False,
                   disable=not (self.cfg.runtime.progress and self.dist.is_main))
        for items in bar:
            t0 = time.perf_counter()
            labels, prompt_rows = self._labels(items)
            frames = [it["frames"] for it in items]
            instructions = [it["instruction"] for it in items]
            pairs = branch_pairs = None
            if self.cfg.loss.progress:
                frames, instructions, prompt_rows, pairs, branch_pairs = self._with_progress_clips(items, prompt_rows)
            video = _video_batch(self.model, frames, self.device)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                total, parts = self.ddp(video, instructions, prompt_rows, labels, pairs, branch_pairs,
                                        self._draw_task_bank())
            self.optimizer.zero_grad(set_to_none=True)
            total.backward()
            if self.cfg.optim.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(self.step_module.parameters(), self.cfg.optim.grad_clip)
            lr = self.optimizer.param_groups[0]["lr"]
            self.optimizer.step()
            self.scheduler.step()
            self.step += 1
            loss = float(total.detach())
            if not math.isfinite(loss):
                raise FloatingPointError(f"training loss is {loss} at step {self.step} (epoch {self.epoch})")
            losses.append(loss)
            bar.set_postfix(loss=f"{loss:.3f}")
            if self.logger:
                row = {"epoch": self.epoch, "step": self.step, "lr": lr, "loss": loss}
                row.update({k: float(v) for k, v in parts.items()})
                row["seconds"] = time.perf_counter() - t0
                self.logger.log_step(row)
        return float(np.mean(losses)) if losses else float("nan")

    def fit(self, stop_after_epochs: Optional[int] = None) -> TrainResult:
        """Train until `optim.epochs` (or `stop_after_epochs` more epochs, for time-sliced runs)."""
        if self.use_clusters and not self.clusterer.state.tasks:
            self.recluster()
        done_here = 0
        epochs = tqdm(range(self.epoch, self.cfg.optim.epochs), desc="training", initial=self.epoch,
                      total=self.cfg.optim.epochs, disable=not (self.cfg.runtime.progress and self.dist.is_main))
        for _ in epochs:
            t0 = time.perf_counter()
            train_loss = self._train_epoch()
            self.recluster()
            self.epoch += 1
            if self.dist.is_main:
                metrics = self.validate()
                value = metrics.get(self.metric_name, float("nan"))
                improved = math.isfinite(value) and value > self.best_metric
                if improved or not self.best_dir.exists():
                    if improved:
                        self.best_metric, self.best_epoch = value, self.epoch
                    self._save(self.best_dir, with_train_state=False)
                row = {"epoch": self.epoch, "step": self.step, "train_loss": train_loss}
                row.update({f"val_{k}": v for k, v in metrics.items()})
                row.update({"best": int(improved), "seconds": time.perf_counter() - t0})
                self.history.append(row)
                self.logger.log_epoch(row)
                epochs.set_postfix({self.metric_name: f"{value:.3f}"})
                self._save(self.last_dir, with_train_state=True)
            self.dist.barrier()
            done_here += 1
            if stop_after_epochs is not None and done_here >= stop_after_epochs:
                break
        best = self._broadcast_best()
        return TrainResult(self.output_dir, self.last_dir, self.best_dir, self.epoch, self.step,
                           best, self.metric_name, list(self.history))

    def _broadcast_best(self) -> float:
        value = torch.tensor([self.best_metric if math.isfinite(self.best_metric) else float("nan")],
                             dtype=torch.float64)
        if self.dist.world_size > 1:
            if self.device.type == "cuda":
                value = value.to(self.device)
            dist.broadcast(value, src=0)
        return float(value.item())

    def close(self) -> None:
        if self.logger:
            self.logger.close()
        threads, det, warn_only = self._saved_torch
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(det, warn_only=warn_only)
        if self.dist.initialised_here and dist.is_initialized():
            dist.destroy_process_group()


def train(config: TrainConfig, output_dir: str | Path | None = None, resume: bool = False,
          stop_after_epochs: Optional[int] = None) -> TrainResult:
    """Run (or resume) a training run; see the module docstring."""
    trainer = Trainer(config, output_dir=output_dir, resume=resume)
    try:
        return trainer.fit(stop_after_epochs=stop_after_epochs)
    finally:
        trainer.close()
