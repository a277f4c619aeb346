"""The benchmark's rows: what is trained for each, and how each scores a clip for an instruction.

Every row is a `RowScorer`: `score(clips, instructions) -> [B, I]`, higher = "this clip did this
instruction". Trained rows go through the one inference path (`RewardModel.score`); the DVD row uses
its pair head against demonstrations of the instruction's task (as the trainer's DVD validation
does); the oracle reads the simulator's dense reward recorded with the clip (only for the clip's
own instruction: other instructions have no recorded value, NaN); random draws uniform scores.

Row names (config `rows:`):
  a2r                 failure prompts, the full objective (K from the base model config)
  no_failure_data     CDC + VLC, failure clips never seen
  bce_only            CDC + VLC + BCE (failures only through the success head; scored by it)
  dvd                 DVD-style same-task pair discriminator
  a2r_k1 .. a2r_k5    a2r with K = 1..5 failure prompts
  single_source:SRC   a2r trained with only failure source SRC (successes unchanged)
  ROW+progress        a trained row above plus the progress objective (a2r_core.training.progress;
                      config/train_progress.yaml's recipe); rows without the suffix train
                      without it, whatever the base config says: they are the paper's objectives
  ROW+branches        ROW+progress plus branch pairs (a2r_core.training.branch_pairs;
                      config/train_branches.yaml's recipe; MetaWorld, with metaworld.data.branches)
  ROW+loop            ROW+branches plus one round of the planner's own attempts (config/train_loop.yaml;
                      a2r_core.data.planner_rollouts): its data comes from another checkpoint's
                      planner, so the row is a given checkpoint (metaworld.checkpoints), never trained
                      in the eval
  ROW+interventions   a +loop row fine-tuned with branch pairs from its planner's own states
                      (config/train_loop4.yaml; a2r_core.data.interventions): a given checkpoint too
  ROW+taskbank        a +interventions row's checkpoint fine-tuned with loss.vlc_task_bank (VLC against
                      every training task's instruction; config/train_taskbank.yaml): a given checkpoint
  ROW@MODE            a trained row with a reward readout (not bce_only, dvd) scored with
                      reward_mode MODE (cosine, contrast, grounded; a2r_core.reward) instead of
                      its checkpoint's own: the same training (or metaworld.checkpoints entry)
  oracle              the environment's dense reward (PyBullet, MetaWorld)
  random              uniform random scores
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Protocol, Sequence

import numpy as np
import torch

from a2r_core.errors import ConfigError
from a2r_core.eval.clips import EvalClip
from a2r_core.losses import dvd_reward


@dataclass(frozen=True)
class RowSpec:
    """One row: `kind` "trained" | "oracle" | "random"; for trained rows the objective, the number
    of failure prompts (None: the base config's) and the failure sources kept (None: all)."""

    name: str
    kind: str
    objective: str = "a2r"
    num_failure_prompts: Optional[int] = None
    failure_sources: Optional[tuple[str, ...]] = None
    progress: bool = False
    branches: bool = False
    loop: int = 0  # planner-in-the-loop rounds (0: none)
    interventions: bool = False  # branch pairs from the planner's own states (a given checkpoint)
    task_bank: bool = False  # fine-tuned with loss.vlc_task_bank (a given checkpoint)
    reward_mode: Optional[str] = None  # ROW@MODE: score with this reward_mode (None: the checkpoint's own)

    @property
    def output(self) -> str:
        """Which score the row is judged by: its training objective's own output."""
        return {"bce_only": "success_prob", "dvd": "dvd"}.get(self.objective, "reward")


def parse_row(name: str) -> RowSpec:
    """Row name -> RowSpec (see the module docstring); ConfigError for an unknown name."""
    if "@" in name:
        from a2r_core.reward_modes import REWARD_MODES

        base_name, mode = name.rsplit("@", 1)
        base = parse_row(base_name)
        if base.kind != "trained" or base.output != "reward" or base.reward_mode is not None:
            raise ConfigError(f"eval rows: {name!r}: @MODE needs a trained row scored by its reward "
                              "(not oracle, random, bce_only, dvd, or a row that already has @MODE)")
        if mode not in REWARD_MODES:
            raise ConfigError(f"eval rows: {name!r}: reward mode must be one of {', '.join(REWARD_MODES)}")
        return dataclasses.replace(base, name=name, reward_mode=mode)
    if name.endswith("+taskbank"):
        base = parse_row(name[: -len("+taskbank")])
        if not base.interventions or base.task_bank:
            raise ConfigError(f"eval rows: {name!r}: +taskbank fine-tunes a +interventions row's checkpoint "
                              "(config/train_taskbank.yaml)")
        return dataclasses.replace(base, name=name, task_bank=True)
    if name.endswith("+interventions"):
        base = parse_row(name[: -len("+interventions")])
        if not base.loop:
            raise ConfigError(f"eval rows: {name!r}: +interventions needs a +loop row (its planner's attempts)")
        return dataclasses.replace(base, name=name, interventions=True)
    m = re.fullmatch(r"(.+)\+loop([2-9]?)", name)
    if m:
        base = parse_row(m.group(1) + "+branches")
        return dataclasses.replace(base, name=name, loop=int(m.group(2) or 1))
    if name.endswith("+branches"):
        base = parse_row(name[: -len("+branches")] + "+progress")
        return dataclasses.replace(base, name=name, branches=True)
    if name.endswith("+progress"):
        base = parse_row(name[: -len("+progress")])
        if base.kind != "trained" or base.objective == "dvd":
            raise ConfigError(f"eval rows: {name!r}: +progress needs a trained row with a clip reward (not dvd)")
        return dataclasses.replace(base, name=name, progress=True)
    if name in ("oracle", "random"):
        return RowSpec(name, name)
    if name in ("a2r", "no_failure_data", "bce_only", "dvd"):
        return RowSpec(name, "trained", objective=name)
    m = re.fullmatch(r"a2r_k([1-9])", name)
    if m:
        return RowSpec(name, "trained", num_failure_prompts=int(m.group(1)))
    m = re.fullmatch(r"single_source:(\w+)", name)
    if m:
        return RowSpec(name, "trained", failure_sources=(m.group(1),))
    raise ConfigError(f"eval rows: unknown row {name!r}; known: a2r, no_failure_data, bce_only, dvd, "
                      "a2r_k1..a2r_k5, single_source:<source>, any of those + '+progress', '+branches', '+loop' or '+loopN' (then optionally '+interventions', "
                      "then optionally '+taskbank'), "
                      "any trained reward row + '@cosine', '@contrast' or '@grounded', oracle, random")


class RowScorer(Protocol):
    def score(self, clips: Sequence[EvalClip], instructions: Sequence[str]) -> np.ndarray: ...


class ModelScorer:
    """A trained checkpoint scored through `RewardModel.score` (reward or success probability)."""

    def __init__(self, checkpoint: str | Path, output: str = "reward", batch_size: int = 64,
                 reward_mode: Optional[str] = None) -> None:
        from a2r_core.reward import RewardModel

        if output not in ("reward", "success_prob"):
            raise ConfigError(f"ModelScorer: output must be reward or success_prob, got {output!r}")
        self.reward_model = RewardModel.load(checkpoint, batch_size=batch_size, reward_mode=reward_mode)
        self.output = output

    def score(self, clips: Sequence[EvalClip], instructions: Sequence[str]) -> np.ndarray:
        out = self.reward_model.score([c.frames for c in clips], list(instructions))
        return np.asarray(getattr(out, self.output), dtype=np.float64)


class DVDScorer:
    """DVD reward: mean "same task" probability of the clip against the instruction's task demos.

    `demos`: task -> demonstration clips (uint8 [T, H, W, 3]); `task_of`: instruction -> task.
    Instructions whose task has no demos score NaN (the DVD reward is undefined there).
    """

    def __init__(self, checkpoint: str | Path, demos: dict[str, list[np.ndarray]], task_of: dict[str, str],
                 hidden: int, batch_size: int = 64) -> None:
        from a2r_core.losses import DVDPairHead
        from a2r_core.model.checkpoint import load_checkpoint
        from a2r_core.training.state import DVD_PREFIX, module_from_tensors

        self.model, tensors, _ = load_checkpoint(checkpoint)
        self.head = DVDPairHead(self.model.config.embed_dim, hidden)
        module_from_tensors(self.head, tensors, DVD_PREFIX)
        self.head.eval()
        self.batch_size = batch_size
        self.task_of = dict(task_of)
        self.demo_feats = {t: self._embed(v) for t, v in demos.items() if v}

    @torch.inference_mode()
    def _embed(self, frames: Sequence[np.ndarray]) -> torch.Tensor:
        out = []
        for start in range(0, len(frames), self.batch_size):
            part = [torch.from_numpy(np.ascontiguousarray(f)) for f in frames[start:start + self.batch_size]]
            video = torch.cat([self.model.preprocess(p[None]) for p in part])
            out.append(self.model.encode_video(video).float())
        return torch.cat(out)

    @torch.inference_mode()
    def score(self, clips: Sequence[EvalClip], instructions: Sequence[str]) -> np.ndarray:
        v = self._embed([c.frames for c in clips])  # [B, D]
        out = np.full((len(clips), len(instructions)), np.nan)
        for i, text in enumerate(instructions):
            refs = self.demo_feats.get(self.task_of.get(text, ""))
            if refs is None:
                continue
            out[:, i] = dvd_reward(self.head, v, refs).numpy()
        return out


class OracleScorer:
    """The env's dense reward at the clip's last frame, for the clip's own instruction only."""

    def score(self, clips: Sequence[EvalClip], instructions: Sequence[str]) -> np.ndarray:
        out = np.full((len(clips), len(instructions)), np.nan)
        for b, c in enumerate(clips):
            if c.oracle is None or len(c.oracle) == 0:
                continue
            for i, text in enumerate(instructions):
                if text == c.instruction:
                    out[b, i] = float(c.oracle[-1])
        return out


class RandomScorer:
    """Uniform random scores (the chance row), seeded for reproducibility."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def score(self, clips: Sequence[EvalClip], instructions: Sequence[str]) -> np.ndarray:
        return self.rng.random((len(clips), len(instructions)))


def clip_reward_fn(scorer: RowScorer):
    """A planner `ClipRewardFn` (clips uint8 [N,T,H,W,3], N instructions -> [N]) over a row."""

    def reward(clips: np.ndarray, instructions: list[str]) -> np.ndarray:
        uniq = list(dict.fromkeys(instructions))
        items = [EvalClip(frames=c, task="", instruction=t, success=False, source="mpc")
                 for c, t in zip(clips, instructions)]
        m = scorer.score(items, uniq)
        cols = [uniq.index(t) for t in instructions]
        return np.nan_to_num(m[np.arange(len(items)), cols], nan=-np.inf)

    return reward
