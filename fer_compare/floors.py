"""Training a linear floor: softmax regression on a network's own input, its L2 strength chosen on
the validation subjects.

A floor is only a floor when it is a strong linear model: inputs standardised on the training
side, the loss minimised to convergence (full-batch Adam on a convex problem), and the L2
strength the one with the lowest validation loss over a grid swept from strong to weak, each
fit warm-started from the previous one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from .data import ModelData
from .kinds import kind as kind_of
from .nn.adam import Adam
from .nn.losses import cross_entropy
from .nn.models import LinearSoftmax, count_parameters
from .settings import FloorSettings
from .splits import Split

# The tolerance on the relative change of the loss over `_CHECK` steps that counts as converged.
_TOLERANCE = 1e-5
_CHECK = 50


@dataclass
class FloorResult:
    """A trained floor: the model at the chosen L2, and the validation sweep that chose it."""

    kind: str
    model: LinearSoftmax
    l2: float
    history: list[dict[str, float]]
    seconds: float
    parameters: int
    steps: int
    extra: dict[str, Any] = field(default_factory=dict)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities for stored examples."""
        if len(x) == 0:
            return np.zeros((0, len(self.model.classes)), np.float32)
        return tf.nn.softmax(self.model(tf.constant(kind_of(self.kind).to_input(x)))).numpy()


def fit_floor(kind: str, data: ModelData, split: Split, settings: FloorSettings, seed: int = 0,
              folder: Path | None = None) -> FloorResult:
    """Fit the floor `kind` on data.x[split.train]; choose L2 by validation loss (`settings`: l2 grid,
    max steps, learning rate: the config's `evaluation.floor`)."""
    t0 = time.perf_counter()
    spec = kind_of(kind)
    x_train = spec.to_input(data.x[split.train])
    y_train = data.y[split.train].astype(np.int32)
    model = LinearSoftmax(data.classes, x_train.shape[1], kind)
    model.scaling.fit(x_train)
    x_tr, y_tr = tf.constant(x_train), tf.constant(y_train)
    has_validation = len(split.validation) > 0
    x_val = tf.constant(spec.to_input(data.x[split.validation])) if has_validation else x_tr
    y_val = tf.constant(data.y[split.validation].astype(np.int32)) if has_validation else y_tr
    optimizer = Adam(model.trainable_variables, float(settings.learning_rate))

    @tf.function
    def steps(n: tf.Tensor) -> tf.Tensor:
        loss = tf.constant(0.0)
        for _ in tf.range(n):
            with tf.GradientTape() as tape:
                loss = cross_entropy(model(x_tr), y_tr) + model.regularization()
            optimizer.apply(tape.gradient(loss, model.trainable_variables))
        return loss

    @tf.function
    def validation() -> tuple[tf.Tensor, tf.Tensor]:
        logits = model(x_val)
        accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int32), y_val), tf.float32))
        return cross_entropy(logits, y_val), accuracy

    grid = sorted((float(v) for v in settings.l2), reverse=True)
    if not has_validation:
        # Nothing to choose on: the middle of the grid, said in the history.
        grid = [grid[len(grid) // 2]]
    history: list[dict[str, float]] = []
    best: tuple[float, list[np.ndarray], float] | None = None
    total_steps = 0
    for l2 in grid:
        model.l2.assign(l2)
        previous = math.inf
        done = 0
        while done < int(settings.max_steps):
            loss = float(steps(tf.constant(_CHECK)))
            done += _CHECK
            if abs(previous - loss) <= _TOLERANCE * max(1.0, abs(loss)):
                break
            previous = loss
        total_steps += done
        val_loss, val_acc = (float(t) for t in validation())
        history.append({"epoch": len(history), "l2": l2, "train_loss": loss, "validation_loss": val_loss,
                        "validation_accuracy": val_acc, "steps": done, "converged": done < settings.max_steps})
        if best is None or val_loss < best[0]:
            best = (val_loss, [v.numpy() for v in model.trainable_variables], l2)
    assert best is not None
    for v, value in zip(model.trainable_variables, best[1], strict=True):
        v.assign(value)
    model.l2.assign(best[2])
    result = FloorResult(kind, model, best[2], history, time.perf_counter() - t0, count_parameters(model),
                         total_steps, {"chosen_on": "validation loss" if has_validation else "no validation set"})
    if folder is not None:
        _summaries(folder, result)
    return result


def _summaries(folder: Path, result: FloorResult) -> None:
    """The validation sweep in TensorBoard: loss and accuracy against log10(L2), and the chosen L2."""
    writer = tf.summary.create_file_writer(str(folder / "validation"))
    with writer.as_default():
        for row in result.history:
            step = round(100 * math.log10(row["l2"]))
            tf.summary.scalar("floor/validation_loss_by_100log10_l2", row["validation_loss"], step=step)
            tf.summary.scalar("floor/validation_accuracy_by_100log10_l2", row["validation_accuracy"], step=step)
        tf.summary.scalar("floor/chosen_l2", result.l2, step=0)
    writer.flush()
    writer.close()
