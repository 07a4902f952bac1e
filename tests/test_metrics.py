"""Tests of the NumPy metrics against small cases computed by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fer_compare.metrics import (
    classification_report,
    confusion_matrix,
    mean_std,
    report_from_confusion,
    row_normalised,
)

# A 3-class, 10-sample case. Rows true, columns predicted:
#          pred 0  pred 1  pred 2
# true 0      2       1       1     support 4
# true 1      1       2       0     support 3
# true 2      0       1       2     support 3
Y_TRUE = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
Y_PRED = [0, 0, 1, 2, 1, 1, 0, 2, 2, 1]
CLASSES = ["neutral", "happy", "sad"]


def test_confusion_matrix_rows_are_true_columns_predicted() -> None:
    cm = confusion_matrix(Y_TRUE, Y_PRED, 3)
    assert cm.tolist() == [[2, 1, 1], [1, 2, 0], [0, 1, 2]]
    assert np.issubdtype(cm.dtype, np.integer)
    assert confusion_matrix([1], [0], 2).tolist() == [[0, 0], [1, 0]]


def test_confusion_matrix_keeps_absent_classes_and_accepts_empty_input() -> None:
    assert confusion_matrix([0, 0], [0, 0], 3).tolist() == [[2, 0, 0], [0, 0, 0], [0, 0, 0]]
    assert confusion_matrix(np.array([], dtype=int), np.array([], dtype=int), 2).tolist() == [[0, 0], [0, 0]]


@pytest.mark.parametrize(("y_true", "y_pred", "n"), [
    ([0, 3], [0, 1], 3),  # label out of range
    ([0, -1], [0, 1], 3),
    ([0, 1], [0], 3),  # lengths differ
    ([[0, 1]], [[0, 1]], 3),  # not 1-D
    ([0.5, 1], [0, 1], 3),  # not a class index
])
def test_confusion_matrix_rejects_bad_labels(y_true: list, y_pred: list, n: int) -> None:
    with pytest.raises(ValueError):
        confusion_matrix(y_true, y_pred, n)


def test_hand_computed_report() -> None:
    r = classification_report(Y_TRUE, Y_PRED, CLASSES)
    assert r.accuracy == pytest.approx(6 / 10)
    # precision = diagonal / column sum, recall = diagonal / row sum
    expected = {
        "neutral": (2 / 3, 2 / 4, 4 / 7, 4),  # F1 = 2 * (2/3 * 1/2) / (2/3 + 1/2) = 4/7
        "happy": (2 / 4, 2 / 3, 4 / 7, 3),
        "sad": (2 / 3, 2 / 3, 2 / 3, 3),
    }
    assert [row["class"] for row in r.per_class] == CLASSES
    for row in r.per_class:
        p, rec, f1, support = expected[row["class"]]
        assert row["precision"] == pytest.approx(p)
        assert row["recall"] == pytest.approx(rec)
        assert row["f1"] == pytest.approx(f1)
        assert row["support"] == support
    assert r.macro_f1 == pytest.approx((4 / 7 + 4 / 7 + 2 / 3) / 3)  # = 38/63
    assert r.macro_f1 == pytest.approx(38 / 63)
    assert r.confusion == [[2, 1, 1], [1, 2, 0], [0, 1, 2]]
    assert r.confusion_normalised[0] == pytest.approx([0.5, 0.25, 0.25])
    assert r.confusion_normalised[1] == pytest.approx([1 / 3, 2 / 3, 0])


@pytest.mark.parametrize(("counts", "predicted"), [
    ((5, 3, 2), 0),  # p = 0.5
    ((5, 3, 2), 2),  # p = 0.2
    ((1, 9), 1),  # p = 0.9
    ((3, 3, 3, 3), 1),  # p = 0.25
])
def test_model_that_always_predicts_one_class(counts: tuple[int, ...], predicted: int) -> None:
    y_true = np.repeat(np.arange(len(counts)), counts)
    y_pred = np.full_like(y_true, predicted)
    classes = [f"c{i}" for i in range(len(counts))]
    r = classification_report(y_true, y_pred, classes)
    p = counts[predicted] / sum(counts)
    assert r.accuracy == pytest.approx(p)
    # That class: precision p, recall 1, F1 2p/(1+p); every other class: never predicted, F1 0.
    assert r.macro_f1 == pytest.approx((2 * p / (1 + p)) / len(counts))
    for i, row in enumerate(r.per_class):
        if i == predicted:
            assert (row["precision"], row["recall"]) == pytest.approx((p, 1.0))
        else:
            assert (row["precision"], row["recall"], row["f1"]) == (0.0, 0.0, 0.0)


def test_three_class_always_first_hand_numbers() -> None:
    # 5/3/2 samples, always class 0: precision 0.5, recall 1, F1 2/3, macro-F1 (2/3)/3 = 2/9.
    r = classification_report([0] * 5 + [1] * 3 + [2] * 2, [0] * 10, ["a", "b", "c"])
    assert r.accuracy == pytest.approx(0.5)
    assert r.per_class[0]["f1"] == pytest.approx(2 / 3)
    assert r.macro_f1 == pytest.approx(2 / 9)


def test_class_with_no_support_counts_as_zero_in_macro_f1() -> None:
    # true: 0 0 1 1; predicted: 0 1 1 2. Class 2 has no support but was predicted once.
    r = classification_report([0, 0, 1, 1], [0, 1, 1, 2], ["a", "b", "c"])
    a, b, c = r.per_class
    assert (a["precision"], a["recall"], a["f1"]) == pytest.approx((1.0, 0.5, 2 / 3))
    assert (b["precision"], b["recall"], b["f1"]) == pytest.approx((0.5, 0.5, 0.5))
    assert (c["precision"], c["recall"], c["f1"], c["support"]) == (0.0, 0.0, 0.0, 0)
    assert r.accuracy == pytest.approx(0.5)
    assert r.macro_f1 == pytest.approx((2 / 3 + 0.5 + 0.0) / 3)  # all three classes, not just two
    assert r.confusion_normalised[2] == [0.0, 0.0, 0.0]


def test_class_with_no_support_and_no_predictions() -> None:
    # true: 0 0 1 1; predicted: 0 0 1 0. Class 2 never occurs: P = R = F1 = 0.
    r = classification_report([0, 0, 1, 1], [0, 0, 1, 0], ["a", "b", "c"])
    a, b, c = r.per_class
    assert a["f1"] == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))  # 0.8
    assert b["f1"] == pytest.approx(2 * 1 * 0.5 / 1.5)  # 2/3
    assert (c["precision"], c["recall"], c["f1"]) == (0.0, 0.0, 0.0)
    assert r.macro_f1 == pytest.approx((0.8 + 2 / 3) / 3)


def test_perfect_and_empty_predictions() -> None:
    perfect = classification_report([0, 1, 2, 1], [0, 1, 2, 1], CLASSES)
    assert perfect.accuracy == 1.0 and perfect.macro_f1 == 1.0
    empty = classification_report([], [], CLASSES)
    assert math.isnan(empty.accuracy) and math.isnan(empty.macro_f1)
    assert all(row["support"] == 0 for row in empty.per_class)


def test_row_normalised() -> None:
    cm = np.array([[2, 1, 1], [0, 0, 0], [0, 3, 1]])
    n = row_normalised(cm)
    assert n.dtype == np.float64
    assert n.tolist() == [[0.5, 0.25, 0.25], [0.0, 0.0, 0.0], [0.0, 0.75, 0.25]]
    assert cm.tolist() == [[2, 1, 1], [0, 0, 0], [0, 3, 1]]  # input untouched
    assert row_normalised(np.zeros((2, 2), dtype=int)).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    with pytest.raises(ValueError):
        row_normalised(np.zeros((2, 3)))


def test_pooled_report_equals_report_of_concatenated_folds() -> None:
    folds = [([0, 0, 1, 2], [0, 1, 1, 2]), ([2, 2, 1, 0, 0], [2, 0, 1, 0, 2])]
    pooled = sum(confusion_matrix(t, p, 3) for t, p in folds)
    from_matrix = report_from_confusion(pooled, CLASSES)
    all_true = [y for t, _ in folds for y in t]
    all_pred = [y for _, p in folds for y in p]
    assert from_matrix == classification_report(all_true, all_pred, CLASSES)
    with pytest.raises(ValueError):
        report_from_confusion(pooled, ["a", "b"])


def test_to_dict_is_json_ready() -> None:
    d = classification_report(Y_TRUE, Y_PRED, CLASSES).to_dict()
    assert set(d) == {"accuracy", "macro_f1", "per_class", "confusion", "confusion_normalised"}
    assert set(d["per_class"][0]) == {"class", "precision", "recall", "f1", "support"}
    assert json.loads(json.dumps(d)) == d


def test_mean_std_is_population_std_and_ignores_nan() -> None:
    mean, std = mean_std([0.5, 0.7, 0.9])
    assert mean == pytest.approx(0.7)
    assert std == pytest.approx(math.sqrt((0.04 + 0 + 0.04) / 3))  # ddof=0, not /2
    assert mean_std([1.0, math.nan, 3.0, None]) == pytest.approx((2.0, 1.0))
    assert mean_std([0.8]) == (0.8, 0.0)
    for nothing in ([], [math.nan, None]):
        m, s = mean_std(nothing)
        assert math.isnan(m) and math.isnan(s)
