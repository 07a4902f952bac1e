"""The report in words: number formatting, the protocol sentence, training options, comparison.md."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..results import ModelEvaluation
from ..settings import Settings
from .formatting import FILES, _duration, _finite, _first, _jsonable, _num, _pct, _pm, _pm_pct, _table
from .summary import ModelSummary, _all_classes, summarise

_LOSS_NAMES = {"cross_entropy": "softmax cross-entropy", "svm_l2": "L2 multi-class SVM"}


# --- the protocol and training options in words -----------------------------------------------------
def resolve_protocol(protocol: dict[str, Any], evaluations: dict[str, ModelEvaluation],
                     config: Settings) -> dict[str, Any]:
    """The protocol with missing counts filled in from the evaluations and a sentence describing it.

    Keys read: method ("subject", "random" or "sources" for fixed train/test sources), folds,
    validation_fraction, test_fraction, seed, subjects, photos, subject_disjoint, montage,
    description (used verbatim when given).
    """
    split = config.split
    out = dict(protocol)
    fixed = bool(config.train_source) and bool(config.test_source)
    method = _first(protocol, "method", "split_method", default=split.method)
    if method in ("sources", "fixed") or (fixed and "method" not in protocol):
        method = "sources"
    most_folds = max((len(e.folds) for e in evaluations.values()), default=1)
    folds = int(_first(protocol, "folds", default=most_folds))
    subjects = _first(protocol, "subjects", "n_subjects",
                      default=max((e.n_subjects for e in evaluations.values()), default=0))
    photos = _first(protocol, "photos", "n_photos", "images",
                    default=max((sum(e.images_per_class.values()) for e in evaluations.values()), default=0))
    vf = float(_first(protocol, "validation_fraction", default=split.validation_fraction))
    tf_ = float(_first(protocol, "test_fraction", default=split.test_fraction))
    seed = _first(protocol, "seed", default=split.seed)
    disjoint = bool(_first(protocol, "subject_disjoint", default=method == "subject"))
    out.update(method=method, folds=folds, subjects=subjects, photos=photos, validation_fraction=vf,
               test_fraction=tf_, seed=seed, subject_disjoint=disjoint)
    counts = f"{subjects} subjects, {photos} photos"
    if protocol.get("description"):
        text = str(protocol["description"])
    elif method == "sources":
        text = (f"the thesis's fixed train/test sources, {counts}; validation is the test source (as in the "
                f"thesis), so early stopping saw the test photos")
    elif folds > 1:
        kind = "subject-disjoint" if disjoint else "subject-sharing"
        text = (f"{kind} {folds}-fold cross-validation, {counts}; validation subjects "
                f"({100 * vf:.0f} % of the training folds' subjects) taken from the training folds "
                f"for early stopping")
    elif disjoint:
        text = (f"a single subject-disjoint split, {counts}: {100 * tf_:.0f} % of the subjects held out for "
                f"testing, {100 * vf:.0f} % of the remaining subjects for validation (early stopping)")
    else:
        text = (f"a single random split (the thesis's method; a subject can appear in training and test), "
                f"{counts}: {100 * tf_:.0f} % of the photos for testing, {100 * vf:.0f} % of the rest "
                f"for validation")
    if seed is not None and not protocol.get("description"):
        text += f"; split seed {seed}"
    out["description"] = text
    return out


def training_options(config: Settings) -> list[str]:
    """Sentences for non-default training options (augmentation, loss); empty for the thesis's setup."""
    lines = []
    augment = config.augment
    augmented = [k for k in config.models if config.augments(k)]
    if augmented:
        parts = []
        if augment.shift:
            parts.append(f"shifts ±{augment.shift} px (images)")
        if augment.flip:
            parts.append("horizontal flip (images; landmark features mirrored)")
        what = ", ".join(parts) if parts else "enabled, but with no shift and no flip"
        lines.append(f"training-data augmentation for {', '.join(augmented)}: {what}; floors are not augmented")
    loss = config.loss
    if loss != "cross_entropy":
        lines.append(f"loss: {_LOSS_NAMES.get(loss, loss)} (the thesis used softmax cross-entropy)")
    return lines


