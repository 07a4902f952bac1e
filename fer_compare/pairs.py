"""Every pair of compared models, scored on the same test photos of the same folds.

Two models with different classes (the gradient FNN leaves fear and contempt out by default)
are compared on the test photos of the classes both know; the pair says which classes those
were. The per-fold accuracy differences go to statistics.paired_difference.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .results import FoldResult, ModelEvaluation
from .statistics import PairedDifference, paired_difference


@dataclass(frozen=True)
class Pair:
    """One pair's paired difference, the classes it was scored on, and the test photos per fold."""

    difference: PairedDifference
    shared_classes: tuple[str, ...]
    photos_per_fold: tuple[int, ...]
    all_classes: bool  # both models know exactly the same classes


def _fold_accuracy(fold: FoldResult, classes: list[str], shared: set[str], order: list[str]) -> tuple[float, int]:
    """Accuracy on the fold's test photos of `shared` classes, taken in key order `order`."""
    names = np.array(classes)
    true, pred = names[fold.y_true], names[fold.y_pred]
    position = {k: i for i, k in enumerate(fold.keys)}
    rows = [position[k] for k in order]
    correct = (true[rows] == pred[rows])
    return (float(correct.mean()) if len(rows) else float("nan")), len(rows)


def pair(a: ModelEvaluation, b: ModelEvaluation) -> Pair | None:
    """a against b over the folds both were scored on (matched by repeat and fold); None when the
    results do not name their test photos, so that pairing cannot be checked."""
    if any(not f.keys for f in (*a.folds, *b.folds)):
        return None
    shared = set(a.classes) & set(b.classes)
    b_folds = {(f.repeat, f.fold): f for f in b.folds}
    differences, photos = [], []
    for fa in a.folds:
        fb = b_folds.get((fa.repeat, fa.fold))
        if fb is None:
            continue
        names_a = np.array(a.classes)[fa.y_true]
        order = sorted(k for k, c in zip(fa.keys, names_a, strict=True) if c in shared)
        names_b = dict(zip(fb.keys, np.array(b.classes)[fb.y_true], strict=True))
        if sorted(k for k, c in names_b.items() if c in shared) != order:
            raise ValueError(f"{a.kind} and {b.kind} were tested on different photos in fold {fa.fold}")
        acc_a, n = _fold_accuracy(fa, a.classes, shared, order)
        acc_b, _ = _fold_accuracy(fb, b.classes, shared, order)
        if n:
            differences.append(acc_a - acc_b)
            photos.append(n)
    repeats = len({f.repeat for f in a.folds})
    ratio = float(np.mean([f.n_test / max(f.n_train, 1) for f in a.folds])) if a.folds else None
    difference = paired_difference(a.kind, b.kind, differences, repeats, ratio)
    return Pair(difference, tuple(c for c in a.classes if c in shared), tuple(photos), set(a.classes) == set(b.classes))


def all_pairs(evaluations: dict[str, ModelEvaluation]) -> list[Pair]:
    """Every unordered pair that can be paired, in the evaluations' order (networks before floors)."""
    pairs = (pair(evaluations[x], evaluations[y]) for x, y in itertools.combinations(evaluations, 2))
    return [p for p in pairs if p is not None]
