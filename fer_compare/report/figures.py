"""The report's figures: learning curves, confusion matrices, per-class F1."""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

from ..kinds import KINDS
from ..results import ModelEvaluation
from .formatting import _num, _pct
from .summary import ModelSummary, _all_classes

_SPARE_COLOURS = ("#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


# --- figures --------------------------------------------------------------------------------------
def _colour(kind: str, index: int) -> str:
    return KINDS[kind].colour if kind in KINDS else _SPARE_COLOURS[index % len(_SPARE_COLOURS)]


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
