"""The registry of model kinds: everything that differs between kinds, one entry each.

A kind says which stage folder it reads, how a stored example becomes the network's input
(`layout`), whether training data may be augmented, how to build its model, and how the report
draws and quotes it. The linear floors are kinds too: a softmax regression on exactly the input
of the network named in `floor_of`, the bar that network has to clear.
Adding a kind is one entry here plus its model module.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the settings' loader reads this registry: no import at run time
    from .settings.schema import CnnHyper, GradientFnnHyper, LandmarkFnnHyper, ModelHyper, Settings

# How a stored example (uint8 image [H, W] or float features [4, 42]) is fed to the model.
IMAGE = "image"  # [H, W, 1] in 0..1
FLAT = "flat"  # one vector (images in 0..1, features as they are)
FEATURES = "features"  # [4, 42] landmark features

# What one face (a detected crop) must go through to become a kind's input (face.chain.FaceChain).
CROP = "crop"  # the formatted crop itself: no landmarks, no alignment, so no rejection
LANDMARKS = "landmarks"  # landmark features of the aligned face
FACE_IMAGE = "face image"  # the gradient FNN's image of the aligned face (masked Laplacian or blur)


@dataclass(frozen=True)
class ModelKind:
    """One model kind: its data, its input layout, its builder, and how the report shows it."""

    name: str
    source: Callable[[Settings], str]  # settings -> the key of the stage folder it reads
    layout: str
    augmentable: bool
    # (classes, hyper-parameters (None for a floor), input shape, seed) -> EmotionModel
    build: Callable[[list[str], Any, tuple[int, ...], int], Any]
    colour: str
    thesis: str = ""  # what the thesis published for it; quoted, never compared by code
    floor_of: str | None = None  # a floor: the network whose input it shares
    dense_stack: bool = False  # hidden layers are plain dense layers (the video stage's sparse one-face pass)
    face_input: str = CROP
    # (hyper-parameters, input (width, height), classes, batch) -> (weights, largest activations), estimated
    # before anything is built, so that a model too large for the machine is refused in one line
    size: Callable[[Any, tuple[int, int], int, int], tuple[int, int]] | None = None

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


def _build_cnn(classes: list[str], m: CnnHyper, size: tuple[int, ...], seed: int) -> Any:
    from .nn.models import GrayscaleCNN

    return GrayscaleCNN(classes, size, m.filters, m.kernel_size, m.hidden, m.dropout, m.l2, seed,
                        m.batch_norm_momentum, standardize=m.standardize)


def _build_landmark_fnn(classes: list[str], m: LandmarkFnnHyper, size: tuple[int, ...], seed: int) -> Any:
    from .nn.models import LandmarkFNN

    return LandmarkFNN(classes, m.subnet, m.hidden, m.dropout, seed=seed, l2=m.l2)


def _build_gradient_fnn(classes: list[str], m: GradientFnnHyper, size: tuple[int, ...], seed: int) -> Any:
    from .nn.models import GradientFNN

    return GradientFNN(classes, size, m.hidden, m.dropout, seed, m.row_blocks, standardize=m.standardize, l2=m.l2)


def _dense_size(sizes: list[int]) -> int:
    return sum(a * b + b for a, b in itertools.pairwise(sizes))


def _cnn_size(m: CnnHyper, size: tuple[int, int], classes: int, batch: int) -> tuple[int, int]:
    k, (w, h) = m.kernel_size, size
    weights, channels, activations = 0, 1, 0
    for f in m.filters:
        weights += k * k * channels * f + f
        activations = max(activations, batch * w * h * f)
        channels, w, h = f, -(-w // 2), -(-h // 2)  # SAME pooling rounds up
    sizes = [w * h * channels, *m.hidden, classes]
    return weights + _dense_size(sizes), max(activations, batch * max(sizes))


def _landmark_fnn_size(m: LandmarkFnnHyper, size: tuple[int, int], classes: int, batch: int) -> tuple[int, int]:
    subnet = [42, *m.subnet]
    sizes = [subnet[-1], *m.hidden, classes]
    return 4 * _dense_size(subnet) + _dense_size(sizes), batch * 4 * max(subnet + sizes)


def _gradient_fnn_size(m: GradientFnnHyper, size: tuple[int, int], classes: int, batch: int) -> tuple[int, int]:
    sizes = [size[0] * size[1], *m.hidden, classes]
    return _dense_size(sizes), batch * max(sizes)


def _floor_builder(kind: str) -> Callable[[list[str], ModelHyper | None, tuple[int, ...], int], Any]:
    def build(classes: list[str], m: ModelHyper | None, size: tuple[int, ...], seed: int) -> Any:
        from .nn.models import LinearSoftmax

        return LinearSoftmax(classes, int(np.prod(size)), kind)
    return build


def _gradient_source(settings: Settings) -> str:
    return settings.nn.gradient_fnn.source


KINDS: dict[str, ModelKind] = {
    "cnn": ModelKind(
        "cnn", lambda c: "formatted", IMAGE, True, _build_cnn, "#1f77b4",
        "val accuracy 92.65 % (best val loss 0.2524, epoch 40), RaFD 8 classes, split shares subjects; "
        "failed the live webcam test", size=_cnn_size),
    "landmark_fnn": ModelKind(
        "landmark_fnn", lambda c: "aligned", FEATURES, True, _build_landmark_fnn, "#ff7f0e",
        "accuracy <= 22 %, settled at 17 % (loss 7.378 at step 200); failed", face_input=LANDMARKS,
        size=_landmark_fnn_size),
    "gradient_fnn": ModelKind(
        "gradient_fnn", _gradient_source, FLAT, True, _build_gradient_fnn, "#2ca02c",
        "val accuracy ~80 % average, 91.7 % at epoch 20 (loss 0.056), 6 classes; passed the live test",
        dense_stack=True, face_input=FACE_IMAGE, size=_gradient_fnn_size),
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
