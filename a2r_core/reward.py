"""The reward API: `RewardModel.load(path | hub id).score(clips, instructions) -> RewardOutput`.

Everything that scores (the ROS reward node and service, bag scoring, the planner, the benchmark)
goes through `RewardModel.score`, so the reward formula lives here and only here.

The reward formula (v: the clip's video feature, t: the instruction's text feature, both
L2-normalised; t_f[k], k = 1..K: the instruction's failure-text features; s = logit_scale):

    reward_mode="cosine":            reward = cos(v, t) = v . t                      in [-1, 1]
    reward_mode="contrast":          reward = log softmax_j(s * [v.t, v.t_f[1], ..., v.t_f[K]])[0]
                                            = s * v.t - logsumexp(s * [v.t, v.t_f[1..K]])   <= 0
    reward_mode="grounded":          reward = s * v.t - logsumexp(s * [v.t, v.t_f[1..K], v.b[1..M]])  <= 0
        b: the text bank, every OTHER known task's first instruction and its K failure texts (the
        model's `task_instructions`; "other" = not the task the instruction resolves to). The
        log-probability of the instruction among its own failure texts and everything else the
        model knows: "did this clip do THIS task, and succeed?" in one number.
    (reward_mode defaults to the checkpoint's `A2RConfig.reward_mode`: what its best checkpoint was
    selected on, "contrast" for models trained with the a2r objective, else "cosine")
    success_prob        = sigmoid(success_head(v, t))
    failure_mode_probs  = softmax_k(s * v.t_f[k])                                   (K values)
    most_likely_failure_mode = argmax_k failure_mode_probs, -1 when there are no failure texts

Instruction -> task (`RewardModel.resolve_instruction`, `a2r_core.instructions.InstructionResolver`):
an exact (case/space-normalised) match of the model's `task_instructions` paraphrases first; else
the nearest known instruction by the text encoder's own sentence similarity, among the model's
paraphrases and the instruction library's (whose other tasks are hard negatives), taken when it is
one of the model's tasks at similarity >= `resolve_threshold` (0.75). A resolved instruction keeps
its own words as the text feature and uses its task's K failure prompts. An unresolved (unseen)
instruction has, with the model's `unseen_task_prompts="omit"` (default), no failure texts: its
failure_mode_probs row is all zeros (not NaN) and most_likely_failure_mode is -1, while reward and
success_prob are computed as usual. With `unseen_task_prompts="mean"` it uses the task-mean prompts.
`reward_mode="contrast"` always needs failure texts, so it uses the task-mean prompts for unseen
instructions whatever the model's setting (and is refused for models without prompts).
`RewardOutput.resolutions` says, per instruction, what it was taken for.

Why "grounded" (docs/model.md, "Which mode answers..."): "contrast" compares an instruction only with
its own failure texts, so a clip of task A can score near the maximum for task B's instruction
whenever it resembles neither B nor B's failures (instruction top-1 suffers); "cosine" compares
instructions fairly but does not tell success from failure. With one shared bank in every
denominator, comparing two instructions on a clip comes down to their cosines, while one
instruction across clips keeps the failure contrast.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from a2r_core.errors import CheckpointError, ConfigError, InputError
from a2r_core.clips import model_input
from a2r_core.images import needs_resize
from a2r_core.instructions import DEFAULT_RESOLVE_THRESHOLD, InstructionResolver, Resolution, check_instructions
from a2r_core.reward_modes import REWARD_MODES

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
# Clips per video-encoder call when the caller does not choose. Larger chunks are SLOWER per clip
# on CPU: past these sizes the activations (8 frames x 50 tokens x width per clip) leave the
# per-core caches and the memory-bound ops (layer norm, GELU, autocast casts) dominate. Measured on
# 2 cores (AMX): a2r-small bf16 peaks at 16 clips per call (390 clips/s; 277 at 32), fp32 at 4-8
# (docs/performance.md). Rows do not depend on the chunking beyond float rounding (~1e-6).
DEFAULT_BATCH_SIZE = {"float32": 8, "bfloat16": 16}


@dataclass
class RewardOutput:
    """Scores of every clip (rows, B) for every instruction (columns, I); see the module docstring."""

    reward: np.ndarray  # [B, I] float32
    success_prob: np.ndarray  # [B, I] float32 in [0, 1]
    failure_mode_probs: np.ndarray  # [B, I, K] float32; all-zero rows for instructions without failure texts
    most_likely_failure_mode: np.ndarray  # [B, I] int32, -1 when none
    # [I] what the model took each instruction for (a2r_core.instructions.Resolution): its task
    # (None: unseen), the similarity to the nearest known instruction, and how it was matched.
    resolutions: tuple[Resolution, ...] = ()

    @property
    def resolved_tasks(self) -> list[str | None]:
        """[I] the task each instruction was scored as (None: an unseen task)."""
        return [r.task for r in self.resolutions]


@dataclass
class _TextEntry:
    text: torch.Tensor  # [D]
    failure: torch.Tensor | None  # [K, D] failure texts used for failure_mode_probs (None: none)
    contrast: torch.Tensor | None  # [K, D] failure texts used by reward_mode="contrast"
    task_row: int = -1  # the prompt-pool row of the task the instruction resolved to (-1: unseen)


def _as_clip_list(clips) -> list[np.ndarray] | np.ndarray:
    """Validate `clips` -> a [B,T,H,W,3] uint8 array or a list of [T,H,W,3] uint8 arrays."""
    if isinstance(clips, torch.Tensor):
        clips = clips.detach().cpu().numpy()
    if isinstance(clips, np.ndarray):
        if clips.dtype != np.uint8:
            raise InputError(f"clips: expected dtype uint8, got {clips.dtype}")
        if clips.ndim != 5 or clips.shape[-1] != 3:
            raise InputError(f"clips: expected an array [B, T, H, W, 3] (or a list of [T, H, W, 3] arrays), "
                             f"got shape {list(clips.shape)}")
        if min(clips.shape) < 1:
            raise InputError(f"clips: empty dimension in shape {list(clips.shape)}")
        return clips
    if isinstance(clips, (str, bytes)) or not isinstance(clips, Sequence):
        raise InputError(f"clips: expected a uint8 array or a sequence of arrays, got {type(clips).__name__}")
    if len(clips) == 0:
        raise InputError("clips: no clips given")
    out = []
    for i, c in enumerate(clips):
        if isinstance(c, torch.Tensor):
            c = c.detach().cpu().numpy()
        if not isinstance(c, np.ndarray):
            raise InputError(f"clips[{i}]: expected a numpy array, got {type(c).__name__}")
        if c.dtype != np.uint8:
            raise InputError(f"clips[{i}]: expected dtype uint8, got {c.dtype}")
        if c.ndim != 4 or c.shape[-1] != 3 or min(c.shape) < 1:
            raise InputError(f"clips[{i}]: expected shape [T, H, W, 3] with T, H, W >= 1, got {list(c.shape)}")
        out.append(c)
    return out


def _check_instructions(instructions) -> list[str]:
    """The instructions as a list, checked by the one instruction check (`a2r_core.instructions`)."""
    if isinstance(instructions, str) or not isinstance(instructions, Sequence):
        raise InputError(f"instructions: expected a sequence of strings, got {type(instructions).__name__}")
    return check_instructions(list(instructions))


class RewardModel:
    """A loaded Adapt2Reward model ready to score clips (see the module docstring for the formula).

    `batch_size` bounds how many clips go through the video encoder at once (None: the measured
    best chunk for the dtype, `DEFAULT_BATCH_SIZE`); `cache_size` how many instructions'
    text/failure features are kept (least recently used are dropped); `resolve_threshold` the
    sentence similarity an instruction needs to be taken for a trained task (`resolve_instruction`);
    `compile` (opt-in) compiles the video encoder with torch.compile: faster per call for a fixed
    batch shape, after tens of seconds of compilation per new shape (docs/performance.md).
    """

    def __init__(self, model, model_id: str, device: str = "cpu", dtype: str = "float32",
                 reward_mode: str | None = None, batch_size: int | None = None, cache_size: int = 1024,
                 resolve_threshold: float = DEFAULT_RESOLVE_THRESHOLD, compile: bool = False) -> None:
        # None: the checkpoint's own choice (A2RConfig.reward_mode, set by the trainer to the
        # reward its best checkpoint was selected on).
        reward_mode = reward_mode or getattr(model.config, "reward_mode", "cosine")
        if dtype not in DTYPES:
            raise ConfigError(f"dtype: must be one of {', '.join(DTYPES)}, got {dtype!r}")
        if reward_mode not in REWARD_MODES:
            raise ConfigError(f"reward_mode: must be one of {', '.join(REWARD_MODES)}, got {reward_mode!r}")
        if reward_mode == "contrast" and model.num_failure_prompts == 0:
            raise ConfigError("reward_mode: 'contrast' needs a model with failure prompts (this one has none)")
        if reward_mode == "grounded" and not getattr(model.config, "task_instructions", None):
            raise ConfigError("reward_mode: 'grounded' needs a model that knows its tasks' instructions "
                              "(model.task_instructions is empty)")
        if batch_size is None:
            batch_size = DEFAULT_BATCH_SIZE.get(dtype, 32)
        if batch_size < 1 or cache_size < 1:
            raise ConfigError(f"batch_size and cache_size must be >= 1, got {batch_size}, {cache_size}")
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ConfigError(f"device: {device!r} is not a torch device: {exc}") from exc
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"device: {device!r} requested but CUDA is not available")
        self.model = model.to(dev).eval()
        self.compiled = bool(compile)
        if compile:  # opt-in: the backbone compiles its video encoder in place (see compile_for_inference)
            compile_fn = getattr(model.backbone, "compile_for_inference", None)
            if compile_fn is None:
                raise ConfigError(f"compile: the {model.config.backbone!r} backbone cannot be compiled "
                                  f"(only a2r-small's video encoder can)")
            compile_fn()
        self.model_id = str(model_id)
        self.device = dev
        self.dtype = dtype
        self.reward_mode = reward_mode
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._cache: OrderedDict[str, _TextEntry] = OrderedDict()
        self._bank: tuple[torch.Tensor, torch.Tensor] | None = None  # reward_mode="grounded" (_text_bank)
        self.resolver = InstructionResolver(
            getattr(model.config, "task_instructions", None) or {}, self._sentence_features, resolve_threshold)

    # ---- construction --------------------------------------------------------------------------
    @classmethod
    def load(cls, path_or_id: str | Path, device: str = "cpu", dtype: str = "float32", **kwargs) -> "RewardModel":
        """Load a checkpoint directory, or a Hugging Face hub repo id holding one.

        A hub id is resolved with `huggingface_hub.snapshot_download`, which with HF_HUB_OFFLINE=1
        (scripts/env.sh) only reads the local cache.
        """
        from a2r_core.model.checkpoint import load_checkpoint

        path = Path(str(path_or_id)).expanduser()
        if not path.exists() and _looks_like_hub_id(str(path_or_id)):
            path = _resolve_hub_id(str(path_or_id))
        model, _, _ = load_checkpoint(path)
        return cls(model, model_id=str(path_or_id), device=device, dtype=dtype, **kwargs)

    @classmethod
    def from_module(cls, model, model_id: str = "in-memory", device: str | None = None,
                    dtype: str = "float32", **kwargs) -> "RewardModel":
        """Wrap an in-memory `Adapt2Reward` (e.g. during training); device defaults to the model's."""
        return cls(model, model_id=model_id, device=str(device or model.device), dtype=dtype, **kwargs)

    @property
    def num_frames(self) -> int:
        """Frames the model samples from each clip (clips may have any length)."""
        return int(self.model.config.num_frames)

    @property
    def image_size(self) -> int:
        """The model's square input size in pixels: what camera frames are resized to on arrival
        (`a2r_core.images.resize_frames`)."""
        return int(self.model.config.image_size)

    @property
    def num_failure_modes(self) -> int:
        return int(self.model.num_failure_prompts)

    def _autocast(self):
        if self.dtype == "bfloat16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # ---- instructions --------------------------------------------------------------------------
    def _sentence_features(self, texts: list[str]) -> np.ndarray:
        with torch.inference_mode():
            return self.model.backbone.sentence_features(texts).float().cpu().numpy()

    def resolve_instruction(self, text: str) -> Resolution:
        """Which of the model's tasks `text` is taken for (`a2r_core.instructions.InstructionResolver`):
        an exact match of a trained paraphrase, else the nearest known instruction when it is one of
        the model's tasks and similar enough (`resolve_threshold`); else no task (an unseen task).
        The resolved task's failure prompts score the instruction; its own words stay the text."""
        return self.resolver.resolve(check_instructions([text])[0])

    def _task_row(self, text: str) -> int:
        task = self.resolver.resolve(text).task  # text already checked by score()
        return -1 if task is None else self.model.task_index(task)

    # ---- features ------------------------------------------------------------------------------
    def clear_cache(self) -> None:
        self._cache.clear()
        self._bank = None

    def _text_bank(self) -> tuple[torch.Tensor, torch.Tensor]:
        """reward_mode="grounded"'s bank: features [M, D] of every known task's first instruction
        and its K failure texts, and the prompt-pool row [M] each belongs to (computed once)."""
        if self._bank is None:
            model = self.model
            tasks = [t for t in model.config.tasks if t in model.config.task_instructions]
            texts = [model.config.task_instructions[t][0] for t in tasks]
            rows = torch.tensor([model.task_index(t) for t in tasks], device=self.device)
            with self._autocast():
                feats = [model.encode_text(texts).float()]
                owner = [rows]
                if model.num_failure_prompts:
                    feats.append(model.failure_text_features(rows, texts).float().flatten(0, 1))
                    owner.append(rows.repeat_interleave(model.num_failure_prompts))
            self._bank = (torch.cat(feats), torch.cat(owner))
        return self._bank

    def _text_entries(self, instructions: list[str]) -> list[_TextEntry]:
        model = self.model
        missing = [t for t in dict.fromkeys(instructions) if t not in self._cache]
        if missing:
            rows = [self._task_row(t) for t in missing]
            with self._autocast():
                texts = model.encode_text(missing).float()
                failure = contrast = [None] * len(missing)
                if model.num_failure_prompts:
                    ids = torch.tensor(rows, device=self.device)
                    feats = model.failure_text_features(ids, missing).float()  # -1 rows: task-mean prompts
                    has = model.prompts.has_prompts(ids).tolist()
                    failure = [feats[j] if has[j] else None for j in range(len(missing))]
                    contrast = [feats[j] for j in range(len(missing))]
            for j, t in enumerate(missing):
                self._cache[t] = _TextEntry(texts[j], failure[j], contrast[j], rows[j])
        entries = []
        for t in instructions:
            self._cache.move_to_end(t)
            entries.append(self._cache[t])
        while len(self._cache) > max(self.cache_size, len(set(instructions))):
            self._cache.popitem(last=False)
        return entries

    def _video_features(self, clips) -> torch.Tensor:
        """All clips -> [B, D] float32, grouped by shape so each group is one batched preprocess."""
        model = self.model
        if isinstance(clips, np.ndarray):
            groups = {clips.shape[1:]: list(range(clips.shape[0]))}
            get = lambda idx: clips[idx]  # noqa: E731
        else:
            groups: dict[tuple, list[int]] = {}
            for i, c in enumerate(clips):
                groups.setdefault(c.shape, []).append(i)
            get = lambda idx: np.stack([clips[i] for i in idx])  # noqa: E731
        n = clips.shape[0] if isinstance(clips, np.ndarray) else len(clips)
        size = self.image_size
        out = torch.empty(n, model.config.embed_dim, device=self.device)
        for idx in groups.values():
            for start in range(0, len(idx), self.batch_size):
                part = idx[start:start + self.batch_size]
                # Larger-than-model frames are shrunk in uint8 first (images.resize_frames: the
                # preprocessing filter, ~20x cheaper than in float); the reward node does the same
                # per frame on arrival, so live and direct scores agree bit for bit.
                arr = get(part)
                if needs_resize(arr.shape[2], arr.shape[3], size):  # resize only the frames the model samples
                    arr = model_input(arr, model.config.num_frames, size)
                arr = np.ascontiguousarray(arr)
                if not arr.flags.writeable:  # torch.from_numpy wants a writable buffer
                    arr = arr.copy()
                with self._autocast():
                    out[torch.tensor(part, device=self.device)] = model.encode_clips(torch.from_numpy(arr)).float()
        return out

    @torch.inference_mode()
    def score(self, clips, instructions: Sequence[str]) -> RewardOutput:
        """Score every clip against every instruction -> RewardOutput with [B, I] arrays.

        clips: a uint8 array [B, T, H, W, 3] or a sequence of B uint8 arrays [T_i, H_i, W_i, 3]
        (sizes may differ; each clip is resampled to `num_frames` frames and resized: frames larger
        than the model's input in both dimensions are shrunk in uint8 by
        `a2r_core.images.resize_frames`, the preprocessing filter; others in float by the model). The formula
        is in the module docstring: reward = cos(v, t) ("cosine") or the log-softmax of the
        instruction among {instruction, its K failure texts} at logit_scale ("contrast"), or among
        those and the other known tasks' instructions and failure texts ("grounded");
        success_prob = sigmoid(success_head(v, t)); failure_mode_probs = softmax over the K failure
        texts' similarities at logit_scale (zeros and mode -1 where an instruction has none).
        Raises InputError for malformed clips or instructions.
        """
        clips = _as_clip_list(clips)
        instructions = _check_instructions(instructions)
        model = self.model
        entries = self._text_entries(instructions)
        v = self._video_features(clips)  # [B, D]
        t = torch.stack([e.text for e in entries])  # [I, D]
        b, n_i, k = v.shape[0], len(instructions), model.num_failure_prompts
        scale = float(model.logit_scale)
        sim = v @ t.T  # [B, I]
        with self._autocast():
            vv = v.unsqueeze(1).expand(b, n_i, -1).reshape(b * n_i, -1)
            tt = t.unsqueeze(0).expand(b, n_i, -1).reshape(b * n_i, -1)
            logits = model.success_logit(vv, tt).float().view(b, n_i)
        success = torch.sigmoid(logits)
        probs = torch.zeros(b, n_i, k, device=self.device)
        best = torch.full((b, n_i), -1, dtype=torch.int32, device=self.device)
        reward = sim.clone()
        bank = self._text_bank() if self.reward_mode == "grounded" else None
        for i, e in enumerate(entries):
            if e.failure is not None:
                p = torch.softmax(scale * (v @ e.failure.T), dim=-1)  # [B, K]
                probs[:, i] = p
                best[:, i] = p.argmax(-1).to(torch.int32)
            if self.reward_mode == "contrast":
                all_logits = scale * torch.cat([sim[:, i:i + 1], v @ e.contrast.T], dim=1)
                reward[:, i] = torch.log_softmax(all_logits, dim=1)[:, 0]
            elif bank is not None:  # grounded: own failure texts (task-mean when unseen) + the other tasks' bank
                own = e.contrast if e.contrast is not None else v.new_zeros(0, v.shape[1])
                others = bank[0][bank[1] != e.task_row]
                all_logits = scale * torch.cat([sim[:, i:i + 1], v @ own.T, v @ others.T], dim=1)
                reward[:, i] = torch.log_softmax(all_logits, dim=1)[:, 0]
        return RewardOutput(
            reward=reward.cpu().numpy().astype(np.float32),
            success_prob=success.cpu().numpy().astype(np.float32),
            failure_mode_probs=probs.cpu().numpy().astype(np.float32),
            most_likely_failure_mode=best.cpu().numpy().astype(np.int32),
            resolutions=tuple(self.resolver.resolve(t) for t in instructions),  # checked above; cached
        )

    def reward_for(self, clips, instructions: Sequence[str]) -> np.ndarray:
        """Each clip's reward for its own instruction -> float32 [B]: the planner's reward
        function (`a2r_core.planning.ClipRewardScorer`, RL wrappers), through `score`.

        `instructions` has one entry per clip (repeats are scored once per distinct text)."""
        instructions = _check_instructions(instructions)
        n = len(clips)
        if len(instructions) != n:
            raise InputError(f"reward_for: {n} clips but {len(instructions)} instructions (one per clip)")
        distinct = list(dict.fromkeys(instructions))
        out = self.score(clips, distinct).reward
        return out[np.arange(n), [distinct.index(t) for t in instructions]]


def _looks_like_hub_id(text: str) -> bool:
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not text.startswith((".", "~")) and "\\" not in text


def _resolve_hub_id(repo_id: str) -> Path:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id=repo_id))
    except Exception as exc:  # huggingface_hub raises many types (offline, not found, auth, HTTP)
        raise CheckpointError(f"{repo_id}: not a local checkpoint directory and not available as a "
                              f"Hugging Face hub repo ({type(exc).__name__}: {exc})") from exc


__all__ = ["RewardModel", "RewardOutput", "REWARD_MODES"]
