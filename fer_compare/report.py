"""The test stage's report: comparison.json, comparison.md, three figures and a TensorBoard summary."""

from __future__ import annotations

import io
import json
import math
import time
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .files import atomic_write_bytes, atomic_write_text
from .metrics import (
    ClassificationReport,
    classification_report,
    confusion_matrix,
    mean_std,
    report_from_confusion,
)

# What the thesis published for each approach; quoted beside our numbers, never compared by code.
THESIS_FIGURES: dict[str, str] = {
    "cnn": ("val accuracy 92.65 % (best val loss 0.2524, epoch 40), RaFD 8 classes, split shares subjects; "
            "failed the live webcam test"),
    "landmark_fnn": "accuracy <= 22 %, settled at 17 % (loss 7.378 at step 200); failed",
    "gradient_fnn": ("val accuracy ~80 % average, 91.7 % at epoch 20 (loss 0.056), 6 classes; "
                     "passed the live test"),
}

RULES: dict[str, str] = {
    "mean_accuracy": ("highest mean test accuracy over folds; ties: higher mean macro-F1, "
                      "then fewer parameters"),
    "mean_macro_f1": ("highest mean test macro-F1 over folds; ties: higher mean accuracy, "
                      "then fewer parameters"),
}

FILES: dict[str, str] = {
    "json": "comparison.json",
    "markdown": "comparison.md",
    "learning_curves": "learning_curves.png",
    "confusion_matrices": "confusion_matrices.png",
    "per_class_f1": "per_class_f1.png",
    "montage": "montage.png",
    "tensorboard": "comparison",
}

