"""Subject-disjoint (default) and random (thesis) splits, and subject-disjoint K folds shared by all models."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import UserError
from .progress import say


@dataclass(frozen=True)
class Split:
    """Index arrays into one model's data."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


def subject_order(subjects: np.ndarray | list[str], seed: int) -> list[str]:
    """All subject ids in a seeded random order: the same for every model given the same subjects."""
    unique = sorted(set(map(str, subjects)))
    rng = np.random.default_rng(seed)
    return [unique[i] for i in rng.permutation(len(unique))]


def fold_of_subject(subjects: list[str] | np.ndarray, folds: int, seed: int) -> dict[str, int]:
    """Subject -> fold number, dealt round-robin over the seeded order."""
    order = subject_order(subjects, seed)
    if len(order) < folds:
        raise UserError(f"evaluation.folds: {folds} folds need at least {folds} subjects, the data has {len(order)}")
    return {s: i % folds for i, s in enumerate(order)}


def _take_subjects(subjects: np.ndarray, pool: np.ndarray, fraction: float, seed: int, what: str) -> np.ndarray:
    """A fraction of the subjects in `pool` (indices), whole subjects at a time; returns the chosen indices."""
    if fraction <= 0:
        return np.array([], dtype=int)
    order = subject_order(subjects[pool], seed)
    if len(order) < 2:
        raise UserError(
            f"split: the data has only one subject ({order[0] if order else 'none'}), so a subject-disjoint "
            f"{what} set is impossible; add subjects or set split.method to \"random\"")
    n = min(max(1, round(len(order) * fraction)), len(order) - 1)
    chosen = set(order[:n])
    return pool[np.isin(subjects[pool], list(chosen))]


def make_split(subjects: np.ndarray, parts: np.ndarray, method: str, validation_fraction: float,
               test_fraction: float, seed: int) -> Split:
    """Train / validation / test indices.

    With separate train and test sources (parts), the thesis's use: test is the test source,
    and validation is taken from the test source too (the thesis validated on it). Otherwise
    test and then validation are held out from the whole set: by subject, or at random.
    """
    n = len(subjects)
    everything = np.arange(n)
    if (parts == "test").any():
        test = everything[parts == "test"]
        return Split(everything[parts == "train"], test, test)
    if method == "random":
        rng = np.random.default_rng(seed)
        perm = rng.permutation(n)
        n_test = round(n * test_fraction)
        n_val = round((n - n_test) * validation_fraction)
        return Split(np.sort(perm[n_test + n_val:]), np.sort(perm[n_test:n_test + n_val]), np.sort(perm[:n_test]))
    test = _take_subjects(subjects, everything, test_fraction, seed, "test")
    rest = np.setdiff1d(everything, test)
    validation = _take_subjects(subjects, rest, validation_fraction, seed + 1, "validation")
    train = np.setdiff1d(rest, validation)
    return Split(train, validation, test)


def fold_split(subjects: np.ndarray, fold_map: dict[str, int], fold: int, validation_fraction: float,
               seed: int) -> Split:
    """Fold `fold` as test; validation subjects taken from the other folds."""
    everything = np.arange(len(subjects))
    in_fold = np.array([fold_map.get(str(s), -1) == fold for s in subjects])
    test = everything[in_fold]
    rest = everything[~in_fold]
    validation = _take_subjects(subjects, rest, validation_fraction, seed + 1 + fold, "validation")
    return Split(np.setdiff1d(rest, validation), validation, test)


def warn_missing_classes(split: Split, y: np.ndarray, classes: list[str], model: str) -> None:
    """A class absent from training cannot be learned: say so."""
    present = set(y[split.train].tolist())
    missing = [c for i, c in enumerate(classes) if i not in present]
    if missing:
        say(f"  warning: {model}: the split leaves {', '.join(missing)} out of training")
