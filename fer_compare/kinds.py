"""The registry of model kinds: everything that differs between kinds, one entry each.

A kind says which stage folder it reads, how a stored example becomes the network's input
(`layout`), whether training data may be augmented, how to build its model, and how the report
draws and quotes it. The linear floors are kinds too: a softmax regression on exactly the input
of the network named in `floor_of`, the bar that network has to clear.
Adding a kind is one entry here plus its model module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# How a stored example (uint8 image [H, W] or float features [4, 42]) is fed to the model.
IMAGE = "image"  # [H, W, 1] in 0..1
FLAT = "flat"  # one vector (images in 0..1, features as they are)
FEATURES = "features"  # [4, 42] landmark features


@dataclass(frozen=True)
class ModelKind:
    """One model kind: its data, its input layout, its builder, and how the report shows it."""

    name: str
    source: Callable[[dict[str, Any]], str]  # config -> the key of the stage folder it reads
    layout: str
    augmentable: bool
    build: Callable[[list[str], dict[str, Any], int], Any]  # (classes, hyperparameters, seed) -> EmotionModel
    colour: str
    thesis: str = ""  # what the thesis published for it; quoted, never compared by code
    floor_of: str | None = None  # a floor: the network whose input it shares
    dense_stack: bool = False  # hidden layers are plain dense layers (the video stage's sparse one-face pass)

    @property
    def is_floor(self) -> bool:
        return self.floor_of is not None

    def to_input(self, x: np.ndarray) -> np.ndarray:
        """Stored examples [N, ...] -> the float32 array the model takes (the tf.data decode, in NumPy).

        uint8 images are scaled to 0..1; float examples (features, or images after subject
        normalisation, already in 0..1 units) are taken as they are.
        """
        x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
        if self.layout == IMAGE:
            return x[..., None]
        if self.layout == FLAT:
            return x.reshape(len(x), -1)
        return x


def _build_cnn(classes: list[str], m: dict[str, Any], seed: int) -> Any:
    from .nn.models import GrayscaleCNN

    return GrayscaleCNN(classes, tuple(m["input"]), m["filters"], m["kernel_size"], m["hidden"], m["dropout"],
                        m["l2"], seed, m["batch_norm_momentum"], standardize=m["standardize"])


def _build_landmark_fnn(classes: list[str], m: dict[str, Any], seed: int) -> Any:
    from .nn.models import LandmarkFNN

    return LandmarkFNN(classes, m["subnet"], m["hidden"], m["dropout"], seed=seed, l2=m["l2"])


def _build_gradient_fnn(classes: list[str], m: dict[str, Any], seed: int) -> Any:
    from .nn.models import GradientFNN

    return GradientFNN(classes, tuple(m["input"]), m["hidden"], m["dropout"], seed, m["row_blocks"],
                       standardize=m["standardize"], l2=m["l2"])


def _floor_builder(kind: str) -> Callable[[list[str], dict[str, Any], int], Any]:
    def build(classes: list[str], m: dict[str, Any], seed: int) -> Any:
        from .nn.models import LinearSoftmax

        return LinearSoftmax(classes, int(np.prod(m["input_shape"])), kind, l2=m.get("l2", 0.0))
    return build


def _gradient_source(config: dict[str, Any]) -> str:
    return config["nn"]["gradient_fnn"]["source"]


KINDS: dict[str, ModelKind] = {
    "cnn": ModelKind(
        "cnn", lambda c: "formatted", IMAGE, True, _build_cnn, "#1f77b4",
        "val accuracy 92.65 % (best val loss 0.2524, epoch 40), RaFD 8 classes, split shares subjects; "
        "failed the live webcam test"),
    "landmark_fnn": ModelKind(
        "landmark_fnn", lambda c: "aligned", FEATURES, True, _build_landmark_fnn, "#ff7f0e",
        "accuracy <= 22 %, settled at 17 % (loss 7.378 at step 200); failed"),
    "gradient_fnn": ModelKind(
        "gradient_fnn", _gradient_source, FLAT, True, _build_gradient_fnn, "#2ca02c",
        "val accuracy ~80 % average, 91.7 % at epoch 20 (loss 0.056), 6 classes; passed the live test",
        dense_stack=True),
    "linear_crop": ModelKind(
        "linear_crop", lambda c: "formatted", FLAT, False, _floor_builder("linear_crop"), "#aec7e8",
        floor_of="cnn"),
    "linear_landmarks": ModelKind(
        "linear_landmarks", lambda c: "aligned", FLAT, False, _floor_builder("linear_landmarks"), "#ffbb78",
        floor_of="landmark_fnn"),
    "linear_laplacian": ModelKind(
        "linear_laplacian", _gradient_source, FLAT, False, _floor_builder("linear_laplacian"), "#98df8a",
        floor_of="gradient_fnn"),
}

NETWORKS = tuple(name for name, k in KINDS.items() if not k.is_floor)
FLOOR_OF = {k.floor_of: name for name, k in KINDS.items() if k.is_floor}


def kind(name: str) -> ModelKind:
    """The registry entry of a kind name (KeyError for an unknown one)."""
    return KINDS[name]


def floor_for(network: str) -> str:
    """The name of the linear floor that shares `network`'s input."""
    return FLOOR_OF[network]
