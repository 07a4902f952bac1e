"""The thesis's three networks, each a tf.Module returning logits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf

from .initializers import constant, truncated_normal, xavier_uniform, zeros
from .layers import BatchNorm, Conv2DMaxPool, Dense, Dropout, InputScaling, RowBlockedDense

if TYPE_CHECKING:
    from ..settings.schema import ModelHyper


class EmotionModel(tf.Module):
    """Common shape of the three models: logits = model(x, training); an L2 term for the loss."""

    kind = ""

    def __init__(self, classes: list[str], input_shape: list[int], name: str | None = None) -> None:
        super().__init__(name=name)
        self.classes = list(classes)
        self.input_shape = list(input_shape)

    def __call__(self, x: tf.Tensor, training: bool = False, seed: tf.Tensor | None = None) -> tf.Tensor:
        raise NotImplementedError

    def regularization(self) -> tf.Tensor:
        return tf.constant(0.0)

    def set_standardization(self, x: np.ndarray) -> None:
        """Fit the input scaling (if the model has one) to training inputs, as the model takes them."""
        scaling = getattr(self, "scaling", None)
        if scaling is not None:
            scaling.fit(x)

    def describe(self) -> dict[str, Any]:
        """What a checkpoint must match to be restored into this model."""
        return {
            "kind": self.kind, "classes": list(self.classes), "input_shape": list(self.input_shape),
            "variables": {v.name: v.shape.as_list() for v in self.variables},
        }


class GrayscaleCNN(EmotionModel):
    """Input [70, 70, 1] -> 3 x (conv + ReLU + max-pool) -> dropout -> FC 128 -> BN -> dropout -> FC 256 -> logits."""

    kind = "cnn"

    def __init__(self, classes: list[str], input_size: tuple[int, int] = (70, 70), filters: list[int] = (32, 64, 128),
                 kernel_size: int = 3, hidden: list[int] = (128, 256), dropout: float | list[float] = 0.5,
                 l2: float = 1e-4, seed: int = 0, batch_norm_momentum: float = 0.9, standardize: bool = False,
                 name: str | None = "cnn") -> None:
        width, height = input_size
        super().__init__(classes, [height, width, 1], name=name)
        self.l2 = float(l2)
        with self.name_scope:
            # Mean image and one std over all pixels: per-pixel stds would blow up the flat borders.
            self.scaling = InputScaling([height, width, 1], per_feature_std=False) if standardize else None
            channels = [1, *filters]
            self.convs = [Conv2DMaxPool(channels[i], channels[i + 1], kernel_size, seed=seed + i, name=f"conv{i + 1}")
                          for i in range(len(filters))]
            h, w = height, width
            for _ in filters:
                h, w = -(-h // 2), -(-w // 2)  # SAME pooling rounds up: 70 -> 35 -> 18 -> 9
            flat = h * w * channels[-1]
            # `dropout` may be one rate for both places or [after flatten, after batch norm].
            rates = list(dropout) if isinstance(dropout, (list, tuple)) else [dropout, dropout]
            self.dropout1 = Dropout(rates[0], name="dropout1")
            fc_init = dict(w_init=truncated_normal(0.05), b_init=constant(0.05))
            self.fc1 = Dense(flat, hidden[0], "relu", seed=seed + 10, name="fc1", **fc_init)
            self.batch_norm = BatchNorm(hidden[0], momentum=batch_norm_momentum, name="batch_norm")
            self.dropout2 = Dropout(rates[1], salt=1, name="dropout2")
            self.fc2 = Dense(hidden[0], hidden[1], "relu", seed=seed + 11, name="fc2", **fc_init)
            # The thesis initialised the output layer's weights and biases with Xavier.
            self.out = Dense(hidden[1], len(classes), None, xavier_uniform(), xavier_uniform(), seed=seed + 12,
                             name="output")

    def __call__(self, x: tf.Tensor, training: bool = False, seed: tf.Tensor | None = None) -> tf.Tensor:
        if self.scaling is not None:
            x = self.scaling(x)
        for conv in self.convs:
            x = conv(x)
        x = tf.reshape(x, [tf.shape(x)[0], -1])
        x = self.dropout1(x, training, seed)
        x = self.batch_norm(self.fc1(x), training)
        x = self.dropout2(x, training, seed)
        return self.out(self.fc2(x))

    def regularization(self) -> tf.Tensor:
        return self.l2 * (self.fc1.l2_loss() + self.fc2.l2_loss())


class LandmarkSubnet(tf.Module):
    """One feature row (x, y, length or angle of 42 points): 42 -> 42 ReLU -> 256 ReLU -> 256 linear."""

    def __init__(self, sizes: list[int], seed: int, name: str) -> None:
        super().__init__(name=name)
        with self.name_scope:
            self.layers = [
                Dense(sizes[i], sizes[i + 1], "relu" if i < len(sizes) - 2 else None, seed=seed + i, name=f"fc{i + 1}")
                for i in range(len(sizes) - 1)
            ]

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class LandmarkFNN(EmotionModel):
    """[4, 42] features -> four subnets, summed -> FC 1024 ReLU -> dropout -> FC 1024 ReLU -> logits.

    Standardisation (mean/std per feature, from the training set) is part of the model so that
    a SavedModel takes the raw features; the thesis fed raw values (SPEC §2 notes, THESIS_NOTES).
    """

    kind = "landmark_fnn"
    ROWS = ("x", "y", "length", "angle")

    def __init__(self, classes: list[str], subnet: list[int] = (42, 256, 256), hidden: list[int] = (1024, 1024),
                 dropout: float = 0.5, points: int = 42, seed: int = 0, l2: float = 0.0,
                 name: str | None = "landmark_fnn") -> None:
        super().__init__(classes, [4, points], name=name)
        sizes = [points, *subnet]
        self.l2 = float(l2)
        with self.name_scope:
            self.feature_mean = tf.Variable(tf.zeros([4, points]), trainable=False, name="feature_mean")
            self.feature_std = tf.Variable(tf.ones([4, points]), trainable=False, name="feature_std")
            self.subnets = [LandmarkSubnet(sizes, seed + 10 * i, name=f"{row}_subnet")
                            for i, row in enumerate(self.ROWS)]
            self.fc1 = Dense(sizes[-1], hidden[0], "relu", seed=seed + 50, name="connected1")
            self.dropout = Dropout(dropout, name="dropout")
            self.fc2 = Dense(hidden[0], hidden[1], "relu", seed=seed + 51, name="connected2")
            self.out = Dense(hidden[1], len(classes), None, xavier_uniform(), xavier_uniform(), seed=seed + 52,
                             name="output")

    def set_standardization(self, features: np.ndarray) -> None:
        """Mean and std of the training features, [N, 4, 42]."""
        self.feature_mean.assign(features.mean(axis=0))
        self.feature_std.assign(features.std(axis=0) + 1e-6)

    def __call__(self, x: tf.Tensor, training: bool = False, seed: tf.Tensor | None = None) -> tf.Tensor:
        x = (x - tf.cast(self.feature_mean, x.dtype)) / tf.cast(self.feature_std, x.dtype)
        summed = tf.add_n([subnet(x[:, i, :]) for i, subnet in enumerate(self.subnets)])
        h = self.dropout(self.fc1(summed), training, seed)
        return self.out(self.fc2(h))

    def regularization(self) -> tf.Tensor:
        if not self.l2:
            return tf.constant(0.0)
        layers = [*(layer for s in self.subnets for layer in s.layers), self.fc1, self.fc2, self.out]
        return self.l2 * tf.add_n([layer.l2_loss() for layer in layers])


class GradientFNN(EmotionModel):
    """4900 masked-Laplacian pixels -> FC 12000 ReLU -> FC 4900 ReLU -> logits; Xavier weights, zero biases."""

    kind = "gradient_fnn"

    def __init__(self, classes: list[str], input_size: tuple[int, int] = (70, 70), hidden: list[int] = (12000, 4900),
                 dropout: float = 0.0, seed: int = 0, row_blocks: int = 1, standardize: bool = False,
                 l2: float = 0.0, name: str | None = "gradient_fnn") -> None:
        width, height = input_size
        super().__init__(classes, [height * width], name=name)
        sizes = [height * width, *hidden]
        self.l2 = float(l2)
        with self.name_scope:
            self.scaling = InputScaling([height * width]) if standardize else None
            # row_blocks > 1 stores each hidden weight matrix as row blocks (same function; see RowBlockedDense).
            self.hidden = [
                RowBlockedDense(sizes[i], sizes[i + 1], min(row_blocks, sizes[i]), "relu", seed=seed + i,
                                name=f"fc{i + 1}") if row_blocks > 1
                else Dense(sizes[i], sizes[i + 1], "relu", seed=seed + i, name=f"fc{i + 1}")
                for i in range(len(hidden))]
            self.dropout = Dropout(dropout, name="dropout")
            self.out = Dense(sizes[-1], len(classes), None, xavier_uniform(), zeros(), seed=seed + 9, name="output")

    def __call__(self, x: tf.Tensor, training: bool = False, seed: tf.Tensor | None = None) -> tf.Tensor:
        if self.scaling is not None:
            x = self.scaling(x)
        for layer in self.hidden:
            x = layer(x)
        return self.out(self.dropout(x, training, seed))

    def regularization(self) -> tf.Tensor:
        # Weight decay on the output layer only: the hidden layers' 117 M weights would need a
        # gradient pass of their own, and the layer-wise step applies no regulariser to them.
        return self.l2 * self.out.l2_loss() if self.l2 else tf.constant(0.0)


class LinearSoftmax(EmotionModel):
    """A linear floor: standardised input -> one Dense layer -> logits, L2 on the weights; zero-initialised.

    Trained full-batch to convergence (fer_compare/floors.py); the L2 strength is chosen on the
    validation subjects.
    """

    def __init__(self, classes: list[str], inputs: int, kind: str, l2: float = 0.0,
                 name: str | None = "linear") -> None:
        super().__init__(classes, [inputs], name=name)
        self.kind = kind
        self.l2 = tf.Variable(float(l2), trainable=False, name="l2")
        with self.name_scope:
            self.scaling = InputScaling([inputs])
            self.out = Dense(inputs, len(classes), None, zeros(), zeros(), name="output")

    def __call__(self, x: tf.Tensor, training: bool = False, seed: tf.Tensor | None = None) -> tf.Tensor:
        return self.out(self.scaling(tf.reshape(x, [tf.shape(x)[0], -1])))

    def regularization(self) -> tf.Tensor:
        return self.l2 * self.out.l2_loss()


def build_model(kind: str, classes: list[str], hyper: ModelHyper | None, size: Sequence[int],
                seed: int) -> EmotionModel:
    """A model of `kind` from its hyper-parameters and input size (width, height), through the registry."""
    from ..kinds import kind as kind_of

    return kind_of(kind).build(classes, hyper, tuple(size), seed)


def count_parameters(model: tf.Module) -> int:
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))