_COLOURS = {"cnn": "#1f77b4", "landmark_fnn": "#ff7f0e", "gradient_fnn": "#2ca02c"}
_SPARE_COLOURS = ("#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
_LOSS_NAMES = {"cross_entropy": "softmax cross-entropy", "svm_l2": "L2 multi-class SVM"}
# Two means closer than this are a tie: they come from the same test sets, so real ties are exact.
_TIE = 1e-9


@dataclass(eq=False)
class FoldResult:
    """One model's test predictions and training record for one fold (or the single split)."""

    fold: int
    y_true: np.ndarray
    y_pred: np.ndarray
    probabilities: np.ndarray
    n_train: int
    n_validation: int
    n_test: int
    test_subjects: list[str]
    history: list[dict[str, float]]
    best_epoch: int
    seconds: float


@dataclass(eq=False)
class ModelEvaluation:
    """Everything the test stage measured for one model over all folds."""

    kind: str
    classes: list[str]
    folds: list[FoldResult]
    source: str
    images_per_class: dict[str, int]
    subjects_per_class: dict[str, int]
    n_subjects: int
    parameters: int


@dataclass
class ModelSummary:
    """One model's fold reports and their aggregates."""

    kind: str
    classes: list[str]
    fold_reports: list[ClassificationReport]
    accuracy: tuple[float, float]
    macro_f1: tuple[float, float]
    per_class_f1: dict[str, tuple[float, float]]
    pooled: ClassificationReport
    seconds: float
    parameters: int
    n_images: int
    folds: int = 0


def summarise(evaluation: ModelEvaluation) -> ModelSummary:
    """Per-fold reports, mean ± std over folds, and the pooled (summed) confusion matrix's report."""
    ev = evaluation
    if not ev.folds:
        raise ValueError(f"{ev.kind}: no folds to report")
    classes = list(ev.classes)
    n = len(classes)
    reports = []
    pooled = np.zeros((n, n), dtype=np.int64)
    for f in ev.folds:
        if len(f.y_true) != len(f.y_pred):
            raise ValueError(f"{ev.kind} fold {f.fold}: {len(f.y_true)} labels, {len(f.y_pred)} predictions")
        pooled += confusion_matrix(f.y_true, f.y_pred, n)
        reports.append(classification_report(f.y_true, f.y_pred, classes))
    per_class = {c: mean_std(r.per_class[i]["f1"] for r in reports) for i, c in enumerate(classes)}
    return ModelSummary(
        kind=ev.kind, classes=classes, fold_reports=reports,
        accuracy=mean_std(r.accuracy for r in reports), macro_f1=mean_std(r.macro_f1 for r in reports),
        per_class_f1=per_class, pooled=report_from_confusion(pooled, classes),
        seconds=float(sum(f.seconds for f in ev.folds)), parameters=int(ev.parameters),
        n_images=int(sum(ev.images_per_class.values())), folds=len(ev.folds),
    )


# --- the winner -----------------------------------------------------------------------------------
def _value(x: float) -> float:
    return -math.inf if x is None or math.isnan(x) else float(x)


def _winner_from(summaries: dict[str, ModelSummary], rule: str) -> tuple[str, str]:
    if rule not in RULES:
        raise ValueError(f"unknown winner rule {rule!r}; known: {', '.join(RULES)}")
    if not summaries:
        raise ValueError("no models to choose a winner from")
    folds = max(s.folds for s in summaries.values())
    over = f"over {folds} folds" if folds > 1 else "on the single test split"
    acc = ("mean test accuracy", lambda s: _value(s.accuracy[0]), lambda s: _pct(s.accuracy[0]))
    f1 = ("mean test macro-F1", lambda s: _value(s.macro_f1[0]), lambda s: _num(s.macro_f1[0]))
    params = ("fewer parameters", lambda s: -float(s.parameters), lambda s: f"{s.parameters:,}")
    criteria = [acc, f1, params] if rule == "mean_accuracy" else [f1, acc, params]
    if len(summaries) == 1:
        (kind, s), = summaries.items()
        return kind, f"{kind} is the only model evaluated ({criteria[0][0]} {over}: {criteria[0][2](s)})."
    candidates = list(summaries)
    ties: list[str] = []
    for depth, (what, key, show) in enumerate(criteria):
        best = max(key(summaries[k]) for k in candidates)
        leaders = [k for k in candidates if key(summaries[k]) >= best - _TIE]
        if len(leaders) == 1:
            kind = leaders[0]
            if depth == 0:
                others = ", ".join(f"{k} {show(summaries[k])}" for k in summaries if k != kind)
                return kind, f"{kind} has the highest {what} {over}: {show(summaries[kind])} ({others})."
            rivals = [k for k in candidates if k != kind]
            versus = ", ".join(f"{k} {show(summaries[k])}" for k in rivals)
            tied = " and ".join(candidates)
            prefix = "; ".join(ties)
            return kind, (f"{tied} tie on {prefix}; {kind} wins the tie-break on {what}: "
                          f"{show(summaries[kind])} vs {versus}.")
        ties.append(f"{what} ({show(summaries[leaders[0]])})")
        candidates = leaders
    kind = candidates[0]
    return kind, (f"{' and '.join(candidates)} tie on {'; '.join(ties)}; "
                  f"{kind} is taken as the first listed.")


def choose_winner(evaluations: dict[str, ModelEvaluation], rule: str) -> tuple[str, str]:
    """The winning model's kind and a sentence saying why, by `rule` (see RULES)."""
    return _winner_from({k: summarise(ev) for k, ev in evaluations.items()}, rule)


# --- formatting -----------------------------------------------------------------------------------
def _finite(x: Any) -> bool:
    return x is not None and isinstance(x, (int, float, np.floating, np.integer)) and math.isfinite(float(x))


def _pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f} %" if _finite(x) else "—"


def _num(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}" if _finite(x) else "—"


def _pm_pct(ms: tuple[float, float], folds: int) -> str:
    if not _finite(ms[0]):
        return "—"
    return f"{100 * ms[0]:.1f} ± {100 * ms[1]:.1f} %" if folds > 1 else _pct(ms[0])


def _pm(ms: tuple[float, float], folds: int, digits: int = 3) -> str:
    if not _finite(ms[0]):
        return "—"
    return f"{ms[0]:.{digits}f} ± {ms[1]:.{digits}f}" if folds > 1 else _num(ms[0], digits)


