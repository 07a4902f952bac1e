"""The test stage: each model on subject-disjoint held-out data (or K folds), metrics, the comparison report."""

from __future__ import annotations

import gc
import math
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoints import LoadedModel
from .data import ModelData, to_network_input
from .errors import UserError
from .floors import fit_floor
from .fold_store import (
    data_digest,
    earlier_comparison,
    finished_fold,
    fold_fingerprint,
    interrupted_checkpoints,
    keep_earlier,
    mark_started,
    save_fold,
)
from .kinds import floor_for
from .kinds import kind as kind_of
from .pipeline import stage_folders
from .progress import say
from .protocol import FoldPlan, Prepared, plan_folds, prepare
from .records import read_manifest, read_rejects
from .report import write_report
from .results import FoldResult, ModelEvaluation, TrainResult
from .settings import Settings, input_settings_mismatch
from .splits import Split, warn_missing_classes
from .training import TrainingInterrupted, train_model


def preprocessing_summary(config: Settings) -> list[dict[str, Any]]:
    """Per stage folder on disk: photos read, kept and rejected (by reason)."""
    rows = []
    for stage, key in stage_folders():
        folder = Path(config.path(key))
        if not (folder / "manifest.csv").exists():
            continue
        kept = read_manifest(folder, key)
        rejects = read_rejects(folder)
        reasons = Counter(r.reason.split(" (")[0] for r in rejects)
        rows.append({"stage": stage, "folder": str(folder), "read": len(kept) + len(rejects), "written": len(kept),
                     "rejected": len(rejects), "reasons": dict(reasons)})
    return rows


def _evaluation(kind: str, data: ModelData, folds: list[FoldResult], parameters: int) -> ModelEvaluation:
    per_class = Counter(data.classes[i] for i in data.y)
    subjects = {c: len(set(data.subjects[data.y == i])) for i, c in enumerate(data.classes)}
    return ModelEvaluation(kind=kind, classes=data.classes, folds=folds, source=data.source,
                           images_per_class={c: per_class.get(c, 0) for c in data.classes},
                           subjects_per_class=subjects, n_subjects=len(set(data.subjects)), parameters=parameters,
                           floor_of=kind_of(kind).floor_of)


def _fold_result(plan: FoldPlan, data: ModelData, split: Split, probs: np.ndarray, history: list[dict[str, Any]],
                 best_epoch: int, seconds: float) -> FoldResult:
    test = split.test
    return FoldResult(
        fold=plan.index, y_true=data.y[test], y_pred=probs.argmax(1) if len(probs) else np.zeros(0, int),
        probabilities=probs, n_train=len(split.train), n_validation=len(split.validation), n_test=len(test),
        test_subjects=sorted(set(map(str, data.subjects[test]))), history=history, best_epoch=best_epoch,
        seconds=seconds, keys=[data.keys[i] for i in test], repeat=plan.repeat)


def _held_out(split: Split, kind: str) -> Split:
    if len(split.test):
        return split
    if len(split.validation):
        say(f"  warning: {kind}: split.test_fraction is 0; evaluating on the validation subjects (optimistic)")
        return Split(split.train, split.validation, split.validation)
    raise UserError("split: nothing is held out for testing; set split.test_fraction above 0 or give test_source")


def score_fold(config: Settings, kind: str, data: ModelData, plan: FoldPlan, folder: Path,
               trained: TrainResult | None = None, single: bool = False,
               resume: Path | None = None) -> tuple[FoldResult, int]:
    """Train `kind` on the plan's training photos (single split: take the train stage's model or
    model_to_load; `resume`: continue from an interrupted run's checkpoints) and score its test photos."""
    split = _held_out(plan.split(data), kind)
    warn_missing_classes(split, data.y, data.classes, kind)
    if kind_of(kind).is_floor:
        floor = fit_floor(kind, data, split, config.evaluation.floor, int(config.seed), folder)
        probs = floor.predict(data.x[split.test])
        return _fold_result(plan, data, split, probs, floor.history, -1, floor.seconds), floor.parameters
    if trained is not None and trained.trainer is not None:
        _, _, probs = trained.trainer.evaluate(split.test)
        return (_fold_result(plan, data, split, probs, trained.history, trained.best_epoch, trained.seconds),
                trained.parameters)
    if single:
        if not config.model_to_load:
            raise UserError(f"test: {kind} was not trained in this run; switch train on or set model_to_load")
        model = load_trained(config, kind)
        if model.classes != data.classes:
            raise UserError(f"model_to_load: the {kind} model knows {model.classes}, the data has {data.classes}")
        mismatch = input_settings_mismatch(model.input_settings, config.input_record(kind))
        if mismatch:
            raise UserError(f"model_to_load: the {kind} model's inputs were made otherwise: {mismatch}")
        probs = model.predict(to_network_input(kind, data.x[split.test]))
        return _fold_result(plan, data, split, probs, [], -1, 0.0), model.parameters
    result = train_model(kind, config, data, split, folder, summaries=True, resume=resume)
    _, _, probs = result.trainer.evaluate(split.test)
    fold = _fold_result(plan, data, split, probs, result.history, result.best_epoch, result.seconds)
    result.trainer = None
    del result
    gc.collect()
    if not config.evaluation.keep_fold_checkpoints:
        # A fold's model is spent once its test fold is scored; 10 gradient_fnn folds would
        # otherwise leave ~20 GB behind. Its TensorBoard summaries stay.
        for spent in ("checkpoints", "best"):
            shutil.rmtree(folder / spent, ignore_errors=True)
    return fold, kind_parameters(config, kind, data)


