"""The comparison's photos and folds are decided once: every model sees the same test photos."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest

from fer_compare.errors import UserError
from fer_compare.protocol import plan_folds, prepare
from fer_compare.records import read_manifest, write_manifest
from fer_compare.settings import Settings, updated

KINDS = ["cnn", "landmark_fnn", "gradient_fnn", "linear_crop", "linear_landmarks", "linear_laplacian"]


def with_folds(config: Settings, folds: int, **changes) -> Settings:
    return updated(config, {"evaluation.folds": folds, "nn.gradient_fnn.emotions": None, **changes})


def test_every_model_gets_identical_test_photos_in_every_fold(london_stages):
    config = with_folds(london_stages, 4)
    prepared = prepare(config, KINDS)
    plans = plan_folds(prepared, config)
    assert len(plans) == 4
    seen: set[str] = set()
    for plan in plans:
        splits = {k: plan.split(prepared.datasets[k]) for k in KINDS}
        tested = {k: sorted(np.array(prepared.datasets[k].keys)[s.test]) for k, s in splits.items()}
        for a, b in itertools.combinations(KINDS, 2):
            assert tested[a] == tested[b]
        data = prepared.datasets["cnn"]
        split = splits["cnn"]
        test_subjects = set(data.subjects[split.test])
        assert not test_subjects & set(data.subjects[split.train])
        assert not test_subjects & set(data.subjects[split.validation])
        assert not seen & set(tested["cnn"])
        seen |= set(tested["cnn"])
    assert seen == set(prepared.keys)  # every photo is tested exactly once


def test_a_photo_one_stage_rejected_is_left_out_of_every_model(london_stages, tmp_path: Path):
    config = with_folds(london_stages, 3)
    aligned = tmp_path / "aligned"
    shutil.copytree(config.aligned, aligned)
    records = read_manifest(aligned, "aligned")
    dropped = records[0].key
    write_manifest(aligned, records[1:])
    config = updated(config, {"aligned": str(aligned)})
    prepared = prepare(config, ["cnn", "landmark_fnn"])
    assert dropped not in prepared.datasets["cnn"].keys and dropped not in prepared.datasets["landmark_fnn"].keys
    assert prepared.left_out["formatted"] == 1 and prepared.left_out["aligned (features)"] == 0


def test_split_plan_is_the_same_for_a_model_alone(london_stages):
    """The single split of a model trained alone equals its split in a comparison of all three."""
    config = with_folds(london_stages, 1)
    alone = prepare(config, ["cnn"])
    together = prepare(config, KINDS)
    plan_alone, plan_together = plan_folds(alone, config)[0], plan_folds(together, config)[0]
    assert plan_alone.test == plan_together.test and plan_alone.validation == plan_together.validation


def test_mean_normalisation_reaches_every_model(london_stages):
    config = with_folds(london_stages, 3, subject_normalization="mean")
    plain = prepare(with_folds(london_stages, 3), ["cnn", "landmark_fnn"])
    prepared = prepare(config, ["cnn", "landmark_fnn"])
    assert prepared.normalisation.mode == "mean" and prepared.normalisation.without_reference == ()
    cnn = prepared.datasets["cnn"]
    assert cnn.x.dtype == np.float32
    # Each person's two photos (neutral, happy) become +-half their difference.
    for s in set(cnn.subjects):
        rows = np.flatnonzero(cnn.subjects == s)
        np.testing.assert_allclose(cnn.x[rows].sum(axis=0), 0, atol=1e-5)
    feats, raw = prepared.datasets["landmark_fnn"].x, plain.datasets["landmark_fnn"].x
    np.testing.assert_allclose(feats[0], raw[0] - raw[plain.datasets["landmark_fnn"].subjects == plain.datasets[
        "landmark_fnn"].subjects[0]].mean(axis=0), rtol=1e-4, atol=1e-4)


def test_a_mode_that_leaves_no_reference_says_so(london_stages):
    """London has one neutral photo per person: no *other* neutral photo, so every neutral photo lacks a
    reference and is left out; one class is left, which is one clear line."""
    config = with_folds(london_stages, 3, subject_normalization="neutral")
    with pytest.raises(UserError, match=r"emotions: the data has photos of \['happy'\] only"):
        prepare(config, ["cnn"])


def test_a_separate_test_source_is_also_the_validation_set(london_stages):
    """The thesis's sources mode validates on its test source: those photos are both, and never train."""
    from fer_compare.protocol import FoldPlan

    config = with_folds(london_stages, 1)
    prepared = prepare(config, ["landmark_fnn"])
    data = prepared.datasets["landmark_fnn"]
    held = frozenset(data.keys[:6])
    split = FoldPlan(0, 0, held, held).split(data)
    assert list(split.validation) == list(split.test) and len(split.test) == 6
    assert not set(split.train) & set(split.test) and len(split.train) == len(data.keys) - 6