def _duration(seconds: float) -> str:
    if not _finite(seconds):
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def _cell(x: Any) -> str:
    """A value safe inside a markdown table cell."""
    return str(x).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _first(d: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for k in keys:
        if d.get(k) is not None:
            return d[k]
    return default


def _jsonable(obj: Any) -> Any:
    """JSON-ready copy: NumPy to Python, NaN/inf to None, paths to strings."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(float(obj)) else None
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, Path):
        return str(obj)
    if is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(asdict(obj))
    return str(obj)


# --- the protocol and training options in words -----------------------------------------------------
def resolve_protocol(protocol: dict[str, Any], evaluations: dict[str, ModelEvaluation],
                     config: dict[str, Any]) -> dict[str, Any]:
    """The protocol with missing counts filled in from the evaluations and a sentence describing it.

    Keys read: method ("subject", "random" or "sources" for fixed train/test sources), folds,
    validation_fraction, test_fraction, seed, subjects, photos, subject_disjoint, montage,
    description (used verbatim when given).
    """
    split = config.get("split", {}) if isinstance(config.get("split"), dict) else {}
    out = dict(protocol)
    fixed = bool(config.get("train_source")) and bool(config.get("test_source"))
    method = _first(protocol, "method", "split_method", default=split.get("method", "subject"))
    if method in ("sources", "fixed") or (fixed and "method" not in protocol):
        method = "sources"
    most_folds = max((len(e.folds) for e in evaluations.values()), default=1)
    folds = int(_first(protocol, "folds", default=most_folds))
    subjects = _first(protocol, "subjects", "n_subjects",
                      default=max((e.n_subjects for e in evaluations.values()), default=0))
    photos = _first(protocol, "photos", "n_photos", "images",
                    default=max((sum(e.images_per_class.values()) for e in evaluations.values()), default=0))
    vf = float(_first(protocol, "validation_fraction", default=split.get("validation_fraction", 0.0)))
    tf_ = float(_first(protocol, "test_fraction", default=split.get("test_fraction", 0.0)))
    seed = _first(protocol, "seed", default=split.get("seed", config.get("seed")))
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


def training_options(config: dict[str, Any]) -> list[str]:
    """Sentences for non-default training options (augmentation, loss); empty for the thesis's setup."""
    lines = []
    augment = config.get("augment") or {}
    if augment.get("enabled"):
        parts = []
        if augment.get("shift", 4):
            parts.append(f"shifts ±{augment.get('shift', 4)} px")
        if augment.get("flip", True):
            parts.append("horizontal flip")
        what = ", ".join(parts) if parts else "enabled, but with no shift and no flip"
        lines.append(f"training-data augmentation: {what} (image models only; landmark_fnn is not augmented)")
    loss = config.get("loss", "cross_entropy")
    if loss != "cross_entropy":
        lines.append(f"loss: {_LOSS_NAMES.get(loss, loss)} (the thesis used softmax cross-entropy)")
    return lines


# --- comparison.json --------------------------------------------------------------------------------
def _model_entry(ev: ModelEvaluation, s: ModelSummary) -> dict[str, Any]:
    folds = []
    for f, r in zip(ev.folds, s.fold_reports, strict=True):
        folds.append({
            "fold": f.fold, "n_train": f.n_train, "n_validation": f.n_validation, "n_test": f.n_test,
            "test_subjects": list(f.test_subjects), "best_epoch": f.best_epoch, "epochs": len(f.history),
            "seconds": f.seconds, "report": r.to_dict(), "history": list(f.history),
        })
    return {
        "classes": s.classes,
        "source": ev.source,
        "parameters": s.parameters,
        "images": s.n_images,
        "images_per_class": dict(ev.images_per_class),
        "subjects": ev.n_subjects,
        "subjects_per_class": dict(ev.subjects_per_class),
        "folds": len(ev.folds),
        "accuracy": {"mean": s.accuracy[0], "std": s.accuracy[1]},
        "macro_f1": {"mean": s.macro_f1[0], "std": s.macro_f1[1]},
        "per_class_f1_mean": {c: ms[0] for c, ms in s.per_class_f1.items()},
        "per_class_f1_std": {c: ms[1] for c, ms in s.per_class_f1.items()},
        "pooled": s.pooled.to_dict(),
        "training_seconds": {"total": s.seconds, "mean_per_fold": s.seconds / len(ev.folds)},
        "fold_results": folds,
    }


def build_comparison(config: dict[str, Any], evaluations: dict[str, ModelEvaluation],
                     preprocessing: list[dict], protocol: dict[str, Any],
                     thesis: dict[str, str] | None = None) -> dict[str, Any]:
    """The comparison as a JSON-ready dict (NaN as None), without writing anything."""
    if not evaluations:
        raise ValueError("no model evaluations to report")
    thesis = THESIS_FIGURES if thesis is None else thesis
    summaries = {k: summarise(ev) for k, ev in evaluations.items()}
    rule = (config.get("evaluation") or {}).get("winner_rule", "mean_accuracy")
    winner, reason = _winner_from(summaries, rule)
    resolved = resolve_protocol(protocol, evaluations, config)
    comparison = {
        "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "protocol": resolved,
        "training_options": training_options(config),
        "models": {k: _model_entry(evaluations[k], s) for k, s in summaries.items()},
        "photos_per_model": {k: s.n_images for k, s in summaries.items()},
        "winner": {"model": winner, "rule": rule, "rule_text": RULES[rule], "reason": reason},
        "thesis": {k: thesis[k] for k in evaluations if k in thesis},
        "preprocessing": list(preprocessing),
        "files": {k: v for k, v in FILES.items() if k != "montage"},
        "config": config,
    }
    return _jsonable(comparison)


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


def comparison_table(evaluations: dict[str, ModelEvaluation]) -> str:
    """The side-by-side results table as markdown (also sent to TensorBoard)."""
    summaries = {k: summarise(ev) for k, ev in evaluations.items()}
    return "\n".join(_results_table(evaluations, summaries))


def render_markdown(comparison: dict[str, Any], evaluations: dict[str, ModelEvaluation],
                    figures: dict[str, str]) -> str:
    """comparison.md from the comparison dict, the evaluations and the figure files written."""
    summaries = {k: summarise(ev) for k, ev in evaluations.items()}
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


# --- figures --------------------------------------------------------------------------------------
def _all_classes(summaries: dict[str, ModelSummary]) -> list[str]:
    out: list[str] = []
    for s in summaries.values():
        out += [c for c in s.classes if c not in out]
    return out


def _colour(kind: str, index: int) -> str:
    return _COLOURS.get(kind, _SPARE_COLOURS[index % len(_SPARE_COLOURS)])


def _new_figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, facecolor="white")
    return buf.getvalue()