# --- comparison.md --------------------------------------------------------------------------------
def _results_table(evaluations: dict[str, ModelEvaluation], summaries: dict[str, ModelSummary]) -> list[str]:
    kinds = list(evaluations)
    classes = _all_classes(summaries)
    folds = max(s.folds for s in summaries.values())
    over = f" (mean ± std over {folds} folds)" if folds > 1 else ""
    rows: list[list[Any]] = [
        ["input", *(evaluations[k].source for k in kinds)],
        ["classes", *(len(summaries[k].classes) for k in kinds)],
        [f"test accuracy{over}", *(_pm_pct(summaries[k].accuracy, folds) for k in kinds)],
        [f"macro-F1{over}", *(_pm(summaries[k].macro_f1, folds) for k in kinds)],
    ]
    if folds > 1:
        pooled = [summaries[k].pooled for k in kinds]
        rows.append(["pooled accuracy / macro-F1",
                     *(f"{_pct(p.accuracy)} / {_num(p.macro_f1)}" for p in pooled)])
    repeats = {k: repeat_means(evaluations[k]) for k in kinds}
    if max(len(r) for r in repeats.values()) > 1:
        rows.append(["mean accuracy of each repeat (std across repeats)",
                     *(", ".join(_pct(a) for a in r) + f" ({100 * float(np.std(r)):.1f})" for r in repeats.values())])
    for c in classes:
        rows.append([f"F1 {c}", *(_num(summaries[k].per_class_f1[c][0], 2) if c in summaries[k].per_class_f1
                                  else "—" for k in kinds)])
    rows += [
        ["images", *(summaries[k].n_images for k in kinds)],
        ["subjects", *(evaluations[k].n_subjects for k in kinds)],
        ["parameters", *(f"{summaries[k].parameters:,}" for k in kinds)],
        ["training time" + (" (all folds)" if folds > 1 else ""),
         *(_duration(summaries[k].seconds) for k in kinds)],
        ["best epoch" + (" per fold" if folds > 1 else ""),
         *(", ".join(str(f.best_epoch) for f in evaluations[k].folds) for k in kinds)],
    ]
    return _table(["", *kinds], rows)


def repeat_means(ev: ModelEvaluation) -> list[float]:
    """Mean test accuracy of each repeat of the K-fold (one value without repeats)."""
    by_repeat: dict[int, list[float]] = {}
    for f in ev.folds:
        if len(f.y_true):
            by_repeat.setdefault(f.repeat, []).append(float((f.y_true == f.y_pred).mean()))
    return [float(np.mean(v)) for _, v in sorted(by_repeat.items())]


def _preprocessing_table(preprocessing: list[dict]) -> list[str]:
    known = {"stage", "read", "written", "reused", "rejected", "reasons"}
    rows = []
    for p in preprocessing:
        reasons = p.get("reasons") or {}
        why = "; ".join(f"{n} {r}" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1])) or "—"
        notes = "; ".join(f"{k}: {json.dumps(_jsonable(v), ensure_ascii=False)}"
                          for k, v in p.items() if k not in known)
        rows.append([p.get("stage", "?"), p.get("read", "—"), p.get("written", "—"), p.get("reused", "—"),
                     p.get("rejected", "—"), why, notes or "—"])
    header = ["stage", "read", "written", "up to date (reused)", "rejected", "why rejected", "notes"]
    return _table(header, rows)


def _photos_table(evaluations: dict[str, ModelEvaluation]) -> list[str]:
    rows = []
    for k, ev in evaluations.items():
        per_class = ", ".join(f"{c} {n}" for c, n in ev.images_per_class.items())
        rows.append([k, ev.source, sum(ev.images_per_class.values()), ev.n_subjects, per_class])
    return _table(["model", "input", "photos", "subjects", "photos per class"], rows)


def _fold_tables(evaluations: dict[str, ModelEvaluation], summaries: dict[str, ModelSummary]) -> list[str]:
    lines: list[str] = []
    for k, ev in evaluations.items():
        rows = []
        for f, r in zip(ev.folds, summaries[k].fold_reports, strict=True):
            more = f" … ({len(f.test_subjects)})" if len(f.test_subjects) > 6 else ""
            subjects = ", ".join(f.test_subjects[:6]) + more
            rows.append([f.fold, f"{f.n_train} / {f.n_validation} / {f.n_test}", subjects or "—",
                         f.best_epoch, len(f.history), _pct(r.accuracy), _num(r.macro_f1),
                         _duration(f.seconds)])
        lines += [f"### {k}", ""]
        lines += _table(["fold", "train / validation / test photos", "test subjects", "best epoch", "epochs",
                         "accuracy", "macro-F1", "time"], rows)
        lines.append("")
    return lines


def _confusion_tables(summaries: dict[str, ModelSummary]) -> list[str]:
    lines: list[str] = []
    for k, s in summaries.items():
        rows = [[c, *row, s.pooled.per_class[i]["support"]] for i, (c, row) in
                enumerate(zip(s.classes, s.pooled.confusion, strict=True))]
        lines += [f"### {k}", ""]
        lines += _table(["true \\ predicted", *s.classes, "support"], rows)
        lines.append("")
    return lines


def floors_table(comparison: dict[str, Any]) -> list[str]:
    """Each network against the linear floor on its own input."""
    models = comparison["models"]
    rows = []
    for k, f in comparison.get("floors", {}).items():
        rows.append([k, _pct(models[k]["accuracy"]["mean"]), f["floor"], _pct(models[f["floor"]]["accuracy"]["mean"]),
                     _points(f["mean_difference"]), _interval(f["ci95"]), _p(f["p_value"]), f["verdict"]])
    return _table(["network", "accuracy", "its floor", "floor accuracy", "difference", "95 % CI", "p",
                   "verdict"], rows)


def pairs_table(comparison: dict[str, Any]) -> list[str]:
    """Every pair's mean paired difference in accuracy, its interval and p-value."""
    rows = []
    for p in comparison.get("pairs", []):
        scored = "all classes" if p["all_classes"] else "shared classes: " + ", ".join(p["shared_classes"])
        rows.append([f"{p['a']} − {p['b']}", _points(p["mean_difference"]), _interval(p["ci95"]), _p(p["p_value"]),
                     "yes" if p["resolved"] else "no", p["folds"], scored])
    return _table(["pair (a − b)", "mean difference", "95 % CI", "p", "resolved", "folds", "scored on"], rows)


