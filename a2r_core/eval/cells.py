"""Offline metrics of one scorer on a set of clips: one scoring pass, then any number of cells.

Why its own module: the benchmark (`a2r_core.eval.benchmark`, many rows x columns) and the
single-model evaluation of `a2r eval --checkpoint` (`a2r_core.eval.model_report`, one model x
slices by task and variant) compute the same cells (success-vs-failure AUROC, instruction top-1,
value order, the plots' data) from the same scores; one copy keeps their numbers comparable.

`score_clips` scores every clip once (its growing prefixes for its own instruction, and its
success clips against one candidate instruction per task); `cell` turns those scores, restricted
to a mask of clips, into the metrics with `a2r_core.eval.metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from a2r_core.eval import metrics, online
from a2r_core.eval.clips import EvalClip
from a2r_core.eval.rows import RowScorer

COLUMN_KINDS = ("seen tasks / seen env", "seen tasks / new env", "new tasks (second domain only)")
CURVE_POINTS = 10  # reward curves are resampled to this many points of normalised episode time


@dataclass
class Column:
    """A column: its clips and the candidate instructions of its instruction discrimination (task ->
    the one instruction that stands for it; top-1 is the true task against these)."""

    suite: str
    name: str
    kind: str
    clips: list[EvalClip]
    candidates: dict[str, str]
    online: bool = False
    per_variant: bool = False  # also one sub-column `<key>:<variant>` per clip variant

    @property
    def key(self) -> str:
        return f"{self.suite}/{self.name}"


def curve(values: np.ndarray) -> np.ndarray:
    """A reward sequence resampled to CURVE_POINTS points of normalised time (clips differ in length)."""
    if values.size == 1:
        return np.full(CURVE_POINTS, values[0])
    return np.interp(np.linspace(0, 1, CURVE_POINTS), np.linspace(0, 1, values.size), values)


def mean_curve(series: list[np.ndarray]) -> Optional[list[float]]:
    """Mean of the finite series' resampled curves; None when there is none."""
    good = [curve(s) for s in series if np.isfinite(s).all()]
    return np.mean(good, axis=0).tolist() if good else None


@dataclass
class ClipScores:
    """One scorer's scores of a set of clips: per clip the reward after every scored prefix
    (`series`), the final reward (whole clip), the label, and (success clips) the
    candidate-instruction matrix for top-1. `success_prob`: the whole clip's success probability
    for its own instruction, where the caller scored it (a model; None for the other rows)."""

    series: list[np.ndarray]
    final: np.ndarray
    labels: np.ndarray
    cand: Optional[np.ndarray]  # [n_success, n_tasks], own score in the own task's slot
    cand_idx: Optional[np.ndarray]  # [n_success] the own task's slot
    success_prob: Optional[np.ndarray] = None


def prefix_lengths(n_frames: int, max_prefixes: Optional[int]) -> np.ndarray:
    """Growing-prefix lengths scored for a clip: 1..n, or at most `max_prefixes` evenly spaced (n kept)."""
    if max_prefixes is None or n_frames <= max_prefixes:
        return np.arange(1, n_frames + 1)
    return np.unique(np.round(np.linspace(1, n_frames, max_prefixes)).astype(int))


def count_scored(clips: Sequence[EvalClip], max_prefixes: Optional[int]) -> int:
    """How many clip scorings `score_clips` makes (for a progress bar)."""
    return sum(len(prefix_lengths(c.frames.shape[0], max_prefixes)) for c in clips) + sum(c.success for c in clips)


def score_clips(scorer: RowScorer, clips: Sequence[EvalClip], candidates: dict[str, str],
                max_prefixes: Optional[int] = None) -> ClipScores:
    """Score `clips` (see the module docstring). `candidates`: task -> the one instruction that
    stands for it in instruction discrimination; every success clip's task must be a key."""
    clips = list(clips)
    own = list(dict.fromkeys(c.instruction for c in clips))
    # Reward after every frame (or at `max_prefixes` points): score each clip's growing prefixes for
    # its own instruction.
    lengths = [prefix_lengths(c.frames.shape[0], max_prefixes) for c in clips]
    prefixes = [c.prefix(int(t)) for c, ts in zip(clips, lengths) for t in ts]
    owner = np.repeat(np.arange(len(clips)), [len(ts) for ts in lengths])
    m = scorer.score(prefixes, own)
    col = np.array([own.index(clips[i].instruction) for i in owner])
    flat = m[np.arange(len(prefixes)), col]
    series = [flat[owner == i] for i in range(len(clips))]
    final = np.array([s[-1] for s in series])
    labels = np.array([c.success for c in clips])
    tasks = list(candidates)
    succ = [c for c in clips if c.success]
    cand = idx = None
    if succ:
        cand = scorer.score(succ, [candidates[t] for t in tasks]).copy()
        # A clip's own instruction may be a paraphrase: put its own score in its task's slot.
        idx = np.array([tasks.index(c.task) for c in succ])
        cand[np.arange(len(succ)), idx] = final[labels]
    return ClipScores(series, final, labels, cand, idx)


def cell(sc: ClipScores, clips: Sequence[EvalClip], keep: np.ndarray, online_metrics: bool = False) -> dict:
    """The metrics and plot data of the clips at `keep` (bool mask over the scored clips).
    `auroc_success_prob` only where `sc.success_prob` was scored; best-of-N with `online_metrics`."""
    labels, final = sc.labels[keep], sc.final[keep]
    series = [s for s, k in zip(sc.series, keep) if k]
    top1 = float("nan")
    if sc.cand is not None:
        succ_keep = keep[sc.labels]  # which success clips of the set are kept
        if succ_keep.any():
            top1 = metrics.instruction_top1(sc.cand[succ_keep], sc.cand_idx[succ_keep])
    out = {
        "n_clips": int(keep.sum()), "n_success": int(labels.sum()),
        "auroc": metrics.success_auroc(final, labels),
        "instruction_top1": top1,
        "value_order_spearman": metrics.value_order_spearman([s for s, y in zip(series, labels) if y]),
        "best_of_n": float("nan"),
        "plot": {
            "success_final": final[labels].tolist(), "failure_final": final[~labels].tolist(),
            "success_curve": mean_curve([s for s, y in zip(series, labels) if y]),
            "failure_curve": mean_curve([s for s, y in zip(series, labels) if not y]),
        },
    }
    if sc.success_prob is not None:
        out["auroc_success_prob"] = metrics.success_auroc(sc.success_prob[keep], labels)
    if online_metrics:
        out.update(online.best_of_n(final, [c for c, k in zip(clips, keep) if k]))
    return out