def plot_learning_curves(evaluations: dict[str, ModelEvaluation]) -> Any:
    """One row per model: training and validation loss, and validation accuracy, per epoch of fold 0."""
    fig = _new_figure(12, 3.2 * len(evaluations) + 0.6)
    axes = fig.subplots(len(evaluations), 2, squeeze=False)
    first = {k: min(ev.folds, key=lambda f: f.fold) for k, ev in evaluations.items()}
    several = any(len(ev.folds) > 1 for ev in evaluations.values())
    fig.suptitle("Learning curves" + (" (fold 0)" if several else ""), fontsize=14)
    for row, (k, fold) in enumerate(first.items()):
        ax_loss, ax_acc = axes[row]
        colour = _colour(k, row)
        epochs = [h.get("epoch", i) for i, h in enumerate(fold.history)]
        if not fold.history:
            for ax in (ax_loss, ax_acc):
                ax.text(0.5, 0.5, "no training history", ha="center", va="center", transform=ax.transAxes)
        else:
            def series(key: str, history: list[dict] = fold.history) -> list[float]:
                return [math.nan if h.get(key) is None else float(h[key]) for h in history]
            ax_loss.plot(epochs, series("train_loss"), color=colour, lw=1.8, label="training loss")
            ax_loss.plot(epochs, series("validation_loss"), color=colour, lw=1.8, ls="--",
                         label="validation loss")
            ax_acc.plot(epochs, series("validation_accuracy"), color=colour, lw=1.8,
                        label="validation accuracy")
            ax_acc.set_ylim(-0.02, 1.02)
            if fold.best_epoch in epochs:
                for ax in (ax_loss, ax_acc):
                    ax.axvline(fold.best_epoch, color="grey", lw=1, ls=":",
                               label=f"best epoch ({fold.best_epoch})")
        ax_loss.set_title(f"{k}: loss", fontsize=12)
        ax_acc.set_title(f"{k}: validation accuracy", fontsize=12)
        for ax in (ax_loss, ax_acc):
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            if fold.history:
                ax.legend(fontsize=9, loc="best")
        ax_loss.set_ylabel("loss")
        ax_acc.set_ylabel("accuracy")
    return fig


