"""Splits: subject-disjoint hold-out and K folds never put one person on both sides; random is the thesis's way."""

from __future__ import annotations

import numpy as np
import pytest

from fer_compare.errors import UserError
from fer_compare.splits import fold_of_subject, fold_split, make_split


def _subjects(n_subjects: int = 20, per: int = 4) -> np.ndarray:
    return np.array([f"s{i:02d}" for i in range(n_subjects) for _ in range(per)])


def test_subject_split_never_shares_a_subject():
    subjects = _subjects()
    split = make_split(subjects, np.array([""] * len(subjects)), "subject", 0.2, 0.2, seed=3)
    sides = [set(subjects[idx]) for idx in (split.train, split.validation, split.test)]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    assert len(split.train) + len(split.validation) + len(split.test) == len(subjects)
    assert len(sides[2]) == 4 and len(sides[1]) == 3  # 20 % of 20, then 20 % of the 16 left


def test_folds_never_share_a_subject_and_cover_everyone_once():
    subjects = _subjects(23, 3)
    fold_map = fold_of_subject(subjects, 5, seed=0)
    tested = []
    for fold in range(5):
        split = fold_split(subjects, fold_map, fold, 0.2, seed=0)
        test, train, val = (set(subjects[i]) for i in (split.test, split.train, split.validation))
        assert not (test & train) and not (test & val) and not (train & val)
        tested += list(split.test)
    assert sorted(tested) == list(range(len(subjects)))  # every photo tested exactly once


def test_folds_are_the_same_for_every_model():
    """Folds are dealt by subject, so two models with different photos get paired folds."""
    a = _subjects(10, 2)
    b = a[::2]  # another model that reached fewer photos of the same people
    fold_map = fold_of_subject(a, 5, seed=1)
    for fold in range(5):
        sa = set(a[fold_split(a, fold_map, fold, 0.2, 1).test])
        sb = set(b[fold_split(b, fold_map, fold, 0.2, 1).test])
        assert sb <= sa


def test_random_split_is_the_thesis_reproduction():
    subjects = _subjects()
    split = make_split(subjects, np.array([""] * len(subjects)), "random", 0.2, 0.2, seed=0)
    assert set(subjects[split.train]) & set(subjects[split.test])  # people on both sides, as in the thesis


def test_a_single_subject_cannot_be_split_by_subject():
    subjects = np.array(["only"] * 8)
    with pytest.raises(UserError, match="only one subject"):
        make_split(subjects, np.array([""] * 8), "subject", 0.2, 0.2, seed=0)


def test_train_and_test_sources_are_kept_as_given():
    subjects = _subjects(4, 2)
    parts = np.array(["train"] * 6 + ["test"] * 2)
    split = make_split(subjects, parts, "subject", 0.2, 0.2, seed=0)
    assert list(split.train) == list(range(6)) and list(split.test) == [6, 7]
