"""The test stage: each model on subject-disjoint held-out data (or K folds), metrics, the comparison report."""

from __future__ import annotations

import gc
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoints import LoadedModel
from .config import input_settings, input_settings_mismatch
from .data import ModelData, load_model_data, to_network_input
from .errors import UserError
from .files import atomic_write_text
from .progress import say
from .records import read_manifest, read_rejects
from .report import FoldResult, ModelEvaluation, write_report
from .splits import Split, fold_of_subject, fold_split, make_split, warn_missing_classes
from .training import TrainResult, train_model

STAGE_FOLDERS = (("format", "formatted"), ("align", "aligned"), ("gradient", "gradients"), ("blur", "blurred"))


def preprocessing_summary(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Per stage folder on disk: photos read, kept and rejected (by reason)."""
    rows = []
    for stage, key in STAGE_FOLDERS:
        folder = Path(config[key])
        if not (folder / "manifest.csv").exists():
            continue
        kept = read_manifest(folder, key)
        rejects = read_rejects(folder)
        reasons = Counter(r.reason.split(" (")[0] for r in rejects)
        rows.append({"stage": stage, "folder": str(folder), "read": len(kept) + len(rejects), "written": len(kept),
                     "rejected": len(rejects), "reasons": dict(reasons)})
    return rows


def _split_for(config: dict[str, Any], data: ModelData) -> Split:
    s = config["split"]
    return make_split(data.subjects, data.parts, s["method"], s["validation_fraction"], s["test_fraction"], s["seed"])


def _evaluation(kind: str, data: ModelData, folds: list[FoldResult], parameters: int) -> ModelEvaluation:
    per_class = Counter(data.classes[i] for i in data.y)
    subjects = {c: len(set(data.subjects[data.y == i])) for i, c in enumerate(data.classes)}
    return ModelEvaluation(kind=kind, classes=data.classes, folds=folds, source=data.source,
                           images_per_class={c: per_class.get(c, 0) for c in data.classes},
                           subjects_per_class=subjects, n_subjects=len(set(data.subjects)), parameters=parameters)


def _fold_result(fold: int, data: ModelData, split: Split, probs: np.ndarray,
                 trained: TrainResult | None) -> FoldResult:
    test = split.test
    return FoldResult(
        fold=fold, y_true=data.y[test], y_pred=probs.argmax(1) if len(probs) else np.zeros(0, int),
        probabilities=probs, n_train=len(split.train), n_validation=len(split.validation), n_test=len(test),
        test_subjects=sorted(set(map(str, data.subjects[test]))),
        history=trained.history if trained else [], best_epoch=trained.best_epoch if trained else -1,
        seconds=trained.seconds if trained else 0.0)


def _held_out(split: Split, kind: str) -> Split:
    if len(split.test):
        return split
    if len(split.validation):
        say(f"  warning: {kind}: split.test_fraction is 0; evaluating on the validation subjects (optimistic)")
        return Split(split.train, split.validation, split.validation)
    raise UserError("split: nothing is held out for testing; set split.test_fraction above 0 or give test_source")


def evaluate_single(config: dict[str, Any], kind: str, trained: TrainResult | None) -> ModelEvaluation:
    """One model on the held-out part of the configured split (or test_source)."""
    if trained is not None and trained.trainer is not None:
        data, split = trained.trainer.data, _held_out(trained.trainer.split, kind)
        _, _, probs = trained.trainer.evaluate(split.test)
        return _evaluation(kind, data, [_fold_result(0, data, split, probs, trained)], trained.parameters)
    if not config["model_to_load"]:
        raise UserError(f"test: {kind} was not trained in this run; switch train on or set model_to_load")
    model = load_trained(config, kind)
    data = load_model_data(config, kind)
    if model.classes != data.classes:
        raise UserError(f"model_to_load: the {kind} model knows {model.classes}, the data has {data.classes}")
    mismatch = input_settings_mismatch(model.input_settings, input_settings(config, kind))
    if mismatch:
        raise UserError(f"model_to_load: the {kind} model's inputs were made otherwise: {mismatch}")
    split = _held_out(_split_for(config, data), kind)
    probs = model.predict(to_network_input(kind, data.x[split.test]))
    return _evaluation(kind, data, [_fold_result(0, data, split, probs, None)], model.parameters)


def load_trained(config: dict[str, Any], kind: str) -> LoadedModel:
    """model_to_load as a folder of exports (<path>/<kind>) or one export."""
    base = Path(config["model_to_load"])
    for candidate in (base / kind, base):
        if (candidate / "saved_model.pb").exists():
            model = LoadedModel(candidate)
            if model.kind != kind:
                raise UserError(f"model_to_load: {candidate} holds a {model.kind} model, not a {kind}")
            return model
    if not base.exists():
        raise UserError(f"model_to_load: {base} does not exist")
    raise UserError(f"model_to_load: no {kind} SavedModel in {base} (export one with save: true)")


def cross_validate(config: dict[str, Any], run_dir: Path, datasets: dict[str, ModelData]) -> dict[str, ModelEvaluation]:
    """Subject-disjoint K-fold: the same folds (by subject) for every model, so the comparison is paired."""
    k = config["evaluation"]["folds"]
    all_subjects = sorted({str(s) for d in datasets.values() for s in d.subjects})
    fold_map = fold_of_subject(all_subjects, k, config["split"]["seed"])
    out = {}
    for kind, data in datasets.items():
        folds, params = [], 0
        for fold in range(k):
            split = fold_split(data.subjects, fold_map, fold, config["split"]["validation_fraction"],
                               config["split"]["seed"])
            if len(split.test) == 0:
                continue
            warn_missing_classes(split, data.y, data.classes, f"{kind} fold {fold}")
            say(f"  {kind} fold {fold + 1}/{k}: train {len(split.train)}, validation {len(split.validation)}, "
                f"test {len(split.test)} ({len(set(data.subjects[split.test]))} subjects)")
            folder = run_dir / "cv" / kind / f"fold-{fold}"
            result = train_model(kind, config, data, split, folder, summaries=True)
            _, acc, probs = result.trainer.evaluate(split.test)
            if not config["evaluation"]["keep_fold_checkpoints"]:
                # A fold's model is spent once its test fold is scored; 10 gradient_fnn folds would
                # otherwise leave ~20 GB behind. Its TensorBoard summaries stay.
                for spent in ("checkpoints", "best"):
                    shutil.rmtree(folder / spent, ignore_errors=True)
            say(f"  {kind} fold {fold + 1}/{k}: test accuracy {acc:.3f}")
            folds.append(_fold_result(fold, data, split, probs, result))
            params = result.parameters
            result.trainer = None
            del result
            gc.collect()
        out[kind] = _evaluation(kind, data, folds, params)
    return out


def _subjects_of(e: ModelEvaluation) -> set[str]:
    return {s for f in e.folds for s in f.test_subjects}


def run(config: dict[str, Any], run_dir: Path, trained: dict[str, TrainResult] | None) -> dict[str, Any]:
    """The test stage; returns the comparison written to run_dir/comparison.json."""
    trained = trained or {}
    folds = config["evaluation"]["folds"]
    if folds > 1 and config["train_source"]:
        raise UserError("evaluation.folds: cross-validation needs one dataset (raw_source), not train/test sources")
    if folds > 1:
        datasets = {kind: trained[kind].trainer.data if kind in trained and trained[kind].trainer
                    else load_model_data(config, kind) for kind in config["models"]}
        evaluations = cross_validate(config, run_dir, datasets)
        protocol_name = f"subject-disjoint {folds}-fold cross-validation"
        if config["split"]["method"] == "random":
            protocol_name += " (folds by subject; split.method only affects the train stage)"
    else:
        evaluations = {kind: evaluate_single(config, kind, trained.get(kind)) for kind in config["models"]}
        if config["train_source"]:
            protocol_name = "the thesis's fixed sets: trained on train_source, tested on test_source"
        elif config["split"]["method"] == "random":
            protocol_name = "random hold-out (thesis reproduction: subjects may appear on both sides)"
        else:
            protocol_name = "subject-disjoint hold-out"
    tested = sorted({str(s) for kind in evaluations for s in _subjects_of(evaluations[kind])})
    n_subjects = max(e.n_subjects for e in evaluations.values())
    photos = max(sum(e.images_per_class.values()) for e in evaluations.values())
    montage = Path(config["gradients"]) / "montage.png"
    s = config["split"]
    protocol = {
        "method": "sources" if config["train_source"] else s["method"], "folds": folds,
        "validation_fraction": s["validation_fraction"], "test_fraction": s["test_fraction"], "seed": s["seed"],
        "subjects": n_subjects, "subjects_tested": len(tested), "photos": photos,
        "subject_disjoint": not config["train_source"] and (s["method"] == "subject" or folds > 1),
        "montage": str(montage) if montage.exists() else "",
        "description": f"{protocol_name}; {n_subjects} subjects, {photos} photos, {len(tested)} subjects tested; "
                       f"validation photos for early stopping come from the training side, never the test side",
    }
    if (Path(config["raw_source"]) / ".fer_compare_demo").exists() and not config["train_source"]:
        protocol["description"] = ("SYNTHETIC demo set (posed by warping two public-domain faces; it shows the "
                                   "pipeline works, not how well real emotions are recognised): "
                                   + protocol["description"])
    comparison = write_report(run_dir, config, evaluations, preprocessing_summary(config), protocol)
    exports = {kind: str(t.export) for kind, t in trained.items() if t.export is not None}
    if exports:  # the video stage takes the winner's own export from here
        comparison["exports"] = exports
        atomic_write_text(run_dir / "comparison.json", json.dumps(comparison, indent=2, allow_nan=False) + "\n")
    for kind, e in evaluations.items():
        accs = [float((f.y_true == f.y_pred).mean()) for f in e.folds if len(f.y_true)]
        say(f"  {kind}: test accuracy {np.mean(accs):.3f}" + (f" ± {np.std(accs):.3f} over {len(accs)} folds"
                                                              if len(accs) > 1 else f" on {e.folds[0].n_test} photos"))
    winner = comparison.get("winner", {})
    say(f"  winner: {winner.get('model')} ({winner.get('reason', '')})")
    say(f"  report: {run_dir / 'comparison.md'}")
    return comparison
