"""What training and the test stage produced: one model's training, and its test predictions per fold."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .training import Trainer


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
    keys: list[str] = field(default_factory=list)  # the test photos, in the order of y_true
    repeat: int = 0


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
    floor_of: str | None = None


@dataclass
class TrainResult:
    """What training one model produced."""

    kind: str
    classes: list[str]
    history: list[dict[str, float]]
    best_epoch: int
    best_validation_loss: float
    best_validation_accuracy: float
    stopped: str
    folder: Path
    n_train: int
    n_validation: int
    parameters: int
    seconds: float
    samples_per_second: float
    hyperparameters: dict[str, Any]
    export: Path | None = None
    trainer: Trainer | None = field(default=None, repr=False)
    devices: str = ""  # describe_devices(): what trained it, for the report
