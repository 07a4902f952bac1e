"""TensorBoard summaries of one training run: scalars per epoch, the graph, input images,
weight histograms and the hparams record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf

from .data import ModelData
from .distribution import describe_devices
from .kinds import FEATURES
from .kinds import kind as kind_of
from .nn.models import EmotionModel, count_parameters
from .settings import Settings

if TYPE_CHECKING:
    from .results import TrainResult


class TrainingSummaries:
    """The `train/` and `validation/` event files of one model's run."""

    def __init__(self, kind: str, folder: Path, hyper: dict[str, Any], config: Settings, data: ModelData,
                 sample: np.ndarray, model: EmotionModel, strategy: tf.distribute.Strategy) -> None:
        self.kind, self.folder, self.hyper, self.config = kind, folder, hyper, config
        self.data, self.sample, self.model, self.strategy = data, sample, model, strategy
        self.writers = {name: tf.summary.create_file_writer(str(folder / name)) for name in ("train", "validation")}

    def start(self) -> None:
        """The hparams record, a few inputs as the network sees them, the first histograms, the model's size."""
        # summary_v2, not the hparams `api` module: that one subclasses tf.keras.callbacks.Callback,
        # which would import all of Keras (see tf_import.py).
        from tensorboard.plugins.hparams import summary_v2 as hp

        with self.writers["validation"].as_default():
            trial = f"{self.folder.parent.name}/{self.kind}"
            hp.hparams(hparams_of(self.kind, self.hyper, self.config), trial_id=trial)
            tf.summary.image("inputs as the network sees them", _as_images(self.kind, self.sample, self.model),
                             step=0, max_outputs=6)
            self.histograms(0)
            tf.summary.text("model", json.dumps({"kind": self.kind, "classes": self.data.classes,
                                                 "parameters": count_parameters(self.model),
                                                 "devices": describe_devices(self.strategy)}), step=0)

    def histograms(self, step: int) -> None:
        # tf.summary.histogram's bucketing costs ~240 bytes per value: a strided sample of at most
        # 100k values per variable keeps the 58.8 M-weight layers from needing gigabytes.
        for v in self.model.trainable_variables:
            values = tf.reshape(v, [-1])
            stride = max(1, int(values.shape[0]) // 100_000)
            tf.summary.histogram(v.name.replace(":0", ""), values[::stride], step=step)

    def epoch(self, row: dict[str, float], epoch: int) -> None:
        with self.writers["train"].as_default():
            tf.summary.scalar("loss", row["train_loss"], step=epoch)
            tf.summary.scalar("learning_rate", row["learning_rate"], step=epoch)
        with self.writers["validation"].as_default():
            tf.summary.scalar("loss", row["validation_loss"], step=epoch)
            tf.summary.scalar("accuracy", row["validation_accuracy"], step=epoch)

    def end(self, result: TrainResult) -> None:
        with self.writers["validation"].as_default():
            self.histograms(max(result.best_epoch, 0) + 1)
            tf.summary.scalar("best/loss", result.best_validation_loss, step=0)
            tf.summary.scalar("best/accuracy", result.best_validation_accuracy, step=0)
            tf.summary.scalar("best/epoch", result.best_epoch, step=0)
        for w in self.writers.values():
            w.flush()


def hparams_of(kind: str, hyper: dict[str, Any], config: Settings) -> dict[str, Any]:
    """Flat scalar hyperparameters for the TensorBoard hparams plugin."""
    out: dict[str, Any] = {"model": kind, "split": config.split.method, "loss": config.loss,
                           "augment": config.augments(kind), "seed": int(config.seed)}
    for k, v in hyper.items():
        if isinstance(v, bool) or isinstance(v, (int, float, str)):
            out[k] = v
        elif isinstance(v, list):
            out[k] = "x".join(map(str, v))
    return out


def _as_images(kind: str, x: np.ndarray, model: EmotionModel) -> np.ndarray:
    """Network inputs as [k, H, W, 1] images in 0..1 (landmark features standardised, as a 4x42 strip)."""
    if kind_of(kind).layout == FEATURES:
        z = (x - model.feature_mean.numpy()) / model.feature_std.numpy()
        z = np.clip((z + 3) / 6, 0, 1)
        return np.repeat(np.repeat(z, 8, axis=1), 4, axis=2)[..., None].astype(np.float32)
    if x.dtype != np.uint8:  # subject-normalised images: differences in -1..1
        return np.clip((x.astype(np.float32) + 1) / 2, 0, 1)[..., None]
    return (x.astype(np.float32) / 255.0)[..., None]