def _points(x: float | None) -> str:
    return f"{100 * x:+.1f} points" if _finite(x) else "—"


def _interval(ci: list[float | None]) -> str:
    return f"[{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]" if all(_finite(c) for c in ci) else "—"


def _p(p: float | None) -> str:
    return f"{p:.3g}" if _finite(p) else "—"


def render_markdown(comparison: dict[str, Any], evaluations: dict[str, ModelEvaluation],
                    figures: dict[str, str], summaries: dict[str, ModelSummary] | None = None) -> str:
    """comparison.md from the comparison dict, the evaluations and the figure files written."""
    summaries = summaries or {k: summarise(ev) for k, ev in evaluations.items()}
    protocol = comparison["protocol"]
    winner = comparison["winner"]
    lines = ["# Comparison of the three facial-emotion approaches", "",
             f"Written {comparison['generated']}.", "",
             f"**Protocol:** {protocol['description']}.", ""]
    if not protocol.get("subject_disjoint"):
        lines += [("**Caution:** test subjects also appear in training, so these figures overstate how well "
                   "the models recognise people they have never seen."), ""]
    for option in comparison["training_options"]:
        lines += [f"**Note — {option}.**", ""]
    lines += [f"**Winner: {winner['model']}** — rule `{winner['rule']}` ({winner['rule_text']}). "
              f"{winner['reason']}", ""]
    if winner.get("resolution"):
        lines += [f"Is the lead real? {winner['resolution'][0].upper()}{winner['resolution'][1:]}.", ""]
    if comparison.get("floors"):
        test = next(iter(comparison["floors"].values()))["test"]
        lines += ["## Against the floors", "",
                  "Each network's floor is an L2-regularised softmax regression on the network's own input "
                  "(standardised on the training side, trained to convergence, L2 strength chosen on the validation "
                  f"subjects). Differences are paired over the same test photos of the same folds ({test}).", "",
                  *floors_table(comparison), ""]
    if comparison.get("pairs"):
        lines += ["## Paired differences", "",
                  "Mean over folds of the accuracy difference a − b on the same test photos; where two models know "
                  "different classes, the pair is scored on the photos of the classes both know.", "",
                  *pairs_table(comparison), ""]
    lines += ["## Results", "", *_results_table(evaluations, summaries)]
    folds = max(s.folds for s in summaries.values())
    lines += ["", "Accuracy and F1 are measured on test photos"
              + (" and averaged over folds (population std)" if folds > 1 else "")
              + "; macro-F1 is the mean F1 over all of a model's classes (a class with no test photos counts "
              "as 0)." + (" Per-class F1 is the mean over folds;" if folds > 1 else "")
              + " — means the model does not use that class.", ""]
    n_classes = {k: len(s.classes) for k, s in summaries.items()}
    if len(set(n_classes.values())) > 1:
        scored = ", ".join(f"{k} on {n}" for k, n in n_classes.items())
        lines += [f"The models are scored on different numbers of classes ({scored}), so their chance levels "
                  "differ; compare per-class F1 on the shared classes too.", ""]
    thesis = comparison.get("thesis") or {}
    if thesis:
        lines += ["## The thesis's published figures (for reference)", ""]
        rows = [[k, thesis.get(k, "—"), _pm_pct(summaries[k].accuracy, folds),
                 _pm(summaries[k].macro_f1, folds)] for k in evaluations]
        lines += _table(["model", "thesis", "this run: test accuracy", "this run: macro-F1"], rows)
        lines += ["", ("The thesis reported validation accuracy on splits whose subjects also appeared "
                       "in training; the numbers above are test figures under the protocol stated at the "
                       "top, so they are not directly comparable."), ""]
    lines += ["## Preprocessing", ""]
    if comparison["preprocessing"]:
        lines += _preprocessing_table(comparison["preprocessing"])
    else:
        lines.append("No preprocessing stage reported its counts in this run.")
    lines += ["", "Photos that reached each model:", "", *_photos_table(evaluations)]
    lines += ["", "## Figures", ""]
    captions = {
        "learning_curves": "Learning curves (training and validation loss, validation accuracy; first fold)",
        "confusion_matrices": "Confusion matrices, row-normalised, pooled over folds",
        "per_class_f1": "Per-class F1",
        "montage": "Preprocessing montage",
    }
    for key, name in figures.items():
        lines += [f"- [{captions.get(key, key)}]({name})", "", f"  ![{captions.get(key, key)}]({name})", ""]
    lines += [f"TensorBoard: `tensorboard --logdir {FILES['tensorboard']}` (confusion matrices and the "
              "results table).", ""]
    lines += ["## Per-fold results", "", *_fold_tables(evaluations, summaries)]
    lines += ["## Pooled confusion matrices (counts; rows = true class)", "", *_confusion_tables(summaries)]
    return "\n".join(lines).rstrip() + "\n"
