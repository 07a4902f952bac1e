"""The test stage's report: comparison.json, comparison.md, three figures and a TensorBoard summary."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_write_bytes, atomic_write_text
from ..kinds import KINDS
from ..pairs import Pair, all_pairs
from ..results import FoldResult, ModelEvaluation
from ..settings import Settings
from ..statistics import PairedDifference
from .figures import figure_png, plot_confusion_matrices, plot_learning_curves, plot_per_class_f1
from .formatting import FILES, _finite, _jsonable
from .summary import RULES, ModelSummary, _winner_from, choose_winner, summarise
from .text import _results_table, pairs_table, render_markdown, repeat_means, resolve_protocol, training_options

__all__ = ["THESIS_FIGURES", "FoldResult", "ModelEvaluation", "choose_winner", "summarise", "write_report"]

# What the thesis published for each approach; quoted beside our numbers, never compared by code.
THESIS_FIGURES: dict[str, str] = {name: k.thesis for name, k in KINDS.items() if k.thesis}


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
        "floor_of": ev.floor_of,
        "repeat_accuracy_means": repeat_means(ev),
    }


def _pair_entry(p: Pair) -> dict[str, Any]:
    d = p.difference
    return {"a": d.a, "b": d.b, "mean_difference": d.mean_difference, "ci95": list(d.ci95), "p_value": d.p_value,
            "test": d.test, "resolved": d.resolved, "folds": len(d.differences), "differences": list(d.differences),
            "shared_classes": list(p.shared_classes), "all_classes": p.all_classes,
            "photos_per_fold": list(p.photos_per_fold)}


def _find_pair(pairs: list[Pair], a: str, b: str) -> Pair | None:
    """The pair of a and b, oriented as a − b."""
    for p in pairs:
        if (p.difference.a, p.difference.b) == (a, b):
            return p
        if (p.difference.a, p.difference.b) == (b, a):
            d = p.difference
            flipped = PairedDifference(a, b, tuple(-x for x in d.differences), -d.mean_difference,
                                       (-d.ci95[1], -d.ci95[0]), d.p_value, d.test)
            return Pair(flipped, p.shared_classes, p.photos_per_fold, p.all_classes)
    return None


def _winner(summaries: dict[str, ModelSummary], evaluations: dict[str, ModelEvaluation], pairs: list[Pair],
            rule: str) -> dict[str, Any]:
    """The winning network by `rule`, and whether its lead over the runner-up is resolved."""
    networks = {k: s for k, s in summaries.items() if evaluations[k].floor_of is None} or summaries
    winner, reason = _winner_from(networks, rule)
    out: dict[str, Any] = {"model": winner, "rule": rule, "rule_text": RULES[rule], "reason": reason,
                           "resolved": False}
    rest = {k: s for k, s in networks.items() if k != winner}
    if not rest:
        out["resolution"] = "only one network was compared, so there is no runner-up to resolve against"
        return out
    runner_up, _ = _winner_from(rest, rule)
    p = _find_pair(pairs, winner, runner_up)
    d = p.difference if p else None
    out["runner_up"] = runner_up
    if d is None or not np.isfinite(d.ci95[0]):
        out["resolution"] = (f"not resolved: with fewer than two paired folds there is no interval for {winner} "
                             f"against {runner_up}")
        return out
    out["resolved"] = bool(d.resolved and d.mean_difference > 0)
    words = "resolved" if out["resolved"] else "not resolved"
    out["resolution"] = (f"{words}: {winner} − {runner_up} = {100 * d.mean_difference:+.1f} points of accuracy, "
                         f"95 % CI [{100 * d.ci95[0]:+.1f}, {100 * d.ci95[1]:+.1f}], p = {d.p_value:.3g} "
                         f"({d.test}, {len(d.differences)} folds)"
                         + ("" if out["resolved"] else "; the interval includes 0, so the data do not say which of "
                            "the two is better"))
    out["against_runner_up"] = _pair_entry(p)
    return out


def _floors(evaluations: dict[str, ModelEvaluation], pairs: list[Pair]) -> dict[str, dict[str, Any]]:
    """Each network against its own floor."""
    out = {}
    for k, ev in evaluations.items():
        floor = next((f for f, e in evaluations.items() if e.floor_of == k), None)
        if ev.floor_of is not None or floor is None:
            continue
        p = _find_pair(pairs, k, floor)
        if p is None:
            continue
        verdict = {"better": "beats its floor", "worse": "is below its floor",
                   "no resolved difference": "is not distinguishable from its floor"}[p.difference.verdict()]
        out[k] = {"floor": floor, "verdict": verdict, **_pair_entry(p)}
    return out


def build_comparison(config: Settings, evaluations: dict[str, ModelEvaluation],
                     preprocessing: list[dict], protocol: dict[str, Any],
                     thesis: dict[str, str] | None = None,
                     summaries: dict[str, ModelSummary] | None = None) -> dict[str, Any]:
    """The comparison as a JSON-ready dict (NaN as None), without writing anything."""
    if not evaluations:
        raise ValueError("no model evaluations to report")
    thesis = THESIS_FIGURES if thesis is None else thesis
    summaries = summaries or {k: summarise(ev) for k, ev in evaluations.items()}
    rule = config.evaluation.winner_rule
    pairs = all_pairs(evaluations)
    resolved = resolve_protocol(protocol, evaluations, config)
    comparison = {
        "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "protocol": resolved,
        "training_options": training_options(config),
        "models": {k: _model_entry(evaluations[k], s) for k, s in summaries.items()},
        "photos_per_model": {k: s.n_images for k, s in summaries.items()},
        "winner": _winner(summaries, evaluations, pairs, rule),
        "pairs": [_pair_entry(p) for p in pairs],
        "floors": _floors(evaluations, pairs),
        "thesis": {k: thesis[k] for k in evaluations if k in thesis},
        "preprocessing": list(preprocessing),
        "files": {k: v for k, v in FILES.items() if k != "montage"},
        "config": config.to_dict(),
    }
    return _jsonable(comparison)


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
def write_report(run_dir: Path, config: Settings, evaluations: dict[str, ModelEvaluation],
                 preprocessing: list[dict], protocol: dict[str, Any], thesis: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write comparison.json, comparison.md, the PNGs and the TensorBoard summary into run_dir.

    `preprocessing`: one dict per stage (stage, read, written, reused, rejected, reasons {reason: count},
    and any other counts, shown as notes). `protocol`: see resolve_protocol. `thesis`: the thesis's
    figures per model (default THESIS_FIGURES; {} for none). `extra`: more top-level entries (non-empty
    ones only, e.g. the exports). Returns the dict written as comparison.json.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    summaries = {k: summarise(ev) for k, ev in evaluations.items()}
    comparison = build_comparison(config, evaluations, preprocessing, protocol, thesis, summaries)
    comparison.update(_jsonable({k: v for k, v in (extra or {}).items() if v}))
    networks = {k: ev for k, ev in evaluations.items() if ev.floor_of is None}

    figures: dict[str, str] = {}
    confusion_png = b""
    for key, make in (("learning_curves", lambda: plot_learning_curves(networks)),
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
    atomic_write_text(run_dir / FILES["markdown"], render_markdown(comparison, evaluations, figures, summaries))
    table = "\n".join([*_results_table(evaluations, summaries), "", *pairs_table(comparison)])
    write_tensorboard(run_dir / FILES["tensorboard"], confusion_png, table, comparison["winner"],
                      {k: s.accuracy[0] for k, s in summaries.items()})
    return comparison
