"""Tests of the comparison report: files, numbers, winner rule, markdown text, figures, TensorBoard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from fer_compare.metrics import classification_report, confusion_matrix, mean_std
from fer_compare.report import (
    THESIS_FIGURES,
    FoldResult,
    ModelEvaluation,
    choose_winner,
    write_report,
)
from fer_compare.settings import load_config

ROOT = Path(__file__).resolve().parents[1]
EIGHT = ["neutral", "happy", "sad", "angry", "disgusted", "surprised", "fearful", "contemptuous"]
SIX = EIGHT[:6]
SKILL = {"cnn": 0.7, "landmark_fnn": 0.1, "gradient_fnn": 0.9}
SOURCES = {"cnn": "aligned", "landmark_fnn": "aligned (landmarks)", "gradient_fnn": "gradients"}
PARAMETERS = {"cnn": 1_200_000, "landmark_fnn": 2_500_000, "gradient_fnn": 90_000_000}
PROTOCOL = {"method": "subject", "folds": 2, "validation_fraction": 0.2, "seed": 0, "subjects": 12,
            "subject_disjoint": True}
PREPROCESSING = [
    {"stage": "format", "read": 30, "written": 27, "reused": 0, "rejected": 3,
     "reasons": {"no face found": 2, "unreadable": 1}},
    {"stage": "align", "read": 27, "written": 26, "reused": 0, "rejected": 1, "reasons": {"no landmarks": 1}},
    {"stage": "gradient", "read": 26, "written": 0, "reused": 26, "rejected": 0, "reasons": {}},
]


def _history(epochs: int, skill: float) -> list[dict[str, float]]:
    return [{"epoch": e, "train_loss": 2.0 * 0.9**e, "validation_loss": 2.1 * 0.92**e + 0.01 * e,
             "validation_accuracy": skill * (1 - 0.8**(e + 1)), "learning_rate": 1e-4, "seconds": 0.1}
            for e in range(epochs)]


def _evaluation(kind: str, classes: list[str], rng: np.random.Generator, folds: int = 2) -> ModelEvaluation:
    """Random labels; each prediction is right with probability SKILL[kind], otherwise random."""
    results = []
    for f in range(folds):
        n = 18 + 4 * f
        y = rng.integers(0, len(classes), n)
        wrong = rng.integers(0, len(classes), n)
        p = np.where(rng.random(n) < SKILL[kind], y, wrong)
        probs = rng.dirichlet(np.ones(len(classes)), n).astype(np.float32)
        results.append(FoldResult(
            fold=f, y_true=y, y_pred=p, probabilities=probs, n_train=40, n_validation=8, n_test=n,
            test_subjects=[f"s{f}{i}" for i in range(6)], history=_history(6 + 2 * f, SKILL[kind]),
            best_epoch=4, seconds=1.5 + f,
        ))
    return ModelEvaluation(
        kind=kind, classes=list(classes), folds=results, source=SOURCES[kind],
        images_per_class={c: 12 + i for i, c in enumerate(classes)},
        subjects_per_class={c: 12 for c in classes}, n_subjects=12, parameters=PARAMETERS[kind],
    )


def _evaluations(seed: int = 7, folds: int = 2) -> dict[str, ModelEvaluation]:
    rng = np.random.default_rng(seed)
    return {"cnn": _evaluation("cnn", EIGHT, rng, folds),
            "landmark_fnn": _evaluation("landmark_fnn", EIGHT, rng, folds),
            "gradient_fnn": _evaluation("gradient_fnn", SIX, rng, folds)}


def _fixed(kind: str, y_true: list[int], y_pred: list[int], classes: list[str],
           parameters: int) -> ModelEvaluation:
    """One model with given predictions, the same in two folds."""
    folds = [FoldResult(f, np.array(y_true), np.array(y_pred), np.zeros((len(y_true), len(classes))), 10, 2,
                        len(y_true), [f"s{f}"], _history(3, 0.5), 1, 1.0) for f in range(2)]
    return ModelEvaluation(kind, classes, folds, "gradients", {c: 2 for c in classes},
                           {c: 1 for c in classes}, 2, parameters)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict]:
    run_dir = tmp_path_factory.mktemp("run")
    config = load_config(None, ["evaluation.folds=2", "recipe=thesis"])
    evaluations = _evaluations()
    montage = tmp_path_factory.mktemp("montage") / "preprocessing.png"
    cv2.imwrite(str(montage), np.full((60, 90, 3), 128, np.uint8))
    protocol = {**PROTOCOL, "montage": str(montage)}
    comparison = write_report(run_dir, config, evaluations, PREPROCESSING, protocol)
    return run_dir, comparison, evaluations


def _strict_json(path: Path) -> dict[str, Any]:
    def refuse(name: str) -> None:
        raise AssertionError(f"{path.name} contains {name}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def test_every_file_is_written(written: tuple) -> None:
    run_dir, _, _ = written
    for name in ("comparison.json", "comparison.md", "learning_curves.png", "confusion_matrices.png",
                 "per_class_f1.png", "montage.png"):
        assert (run_dir / name).is_file(), name
        assert (run_dir / name).stat().st_size > 0
    assert list((run_dir / "comparison").glob("events.out.tfevents.*"))
    assert not list(run_dir.glob("*.tmp")) and not list(run_dir.glob(".*"))


def test_json_numbers_equal_the_metrics_recomputed(written: tuple) -> None:
    run_dir, comparison, evaluations = written
    data = _strict_json(run_dir / "comparison.json")
    assert data == comparison
    for kind, ev in evaluations.items():
        m = data["models"][kind]
        reports = [classification_report(f.y_true, f.y_pred, ev.classes) for f in ev.folds]
        for fold_entry, r, f in zip(m["fold_results"], reports, ev.folds, strict=True):
            assert fold_entry["report"]["accuracy"] == pytest.approx(r.accuracy)
            assert fold_entry["report"]["macro_f1"] == pytest.approx(r.macro_f1)
            assert fold_entry["report"]["confusion"] == r.confusion
            assert fold_entry["n_test"] == f.n_test and fold_entry["test_subjects"] == f.test_subjects
            assert len(fold_entry["history"]) == len(f.history)
        accs = [r.accuracy for r in reports]
        f1s = [r.macro_f1 for r in reports]
        assert m["accuracy"]["mean"] == pytest.approx(np.mean(accs))
        assert m["accuracy"]["std"] == pytest.approx(np.std(accs))  # population std
        assert m["macro_f1"]["mean"] == pytest.approx(np.mean(f1s))
        assert m["macro_f1"]["std"] == pytest.approx(np.std(f1s))
        pooled = sum(confusion_matrix(f.y_true, f.y_pred, len(ev.classes)) for f in ev.folds)
        assert m["pooled"]["confusion"] == pooled.tolist()
        pooled_report = classification_report(np.concatenate([f.y_true for f in ev.folds]),
                                              np.concatenate([f.y_pred for f in ev.folds]), ev.classes)
        assert m["pooled"]["macro_f1"] == pytest.approx(pooled_report.macro_f1)
        assert m["pooled"]["accuracy"] == pytest.approx(pooled_report.accuracy)
        for i, c in enumerate(ev.classes):
            expected = mean_std(r.per_class[i]["f1"] for r in reports)[0]
            assert m["per_class_f1_mean"][c] == pytest.approx(expected)
        assert m["parameters"] == ev.parameters
        assert m["images"] == sum(ev.images_per_class.values())
        assert m["images_per_class"] == ev.images_per_class
        assert m["subjects_per_class"] == ev.subjects_per_class
        assert m["training_seconds"]["total"] == pytest.approx(sum(f.seconds for f in ev.folds))
        assert data["photos_per_model"][kind] == m["images"]
    assert data["preprocessing"] == PREPROCESSING
    assert data["config"]["evaluation"]["folds"] == 2
    protocol = data["protocol"]
    assert protocol["folds"] == 2 and protocol["subjects"] == 12 and protocol["subject_disjoint"] is True
    assert protocol["validation_fraction"] == 0.2 and protocol["seed"] == 0


def test_winner_is_recorded_with_its_rule(written: tuple) -> None:
    _, comparison, evaluations = written
    accs = {k: np.mean([classification_report(f.y_true, f.y_pred, ev.classes).accuracy for f in ev.folds])
            for k, ev in evaluations.items()}
    best = max(accs, key=accs.get)
    assert comparison["winner"]["model"] == best == "gradient_fnn"
    assert comparison["winner"]["rule"] == "mean_accuracy"
    assert best in comparison["winner"]["reason"]


def test_markdown_states_protocol_thesis_figures_preprocessing_and_links(written: tuple) -> None:
    run_dir, _, _ = written
    md = (run_dir / "comparison.md").read_text(encoding="utf-8")
    photos = max(sum(ev.images_per_class.values()) for ev in _evaluations().values())
    assert (f"subject-disjoint 2-fold cross-validation, 12 subjects, {photos} photos; validation subjects "
            "(20 % of the training folds' subjects) taken from the training folds for early stopping") in md
    for kind, text in THESIS_FIGURES.items():
        assert text in md, kind
    assert "92.65 %" in md and "91.7 %" in md
    assert "| format | 30 | 27 | 0 | 3 | 2 no face found; 1 unreadable |" in md
    assert "**Winner: gradient_fnn**" in md and "mean_accuracy" in md
    for png in ("learning_curves.png", "confusion_matrices.png", "per_class_f1.png", "montage.png"):
        assert f"]({png})" in md
    header = next(line for line in md.splitlines() if line.startswith("|  | cnn"))
    assert header == "|  | cnn | landmark_fnn | gradient_fnn |"
    assert "| parameters | 1,200,000 | 2,500,000 | 90,000,000 |" in md
    assert "augmentation" not in md and "SVM" not in md  # the thesis's setup: nothing to flag


@pytest.mark.parametrize("name", ["learning_curves.png", "confusion_matrices.png", "per_class_f1.png"])
def test_figures_are_valid_images(written: tuple, name: str) -> None:
    run_dir, _, _ = written
    image = cv2.imread(str(run_dir / name))
    assert image is not None
    h, w = image.shape[:2]
    assert 400 <= w <= 4000 and 300 <= h <= 3000
    assert image.std() > 10  # not blank


def test_montage_is_copied(written: tuple) -> None:
    run_dir, _, _ = written
    image = cv2.imread(str(run_dir / "montage.png"))
    assert image is not None and image.shape == (60, 90, 3)


def test_tensorboard_holds_the_figure_and_the_table(written: tuple) -> None:
    import tensorflow as tf

    run_dir, _, _ = written
    plugins = {}
    for path in (run_dir / "comparison").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                plugins[value.tag] = (value.metadata.plugin_data.plugin_name, value.tensor)
    assert plugins["confusion_matrices"][0] == "images"
    width, height = (int(x) for x in plugins["confusion_matrices"][1].string_val[:2])
    png = cv2.imread(str(run_dir / "confusion_matrices.png"))
    assert (height, width) == png.shape[:2]
    assert plugins["comparison"][0] == "text"
    assert b"| test accuracy" in plugins["comparison"][1].string_val[0]


def test_augmentation_loss_single_split_and_no_thesis(tmp_path: Path) -> None:
    config = load_config(None, ["augment.enabled=true", "loss=svm_l2",
                                "evaluation.winner_rule=mean_macro_f1"])
    evaluations = _evaluations(seed=3, folds=1)
    protocol = {"method": "subject", "folds": 1, "validation_fraction": 0.2, "test_fraction": 0.25, "seed": 5}
    comparison = write_report(tmp_path, config, evaluations, [], protocol, thesis={})
    md = (tmp_path / "comparison.md").read_text(encoding="utf-8")
    head = md[:md.index("## Results")]
    assert ("training-data augmentation for cnn, landmark_fnn, gradient_fnn: shifts ±4 px (images), horizontal "
            "flip (images; landmark features mirrored); floors are not augmented") in head
    assert "loss: L2 multi-class SVM" in head
    assert "a single subject-disjoint split, 12 subjects" in head and "25 % of the subjects held out" in head
    assert "thesis's published figures" not in md and THESIS_FIGURES["cnn"] not in md
    assert comparison["winner"]["rule"] == "mean_macro_f1"
    assert comparison["models"]["cnn"]["accuracy"]["std"] == 0.0
    assert not (tmp_path / "montage.png").exists()
    assert comparison["thesis"] == {}


def test_nan_becomes_null(tmp_path: Path) -> None:
    evaluations = _evaluations(folds=2)
    empty = evaluations["cnn"].folds[1]
    empty.y_true, empty.y_pred = np.array([], dtype=int), np.array([], dtype=int)
    comparison = write_report(tmp_path, load_config(None), evaluations, PREPROCESSING, PROTOCOL)
    data = _strict_json(tmp_path / "comparison.json")
    assert data["models"]["cnn"]["fold_results"][1]["report"]["accuracy"] is None
    fold0 = evaluations["cnn"].folds[0]
    first = classification_report(fold0.y_true, fold0.y_pred, EIGHT)
    assert data["models"]["cnn"]["accuracy"] == {"mean": pytest.approx(first.accuracy), "std": 0.0}
    assert comparison == data


# --- the winner rule ------------------------------------------------------------------------------
# 8 of class 0 and 2 of class 1. "always0" scores accuracy 0.8 but macro-F1 (2*0.8/1.8)/2 = 0.444;
# "balanced" gets 5 of the 8 zeros and both ones: accuracy 0.7, F1 (0.769 + 0.571)/2 = 0.670.
Y = [0] * 8 + [1] * 2
ALWAYS0 = [0] * 10
BALANCED = [0] * 5 + [1] * 3 + [1] * 2


def test_rule_decides_between_accuracy_and_macro_f1() -> None:
    two = ["a", "b"]
    evaluations = {"always0": _fixed("always0", Y, ALWAYS0, two, 10),
                   "balanced": _fixed("balanced", Y, BALANCED, two, 10)}
    assert classification_report(Y, ALWAYS0, two).macro_f1 == pytest.approx((2 * 0.8 / 1.8) / 2)
    balanced_f1 = (2 * 0.625 / 1.625 + 2 * 0.4 / 1.4) / 2
    assert classification_report(Y, BALANCED, two).macro_f1 == pytest.approx(balanced_f1)
    kind, reason = choose_winner(evaluations, "mean_accuracy")
    assert kind == "always0" and "80.0 %" in reason and "70.0 %" in reason
    kind, reason = choose_winner(evaluations, "mean_macro_f1")
    assert kind == "balanced" and "0.670" in reason


def test_ties_fall_to_macro_f1_then_fewer_parameters() -> None:
    three = ["a", "b", "c"]
    y = [0, 0, 1, 2]
    # Both 3 of 4 right; macro-F1 (1 + 2/3 + 0)/3 = 0.556 vs (2/3 + 2/3 + 1)/3 = 0.778.
    evaluations = {"worse_f1": _fixed("worse_f1", y, [0, 0, 1, 1], three, 5),
                   "better_f1": _fixed("better_f1", y, [0, 1, 1, 2], three, 500)}
    kind, reason = choose_winner(evaluations, "mean_accuracy")
    assert kind == "better_f1" and "tie" in reason and "macro-F1" in reason
    same = {"big": _fixed("big", y, [0, 1, 1, 2], three, 500),
            "small": _fixed("small", y, [0, 1, 1, 2], three, 5)}
    for rule in ("mean_accuracy", "mean_macro_f1"):
        kind, reason = choose_winner(same, rule)
        assert kind == "small" and "fewer parameters" in reason


def test_unknown_rule_and_no_models_are_refused() -> None:
    with pytest.raises(ValueError):
        choose_winner(_evaluations(), "best_vibes")
    with pytest.raises(ValueError):
        choose_winner({}, "mean_accuracy")


def test_a_tie_break_decided_past_the_shown_digits_shows_more_of_them() -> None:
    """London's two FNNs tied on accuracy and differed in macro-F1 only in the fourth digit."""
    from types import SimpleNamespace

    from fer_compare.report.summary import _winner_from

    def summary(f1: float) -> SimpleNamespace:
        return SimpleNamespace(accuracy=(0.856, 0.0), macro_f1=(f1, 0.0), parameters=10, folds=10)

    kind, reason = _winner_from({"a": summary(0.85508), "b": summary(0.85512)}, "mean_accuracy")
    assert kind == "b" and "0.855120 vs a 0.855080" in reason, reason
    kind, reason = _winner_from({"a": summary(0.80), "b": summary(0.90)}, "mean_accuracy")
    assert kind == "b" and "0.900 vs a 0.800" in reason, reason
