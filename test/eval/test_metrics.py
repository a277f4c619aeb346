"""The metric functions against values computed by hand."""

import math

import numpy as np
import pytest

from a2r_core.errors import InputError
from a2r_core.eval import metrics
from a2r_core.eval.metrics import best_of_n_success, instruction_top1, success_auroc, value_order_spearman


def test_auroc_counts_correctly_ordered_pairs():
    # pairs (success, failure): 0.35>0.1 yes, 0.35>0.4 no, 0.8>0.1 yes, 0.8>0.4 yes -> 3/4
    assert success_auroc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == pytest.approx(0.75)


def test_auroc_ties_count_half_and_nan_scores_are_dropped():
    assert success_auroc([0.5, 0.5], [False, True]) == pytest.approx(0.5)
    assert success_auroc([0.1, float("nan"), 0.9], [False, False, True]) == pytest.approx(1.0)


def test_auroc_undefined_with_one_class():
    assert math.isnan(success_auroc([0.1, 0.2], [True, True]))
    with pytest.raises(InputError):
        success_auroc([0.1, 0.2], [True])


def test_instruction_top1_with_ties_counts_expected_accuracy():
    scores = np.array([[3.0, 1.0, 2.0],   # true 0 is the unique max -> 1
                       [1.0, 1.0, 0.0],   # true 0 tied with 1 -> 1/2
                       [0.0, 5.0, 5.0],   # true 2 tied with 1 -> 1/2
                       [9.0, 0.0, 1.0]])  # true 2, max is 0 -> 0
    assert instruction_top1(scores, [0, 0, 2, 2]) == pytest.approx((1 + 0.5 + 0.5 + 0) / 4)


def test_instruction_top1_constant_scorer_is_chance_and_nan_rows_skipped():
    assert instruction_top1(np.zeros((5, 4)), [0, 1, 2, 3, 0]) == pytest.approx(0.25)
    assert instruction_top1(np.array([[np.nan, 1.0], [2.0, 1.0]]), [1, 0]) == pytest.approx(1.0)
    assert math.isnan(instruction_top1(np.full((2, 2), np.nan), [0, 1]))
    with pytest.raises(InputError):
        instruction_top1(np.zeros((2, 2)), [0, 2])


def test_value_order_spearman_means_over_clips_skipping_constant_ones():
    # [1,3,2]: rank differences 0,1,-1 -> rho = 1 - 6*2/(3*8) = 0.5; [3,2,1] -> -1; constant skipped
    assert value_order_spearman([[1, 3, 2]]) == pytest.approx(0.5)
    assert value_order_spearman([[1, 2, 3, 4], [1, 3, 2], [7, 7, 7], [5]]) == pytest.approx((1 + 0.5) / 2)
    assert value_order_spearman([[3, 2, 1]]) == pytest.approx(-1.0)
    assert math.isnan(value_order_spearman([[2, 2], [1]]))


def test_best_of_n_picks_the_top_scored_candidate():
    scores = np.array([[0.9, 0.1], [0.2, 0.7], [0.5, 0.5]])
    succ = np.array([[1, 0], [1, 0], [0, 1]], dtype=bool)
    # group 0 picks a success (1), group 1 a failure (0), group 2 ties -> expected 1/2
    assert best_of_n_success(scores, succ) == pytest.approx(0.5)
    assert best_of_n_success(np.zeros((2, 4)), np.array([[1, 0, 0, 0], [1, 1, 0, 0]])) == pytest.approx((0.25 + 0.5) / 2)
    with pytest.raises(InputError):
        best_of_n_success(scores, succ[:, :1])


def test_wilson_interval_matches_the_formula_and_stays_inside_0_1():
    low, high = metrics.wilson_interval(1, 2)
    assert low == pytest.approx(0.0945, abs=1e-3) and high == pytest.approx(0.9055, abs=1e-3)
    low, high = metrics.wilson_interval(10, 10)  # all successes: an interval below 1, not [1, 1]
    assert high == pytest.approx(1.0) and low == pytest.approx(0.7225, abs=1e-3)
    assert metrics.wilson_interval(0, 10)[0] == 0.0
    assert all(np.isnan(metrics.wilson_interval(0, 0)))
