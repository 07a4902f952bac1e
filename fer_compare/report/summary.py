"""Each model's summary over folds, computed once, and the winner rule."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..metrics import ClassificationReport, classification_report, confusion_matrix, mean_std, report_from_confusion
from ..results import ModelEvaluation
from .formatting import _num, _pct

RULES: dict[str, str] = {
    "mean_accuracy": ("highest mean test accuracy over folds; ties: higher mean macro-F1, "
                      "then fewer parameters"),
    "mean_macro_f1": ("highest mean test macro-F1 over folds; ties: higher mean accuracy, "
                      "then fewer parameters"),
}

# Two means closer than this are a tie: they come from the same test sets, so real ties are exact.
_TIE = 1e-9

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
        what, _, show = criteria[0]
        return kind, f"{kind} is the only candidate; floors do not compete ({what} {over}: {show(s)})."
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
            if any(show(summaries[k]) == show(summaries[kind]) for k in rivals):  # decided past the shown digits
                show = lambda s, key=key: f"{key(s):.6f}"
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


def _all_classes(summaries: dict[str, ModelSummary]) -> list[str]:
    out: list[str] = []
    for s in summaries.values():
        out += [c for c in s.classes if c not in out]
    return out