def plot_confusion_matrices(summaries: dict[str, ModelSummary]) -> Any:
    """Pooled row-normalised confusion matrices side by side, values annotated."""
    n_max = max(len(s.classes) for s in summaries.values())
    side = max(4.2, 0.62 * n_max + 1.9)
    fig = _new_figure(side * len(summaries) + 0.8, side + 0.7)
    axes = fig.subplots(1, len(summaries), squeeze=False)[0]
    image = None
    for ax, (k, s) in zip(axes, summaries.items(), strict=True):
        m = np.asarray(s.pooled.confusion_normalised, dtype=float)
        n = len(s.classes)
        image = ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
        size = 9 if n <= 8 else 7
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=size,
                        color="white" if m[i, j] > 0.55 else "black")
        ax.set_xticks(range(n), s.classes, rotation=45, ha="right", rotation_mode="anchor")
        support = [row["support"] for row in s.pooled.per_class]
        ax.set_yticks(range(n), [f"{c} (n={count})" for c, count in zip(s.classes, support, strict=True)])
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{k}\naccuracy {_pct(s.pooled.accuracy)}, macro-F1 {_num(s.pooled.macro_f1)}",
                     fontsize=12)
    folds = max(s.folds for s in summaries.values())
    fig.suptitle("Confusion matrices (rows: true class, normalised to 1"
                 + (f"; pooled over {folds} folds)" if folds > 1 else ")"), fontsize=14)
    if image is not None:
        fig.colorbar(image, ax=list(axes), shrink=0.8, label="share of the true class")
    return fig


def plot_per_class_f1(summaries: dict[str, ModelSummary]) -> Any:
    """Grouped bars of per-class F1 (mean over folds, std as error bars): classes on x, one bar per model."""
    classes = _all_classes(summaries)
    n_models = len(summaries)
    fig = _new_figure(max(8.0, 1.1 * len(classes) + 2), 4.8)
    ax = fig.subplots()
    width = 0.8 / n_models
    x = np.arange(len(classes))
    folds = max(s.folds for s in summaries.values())
    for i, (k, s) in enumerate(summaries.items()):
        means = np.array([s.per_class_f1[c][0] if c in s.per_class_f1 else math.nan for c in classes])
        stds = np.array([s.per_class_f1[c][1] if c in s.per_class_f1 else math.nan for c in classes])
        heights = np.nan_to_num(means)
        # F1 lies in [0, 1]: clip the error bars there rather than drawing impossible values.
        spread = np.nan_to_num(stds)
        yerr = None
        if folds > 1:
            yerr = np.vstack([np.minimum(spread, heights), np.minimum(spread, 1 - heights)])
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, heights, width, color=_colour(k, i), label=k, yerr=yerr, capsize=3, error_kw={"lw": 1})
        for p, mean, top in zip(pos, means, heights + (yerr[1] if yerr is not None else 0), strict=True):
            label = "n/a" if math.isnan(mean) else f"{mean:.2f}"
            ax.text(p, (0 if math.isnan(mean) else top) + 0.015, label, ha="center", va="bottom", fontsize=7,
                    rotation=90, color="dimgrey" if math.isnan(mean) else "black")
    ax.set_xticks(x, classes, rotation=20, ha="right", rotation_mode="anchor")
    ax.set_ylim(0, 1.15)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("F1")
    ax.set_title("Per-class F1 on test photos" + (f" (mean ± std over {folds} folds)" if folds > 1 else ""),
                 fontsize=13)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=10)
    return fig


