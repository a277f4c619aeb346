"""Reward-quality metrics over plain arrays (the benchmark protocol of shared/design.md).

Each metric is a small pure function so that it can be checked against hand-computed values and
reused outside the benchmark. All of them return NaN (never raise) when the data cannot define the
metric (one class only, constant sequences, no groups): a benchmark table must still be written
when one cell is undefined, and NaN says "undefined" without pretending to be a score.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from a2r_core.errors import InputError


def _finite_pairs(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(labels, dtype=bool).reshape(-1)
    if s.shape != y.shape:
        raise InputError(f"scores and labels differ in length: {s.shape[0]} vs {y.shape[0]}")
    ok = np.isfinite(s)
    return s[ok], y[ok]


def success_auroc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Area under the ROC curve of `scores` separating success (True) from failure (False) clips.

    Ties count one half (scikit-learn's definition); non-finite scores are dropped. NaN when fewer
    than two classes remain.
    """
    s, y = _finite_pairs(scores, labels)
    if y.size == 0 or y.all() or not y.any():
        return float("nan")
    return float(roc_auc_score(y, s))


def instruction_top1(scores: np.ndarray, true_index: Sequence[int]) -> float:
    """Mean top-1 accuracy of picking each clip's true instruction among the candidates.

    scores: [N, I], clip n's score for instruction i; true_index: [N]. A clip whose row has ties
    at the top counts 1/k when its true instruction is one of the k tied maxima (the expected
    accuracy of breaking ties at random), so a constant scorer gets exactly chance, 1/I.
    Rows with a non-finite score are skipped; NaN when no row is left.
    """
    m = np.asarray(scores, dtype=np.float64)
    idx = np.asarray(true_index, dtype=np.int64).reshape(-1)
    if m.ndim != 2 or m.shape[0] != idx.size:
        raise InputError(f"instruction_top1: scores must be [N, I] with N = len(true_index), got "
                         f"{list(m.shape)} and {idx.size}")
    if idx.size and (idx.min() < 0 or idx.max() >= m.shape[1]):
        raise InputError(f"instruction_top1: true_index out of range [0, {m.shape[1]})")
    ok = np.isfinite(m).all(axis=1)
    m, idx = m[ok], idx[ok]
    if idx.size == 0:
        return float("nan")
    top = m == m.max(axis=1, keepdims=True)  # [N, I] the tied maxima
    hit = top[np.arange(idx.size), idx] / top.sum(axis=1)
    return float(hit.mean())


def value_order_spearman(rewards_over_time: Sequence[Sequence[float]]) -> float:
    """Mean over clips of Spearman's rho between a clip's reward after each frame and time.

    A reward that tracks progress rises over a success clip (rho -> 1). Each element is one clip's
    rewards for its growing prefixes, in time order. Clips with fewer than 2 values or a constant
    reward (rho undefined) are left out; NaN when none is left.
    """
    rhos = []
    for seq in rewards_over_time:
        r = np.asarray(seq, dtype=np.float64).reshape(-1)
        if r.size < 2 or not np.isfinite(r).all() or np.ptp(r) == 0:
            continue
        rhos.append(spearmanr(np.arange(r.size), r).statistic)
    return float(np.mean(rhos)) if rhos else float("nan")


def best_of_n_success(scores: np.ndarray, successes: np.ndarray) -> float:
    """Fraction of candidate groups whose top-scored candidate succeeded.

    scores, successes: [G, N] (G groups, e.g. one per instruction and start state, of N candidate
    rollouts). Ties at the top count the expected value of a random pick among them, so a constant
    scorer gets the groups' mean success rate. Groups with a non-finite score are skipped.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(successes, dtype=np.float64)
    if s.ndim != 2 or s.shape != y.shape:
        raise InputError(f"best_of_n_success: scores and successes must both be [G, N], got "
                         f"{list(s.shape)} and {list(y.shape)}")
    ok = np.isfinite(s).all(axis=1)
    s, y = s[ok], y[ok]
    if s.shape[0] == 0:
        return float("nan")
    top = s == s.max(axis=1, keepdims=True)
    return float(((top * y).sum(axis=1) / top.sum(axis=1)).mean())


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a success rate (successes of n trials); (nan, nan) for n = 0.
    Why Wilson: with 10 episodes a rate of 0 or 1 still gets an honest, non-degenerate interval."""
    if n <= 0:
        return float("nan"), float("nan")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))
