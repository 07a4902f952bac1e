"""Classification metrics in plain NumPy: confusion matrices, per-class scores, macro-F1, mean ± std.

Conventions (the same as scikit-learn with ``zero_division=0``):

* precision of a class that was never predicted is 0.0;
* recall of a class with no support (no true samples) is 0.0;
* F1 is 0.0 when precision + recall is 0;
* macro-F1 is the unweighted mean of the F1 of *every* class in ``classes``, including
  classes with no support in this particular sample (they count as 0.0 and pull the mean down),
  so that folds and models with the same class list are averaged over the same classes;
* with no samples at all, accuracy and macro-F1 are NaN (undefined, not 0).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


def _labels(y: Any, name: str, n_classes: int) -> np.ndarray:
    """A 1-D integer label array, checked against the class count."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of class indices, got shape {arr.shape}")
    if arr.size == 0:
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name}: expected whole class indices")
        arr = arr.astype(np.int64)
    if arr.min() < 0 or arr.max() >= n_classes:
        raise ValueError(f"{name}: class indices must lie in [0, {n_classes}), got {arr.min()}..{arr.max()}")
    return arr.astype(np.int64)


def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int) -> np.ndarray:
    """Counts [n_classes, n_classes]: row = true class, column = predicted class."""
    if n_classes < 1:
        raise ValueError(f"n_classes must be positive, got {n_classes}")
    t = _labels(y_true, "y_true", n_classes)
    p = _labels(y_pred, "y_pred", n_classes)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length ({t.size} vs {p.size})")
    flat = np.bincount(t * n_classes + p, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes).astype(np.int64)


def row_normalised(cm: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (recall on the diagonal); rows with no support stay 0."""
    cm = np.asarray(cm, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"expected a square matrix, got shape {cm.shape}")
    sums = cm.sum(axis=1, keepdims=True)
    out = np.zeros_like(cm)
    np.divide(cm, sums, out=out, where=sums > 0)
    return out


@dataclass
class ClassificationReport:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix of one test."""

    accuracy: float
    macro_f1: float
    per_class: list[dict[str, Any]]
    confusion: list[list[int]]
    confusion_normalised: list[list[float]]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (NaN stays NaN; the writer decides how to encode it)."""
        return asdict(self)


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros(num.shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def report_from_confusion(cm: np.ndarray, classes: list[str]) -> ClassificationReport:
    """The report a confusion matrix implies (used for pooled matrices, which are sums of fold matrices)."""
    cm = np.asarray(cm)
    n = len(classes)
    if cm.shape != (n, n):
        raise ValueError(f"confusion matrix shape {cm.shape} does not match {n} classes")
    cm = cm.astype(np.int64)
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    total = int(cm.sum())
    precision = _safe_ratio(tp, predicted.astype(np.float64))
    recall = _safe_ratio(tp, support.astype(np.float64))
    f1 = _safe_ratio(2 * precision * recall, precision + recall)
    if total == 0:
        accuracy = macro_f1 = math.nan
    else:
        accuracy = float(tp.sum() / total)
        macro_f1 = float(f1.mean())
    per_class = [
        {"class": name, "precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
         "support": int(support[i])}
        for i, name in enumerate(classes)
    ]
    return ClassificationReport(
        accuracy=accuracy, macro_f1=macro_f1, per_class=per_class,
        confusion=cm.tolist(), confusion_normalised=row_normalised(cm).tolist(),
    )


def classification_report(y_true: Any, y_pred: Any, classes: list[str]) -> ClassificationReport:
    """Report of predictions `y_pred` against labels `y_true` (indices into `classes`)."""
    return report_from_confusion(confusion_matrix(y_true, y_pred, len(classes)), list(classes))


def mean_std(values: Iterable[float | None]) -> tuple[float, float]:
    """Mean and population standard deviation (ddof=0) ignoring NaN/None; (NaN, NaN) when nothing is left."""
    arr = np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return math.nan, math.nan
    return float(arr.mean()), float(arr.std(ddof=0))
