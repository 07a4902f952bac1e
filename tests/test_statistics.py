"""Paired differences over folds against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from fer_compare.statistics import CORRECTED, PLAIN, paired_difference

T_975_DF4 = 2.7764451051977987  # the 97.5 % quantile of Student's t with 4 degrees of freedom (tables)


def test_identical_folds_give_difference_zero_and_p_one():
    d = paired_difference("a", "b", [0.0] * 10)
    assert d.mean_difference == 0.0 and d.ci95 == (0.0, 0.0) and d.p_value == 1.0
    assert not d.resolved and d.verdict() == "no resolved difference"


def test_a_fixed_known_difference_gives_a_zero_width_interval_at_that_difference():
    d = paired_difference("a", "b", [0.05] * 10)
    assert d.mean_difference == pytest.approx(0.05) and d.ci95 == pytest.approx((0.05, 0.05))
    assert d.p_value == 0.0 and d.resolved and d.verdict() == "better"


def test_the_t_interval_and_p_value_match_a_hand_computation():
    diffs = [0.10, 0.00, 0.05, 0.15, -0.05]
    # mean 0.05; squared deviations 0.0025, 0.0025, 0, 0.01, 0.01 -> sample variance 0.025 / 4
    se = math.sqrt(0.025 / 4) / math.sqrt(5)
    d = paired_difference("a", "b", diffs)
    assert d.test == PLAIN and d.mean_difference == pytest.approx(0.05)
    assert d.ci95 == pytest.approx((0.05 - T_975_DF4 * se, 0.05 + T_975_DF4 * se), abs=1e-9)
    assert d.p_value == pytest.approx(0.2301996, abs=1e-6)  # two-sided t = sqrt(2) with 4 df
    assert not d.resolved


def test_a_negative_resolved_difference_is_worse():
    d = paired_difference("a", "b", [-0.10, -0.12, -0.08, -0.11, -0.09])
    assert d.resolved and d.verdict() == "worse" and d.ci95[1] < 0


def test_repeats_use_the_corrected_resampled_variance():
    diffs = [0.10, 0.00, 0.05, 0.15, -0.05, 0.10]
    plain = paired_difference("a", "b", diffs)
    corrected = paired_difference("a", "b", diffs, repeats=2, test_train_ratio=0.25)
    assert corrected.test == CORRECTED
    # The corrected standard error is sd * sqrt(1/n + ratio) instead of sd * sqrt(1/n): wider, larger p.
    ratio = math.sqrt(1 / 6 + 0.25) / math.sqrt(1 / 6)
    width = plain.ci95[1] - plain.ci95[0]
    assert corrected.ci95[1] - corrected.ci95[0] == pytest.approx(width * ratio)
    assert corrected.p_value > plain.p_value


def test_one_fold_gives_no_interval():
    d = paired_difference("a", "b", [0.1])
    assert math.isnan(d.ci95[0]) and math.isnan(d.p_value) and not d.resolved
