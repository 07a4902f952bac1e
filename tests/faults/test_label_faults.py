"""Labels and splits: unknown emotions, classes that vanish, classes missing from training, one subject."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from faultkit import (
    TINY_CNN,
    case,
    error_line,
    london_photo,
    london_subjects,
    london_tree,
    run_cli,
    snapshot,
    succeeded,
    workspace,
)


def rafd_tree(london: Path, dest: Path, subjects: list[str], unknown: dict[str, str]) -> Path:
    """RaFD-named copies of London photos; `unknown` maps a subject to an emotion word RaFD does not have."""
    dest.mkdir(parents=True)
    name = "Rafd090_{:02d}_Caucasian_female_{}_frontal.jpg"
    for i, s in enumerate(subjects, start=1):
        for emotion in ("neutral", "happy"):
            shutil.copy(london_photo(london, s, emotion), dest / name.format(i, emotion))
    for i, (s, word) in enumerate(unknown.items(), start=90):
        shutil.copy(london_photo(london, s, "happy"), dest / name.format(i, word))
    return dest


def reasons(folder: Path) -> dict[str, str]:
    with open(folder / "rejects.csv", newline="") as f:
        return {Path(row["source"]).name: row["reason"] for row in csv.DictReader(f)}


@case("labels and splits", "an unknown emotion in a file name")
@pytest.mark.parametrize("layout", ["rafd", "class folders"])
def test_an_unknown_emotion_is_a_reject(london: Path, tmp_path: Path, layout: str) -> None:
    """The photo is rejected naming the word; the others are formatted; exit 0."""
    subjects = london_subjects(london)[:4]
    if layout == "rafd":
        raw = rafd_tree(london, tmp_path / "raw", subjects[:3], {subjects[3]: "bored"})
        bad, reason, good = "Rafd090_90_Caucasian_female_bored_frontal.jpg", "unknown emotion 'bored' in file name", 6
    else:
        raw = london_tree(london, tmp_path / "raw", subjects[:3], relabel={"bored": ("happy", subjects[3:])})
        bad, reason, good = f"{subjects[3]}_08.jpg", "unknown emotion folder 'bored'", 6
    before = snapshot(raw)
    run = run_cli(workspace(tmp_path, raw, format=True), tmp_path)
    succeeded(run)
    assert reasons(tmp_path / "formatted") == {bad: reason}
    assert f"format: read {good + 1}, wrote {good}," in run.stdout
    assert snapshot(raw) == before


def test_a_dataset_of_unknown_emotions_only_is_one_line(london: Path, tmp_path: Path) -> None:
    """When no photo has a usable label, the run cannot go on: one line, exit 2."""
    subjects = london_subjects(london)[:2]
    raw = rafd_tree(london, tmp_path / "raw", [], {subjects[0]: "bored", subjects[1]: "sleepy"})
    run = run_cli(workspace(tmp_path, raw, format=True), tmp_path)
    assert error_line(run) == f"fer-compare: error: raw_source: no usable labelled photos in {raw} (2 rejected)"


def _faceless(london: Path, subject: str) -> np.ndarray:
    photo = cv2.imread(str(london_photo(london, subject, "neutral")))
    flat = photo.reshape(-1, 3).copy()
    np.random.default_rng(1).shuffle(flat)
    return flat.reshape(photo.shape)


@pytest.fixture(scope="module")
def sad_without_faces(london: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """neutral and happy photos of four subjects, and a sad/ folder whose two photos have no face."""
    raw = tmp_path_factory.mktemp("vanishing") / "raw"
    subjects = london_subjects(london)
    london_tree(london, raw, subjects[:4])
    (raw / "sad").mkdir()
    for s in subjects[4:6]:
        cv2.imwrite(str(raw / "sad" / f"{s}_05.jpg"), _faceless(london, s))
    return raw


def _train_sets(tmp_path: Path, raw: Path, **more: Any) -> dict[str, Any]:
    return workspace(tmp_path, raw, format=True, train=True, save=False) | TINY_CNN | {
        "split.test_fraction": 0.0, "split.validation_fraction": 0.25} | more


@pytest.mark.slow
@case("labels and splits", "a class left with no images after filtering")
@pytest.mark.parametrize("emotions, outcome", [
    (["neutral", "happy", "sad"], "warned"),
    (["neutral", "sad"], "error"),
    pytest.param(None, "error"),
], ids=["two-classes-left", "one-class-left", "filtered-to-one-class"])
def test_a_class_left_with_no_images(sad_without_faces: Path, tmp_path: Path, emotions: list[str] | None,
                                     outcome: str) -> None:
    """Every sad photo is rejected (no face): the class is left out with a warning, or the run stops."""
    more: dict[str, Any] = {"nn.cnn.emotions": emotions}
    if emotions is None:
        more = {"dataset.emotions": ["neutral"]}  # the dataset filter leaves one class
    run = run_cli(_train_sets(tmp_path, sad_without_faces, **more), tmp_path)
    if outcome == "warned":
        succeeded(run)
        assert "warning: nn.cnn.emotions: no photos of sad; that class is left out" in run.stdout
        assert "classes ['neutral', 'happy']" in run.stdout
    elif emotions:
        assert error_line(run) == ("fer-compare: error: nn.cnn.emotions: fewer than two of ['neutral', 'sad'] "
                                   "have photos (['neutral'])")
    else:
        line = error_line(run)
        assert "neutral" in line and "two" in line
        assert "epoch" not in run.stdout


@pytest.mark.slow
@case("labels and splits", "a split that leaves a class out of training")
def test_a_split_that_leaves_a_class_out_of_training_is_warned(london: Path, tmp_path: Path) -> None:
    """With train_source and test_source, a class only in the test source: warned, training goes on."""
    subjects = london_subjects(london)
    train = london_tree(london, tmp_path / "train", subjects[:4])
    test = london_tree(london, tmp_path / "test", subjects[4:6], relabel={"sad": ("neutral", subjects[6:8])})
    sets = _train_sets(tmp_path, train) | {"train_source": str(train), "test_source": str(test)}
    before = snapshot(train, test)
    run = run_cli(sets, tmp_path)
    succeeded(run)
    assert "warning: cnn: the split leaves sad out of training" in run.stdout
    assert snapshot(train, test) == before


@pytest.mark.slow
@case("labels and splits", "a single-subject dataset split by subject")
def test_a_single_subject_dataset_split_by_subject(london: Path, tmp_path: Path) -> None:
    """A subject-disjoint split needs two subjects: one line that says why and what to do."""
    subject = london_subjects(london)[0]
    raw = london_tree(london, tmp_path / "raw", [subject])
    run = run_cli(_train_sets(tmp_path, raw, **{"split.test_fraction": 0.2}), tmp_path)
    assert error_line(run) == (
        f"fer-compare: error: split: the data has only one subject ({subject}), so a subject-disjoint test set "
        f'is impossible; add subjects or set split.method to "random"')
    assert "epoch" not in run.stdout