def kind_parameters(config: Settings, kind: str, data: ModelData) -> int:
    """Trainable parameters of `kind` built for `data` (without training it)."""
    from .nn.models import build_model, count_parameters

    return count_parameters(build_model(kind, data.classes, config.hyper(kind), config.nn.input, 0))


def load_trained(config: Settings, kind: str) -> LoadedModel:
    """model_to_load as a folder of exports (<path>/<kind>) or one export."""
    base = Path(config.model_to_load)
    for candidate in (base / kind, base):
        if (candidate / "saved_model.pb").exists():
            model = LoadedModel(candidate)
            if model.kind != kind:
                raise UserError(f"model_to_load: {candidate} holds a {model.kind} model, not a {kind}")
            return model
    if not base.exists():
        raise UserError(f"model_to_load: {base} does not exist")
    raise UserError(f"model_to_load: no {kind} SavedModel in {base} (export one with save: true)")


def compare(config: Settings, run_dir: Path, prepared: Prepared, kinds: list[str],
            trained: dict[str, TrainResult]) -> dict[str, ModelEvaluation]:
    """Every kind on every fold of every repeat, folds assigned once for all (protocol.plan_folds).

    Each scored fold is kept on disk (fold_store); with train_existing_model an earlier run's
    finished folds of the same settings and data are reused and its interrupted fold resumes.
    """
    k, repeats = config.evaluation.folds, config.evaluation.repeats
    plans = [plan for r in range(repeats) for plan in plan_folds(prepared, config, r)]
    single = k == 1 and repeats == 1
    part = "test" if single else "cv"
    earlier = earlier_comparison(config, run_dir) if config.train_existing_model and not single else None
    if earlier is not None:
        say(f"  resuming the comparison in {earlier}: its finished folds are kept, its interrupted fold resumes")
    results: dict[str, list[FoldResult]] = {kind: [] for kind in kinds}
    parameters: dict[str, int] = {}
    for kind in kinds:
        data = prepared.datasets[kind]
        digest = data_digest(data)
        for plan in plans:
            where = f"fold {plan.index + 1}/{k}" + (f", repeat {plan.repeat + 1}/{repeats}" if repeats > 1 else "")
            name = f"repeat-{plan.repeat}-fold-{plan.index}" if repeats > 1 else f"fold-{plan.index}"
            folder = run_dir / part / kind / name
            fingerprint = fold_fingerprint(config, kind, digest, plan)
            before = earlier / part / kind / name if earlier is not None else None
            kept = finished_fold(before, fingerprint) if before is not None else None
            if kept is not None and before is not None:
                keep_earlier(before, folder)
                fold, parameters[kind] = kept
                how = " (kept from the earlier run)"
            else:
                resume = interrupted_checkpoints(before, fingerprint) if before is not None else None
                mark_started(folder, fingerprint)
                try:
                    fold, parameters[kind] = score_fold(config, kind, data, plan, folder,
                                                        trained.get(kind) if single else None, single, resume)
                except TrainingInterrupted as e:
                    done = sum(map(len, results.values()))
                    e.args = (f"interrupted: {kind} {where}, checkpoint saved in {folder / 'checkpoints'}; run the "
                              f"same command with train_existing_model: true and the {done} finished fold(s) "
                              f"are kept and skipped, this fold resumes from its checkpoint",)
                    raise
                save_fold(folder, fold, parameters[kind], fingerprint)
                how = ""
            accuracy = float((fold.y_true == fold.y_pred).mean()) if len(fold.y_true) else math.nan
            say(f"  {kind} {where}: train {fold.n_train}, validation {fold.n_validation}, test {fold.n_test} "
                f"({len(fold.test_subjects)} subjects): test accuracy {accuracy:.3f}{how}")
            results[kind].append(fold)
    return {kind: _evaluation(kind, prepared.datasets[kind], results[kind], parameters[kind]) for kind in kinds}