# --- TensorBoard ----------------------------------------------------------------------------------
def write_tensorboard(folder: Path, confusion_png: bytes, table: str, winner: dict[str, Any],
                      accuracies: dict[str, float]) -> None:
    """The confusion-matrix figure, the comparison table and the mean accuracies as TensorBoard summaries."""
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(folder))
    try:
        with writer.as_default():
            image = tf.image.decode_png(confusion_png, channels=3)
            tf.summary.image("confusion_matrices", tf.expand_dims(image, 0), step=0)
            tf.summary.text("comparison", table, step=0)
            tf.summary.text("winner", f"**{winner['model']}** ({winner['rule']}): {winner['reason']}", step=0)
            for kind, acc in accuracies.items():
                if _finite(acc):
                    tf.summary.scalar(f"test_accuracy_mean/{kind}", acc, step=0)
        writer.flush()
    finally:
        writer.close()


# --- the whole report -----------------------------------------------------------------------------
def write_report(run_dir: Path, config: dict[str, Any], evaluations: dict[str, ModelEvaluation],
                 preprocessing: list[dict], protocol: dict[str, Any], thesis: dict[str, str] | None = None,
                 ) -> dict[str, Any]:
    """Write comparison.json, comparison.md, the PNGs and the TensorBoard summary into run_dir.

    `preprocessing`: one dict per stage (stage, read, written, reused, rejected, reasons {reason: count},
    and any other counts, shown as notes). `protocol`: see resolve_protocol. `thesis`: the thesis's
    figures per model (default THESIS_FIGURES; {} for none). Returns the dict written as comparison.json.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    comparison = build_comparison(config, evaluations, preprocessing, protocol, thesis)
    summaries = {k: summarise(ev) for k, ev in evaluations.items()}

    figures: dict[str, str] = {}
    confusion_png = b""
    for key, make in (("learning_curves", lambda: plot_learning_curves(evaluations)),
                      ("confusion_matrices", lambda: plot_confusion_matrices(summaries)),
                      ("per_class_f1", lambda: plot_per_class_f1(summaries))):
        png = figure_png(make())
        atomic_write_bytes(run_dir / FILES[key], png)
        figures[key] = FILES[key]
        if key == "confusion_matrices":
            confusion_png = png
    montage = protocol.get("montage")
    if montage and Path(montage).is_file() and Path(montage).suffix.lower() == ".png":
        target = run_dir / FILES["montage"]
        if not (target.exists() and target.samefile(montage)):
            atomic_write_bytes(target, Path(montage).read_bytes())
        figures["montage"] = FILES["montage"]
    comparison["files"] = {**{k: FILES[k] for k in ("json", "markdown", "tensorboard")}, **figures}

    atomic_write_text(run_dir / FILES["json"], json.dumps(comparison, indent=2, allow_nan=False) + "\n")
    atomic_write_text(run_dir / FILES["markdown"], render_markdown(comparison, evaluations, figures))
    table = "\n".join(_results_table(evaluations, summaries))
    write_tensorboard(run_dir / FILES["tensorboard"], confusion_png, table, comparison["winner"],
                      {k: s.accuracy[0] for k, s in summaries.items()})
    return comparison