def _protocol(config: Settings, prepared: Prepared, evaluations: dict[str, ModelEvaluation]) -> dict[str, Any]:
    folds, repeats = config.evaluation.folds, config.evaluation.repeats
    s = config.split
    sources = bool(config.train_source)
    if sources:
        name = ("the thesis's fixed sets: trained on train_source, tested on test_source; as in the thesis the "
                "test source also served as the validation set for early stopping (and the floors' L2), so the "
                "test figures are optimistic")
    elif folds > 1:
        name = (f"subject-disjoint {folds}-fold cross-validation" + (f", repeated {repeats} times with other fold "
                f"assignments" if repeats > 1 else "") + f"; validation subjects ({100 * s.validation_fraction:.0f} "
                f"% of each training side's subjects) for early stopping and the floors' L2, never test subjects")
    elif s.method == "random":
        name = "random hold-out (thesis reproduction: a subject can appear on both sides)"
    else:
        name = (f"subject-disjoint hold-out ({100 * s.test_fraction:.0f} % of the subjects tested, "
                f"{100 * s.validation_fraction:.0f} % of the rest for validation)")
    tested = sorted({subject for e in evaluations.values() for f in e.folds for subject in f.test_subjects})
    photos, subjects = len(prepared.keys), len(set(map(str, prepared.subjects)))
    left = "; ".join(f"{n} photos in {key} did not reach every model and were left out"
                     for key, n in prepared.left_out.items() if n)
    description = (f"{name}; {subjects} subjects, {photos} photos (the same photos and folds for every model), "
                   f"{len(tested)} subjects tested; identity: {prepared.normalisation.describe()}"
                   + (f"; {left}" if left else ""))
    if (Path(config.raw_source) / ".fer_compare_demo").exists() and not sources:
        description = ("SYNTHETIC demo set (posed by warping two public-domain faces; it shows the pipeline works, "
                       "not how well real emotions are recognised): " + description)
    montage = Path(config.gradients) / "montage.png"
    return {
        "method": "sources" if sources else ("subject" if folds > 1 else s.method), "folds": folds,
        "repeats": repeats, "validation_fraction": s.validation_fraction, "test_fraction": s.test_fraction,
        "seed": s.seed, "subjects": subjects, "subjects_tested": len(tested), "photos": photos,
        "subject_disjoint": not sources and (s.method == "subject" or folds > 1),
        "subject_normalization": prepared.normalisation.mode,
        "photos_without_reference": list(prepared.normalisation.without_reference),
        "montage": str(montage) if montage.exists() else "", "description": description,
    }


def run(config: Settings, run_dir: Path, trained: dict[str, TrainResult] | None) -> dict[str, Any]:
    """The test stage; returns the comparison written to run_dir/comparison.json."""
    trained = trained or {}
    folds, repeats = config.evaluation.folds, config.evaluation.repeats
    if (folds > 1 or repeats > 1) and config.train_source:
        raise UserError("evaluation.folds: cross-validation needs one dataset (raw_source), not train/test sources")
    if repeats > 1 and folds < 2:
        raise UserError("evaluation.repeats: repeats need evaluation.folds of 2 or more")
    networks = list(config.models)
    kinds = networks + ([floor_for(k) for k in networks] if config.evaluation.floors else [])
    prepared = prepare(config, kinds)
    evaluations = compare(config, run_dir, prepared, kinds, trained)
    comparison = write_report(run_dir, config, evaluations, preprocessing_summary(config),
                              _protocol(config, prepared, evaluations), extra={
                                  "exports": {kind: str(t.export) for kind, t in trained.items()
                                              if t.export is not None}})
    for kind, e in evaluations.items():
        accs = [float((f.y_true == f.y_pred).mean()) for f in e.folds if len(f.y_true)]
        say(f"  {kind}: test accuracy {np.mean(accs):.3f}" + (f" ± {np.std(accs):.3f} over {len(accs)} folds"
                                                              if len(accs) > 1 else f" on {e.folds[0].n_test} photos"))
    winner = comparison.get("winner", {})
    say(f"  winner: {winner.get('model')} ({winner.get('reason', '')})")
    say(f"  report: {run_dir / 'comparison.md'}")
    return comparison
