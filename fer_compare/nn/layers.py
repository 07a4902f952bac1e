"""Layers as tf.Modules: variables created once in __init__, math from tf.nn ops."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .initializers import Initializer, constant, ones_like_init, xavier_uniform, zeros


class Dense(tf.Module):
    """y = act(x W + b). Initializers default to Xavier weights and zero biases (the thesis's FNNs)."""

    def __init__(
        self, in_size: int, out_size: int, activation: str | None = None,
        w_init: Initializer | None = None, b_init: Initializer | None = None,
        seed: int | None = None, name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        w_init = w_init or xavier_uniform()
        b_init = b_init or zeros()
        with self.name_scope:
            self.w = tf.Variable(w_init([in_size, out_size], seed), name="w")
            self.b = tf.Variable(b_init([out_size], None if seed is None else seed + 1), name="b")
        self.activation = activation

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        y = tf.nn.bias_add(tf.matmul(x, tf.cast(self.w, x.dtype)), tf.cast(self.b, x.dtype))
        return tf.nn.relu(y) if self.activation == "relu" else y

    def l2_loss(self) -> tf.Tensor:
        """tf.nn.l2_loss of the weights (sum of squares / 2), as the thesis added to its loss."""
        return tf.nn.l2_loss(self.w)



class RowBlockedDense(tf.Module):
    """Dense with its weight matrix stored as `row_blocks` variables of consecutive rows.

    Initialised exactly as Dense with the same initializer and seed (the full matrix is drawn,
    then cut), and x W = sum_k x[:, rows_k] W_k gives the same outputs. What the blocks buy is a
    training step that makes and applies one block's gradient at a time (nn/layerwise.py): the
    gradient FNN's 235 MB weight gradients never exist whole, and each block's gradient is still
    in cache when Adam reads it.
    """

    def __init__(
        self, in_size: int, out_size: int, row_blocks: int, activation: str | None = None,
        w_init: Initializer | None = None, b_init: Initializer | None = None,
        seed: int | None = None, name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        w_init = w_init or xavier_uniform()
        b_init = b_init or zeros()
        self.edges = [round(k * in_size / row_blocks) for k in range(row_blocks + 1)]
        with self.name_scope:
            full = w_init([in_size, out_size], seed)
            # DeepCopy: a row slice shares the matrix's buffer, which would then stay alive whole. The
            # copies stay in TensorFlow's allocator, whose free memory (from a model trained before,
            # e.g. the previous fold) they reuse; NumPy copies would add to it (+230 MB peak a fold).
            self.blocks = [tf.Variable(tf.raw_ops.DeepCopy(x=full[r0:r1]), name=f"w_{k}")
                           for k, (r0, r1) in enumerate(zip(self.edges[:-1], self.edges[1:], strict=True))]
            del full
            self.b = tf.Variable(b_init([out_size], None if seed is None else seed + 1), name="b")
        self.activation = activation

    def rows(self) -> list[tuple[int, int, tf.Variable]]:
        """(first row, end row, variable) per block."""
        return [(r0, r1, w) for r0, r1, w in zip(self.edges[:-1], self.edges[1:], self.blocks, strict=True)]

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        y = tf.add_n([tf.matmul(x[:, r0:r1], tf.cast(w, x.dtype)) for r0, r1, w in self.rows()])
        y = tf.nn.bias_add(y, tf.cast(self.b, x.dtype))
        return tf.nn.relu(y) if self.activation == "relu" else y

    def l2_loss(self) -> tf.Tensor:
        return tf.add_n([tf.nn.l2_loss(w) for w in self.blocks])

class Conv2DMaxPool(tf.Module):
    """conv (SAME, stride 1) + bias + ReLU, then 2x2 max-pool stride 2 of the *activated* output.

    The thesis pooled the layer's input instead (SPEC §2); we pool what the convolution made.
    Weights truncated normal sigma 0.05, biases 0.05, as in the thesis.
    """

    def __init__(self, in_channels: int, filters: int, kernel: int = 3, seed: int | None = None,
                 name: str | None = None) -> None:
        super().__init__(name=name)
        with self.name_scope:
            from .initializers import truncated_normal

            self.w = tf.Variable(truncated_normal(0.05)([kernel, kernel, in_channels, filters], seed), name="w")
            self.b = tf.Variable(constant(0.05)([filters]), name="b")

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        y = tf.nn.conv2d(x, tf.cast(self.w, x.dtype), strides=1, padding="SAME")
        # pool(relu(y + b)) == relu(pool(y) + b): both are monotone, so pooling first is the same
        # layer with bias and ReLU (and their gradients) on a quarter of the pixels; ~5 % faster steps.
        y = tf.nn.max_pool2d(y, ksize=2, strides=2, padding="SAME")
        return tf.nn.relu(tf.nn.bias_add(y, tf.cast(self.b, x.dtype)))


class Dropout(tf.Module):
    """Dropout while training, identity otherwise (the thesis fed keep_prob=1 and never dropped).

    Given a [2] int seed it uses stateless dropout, so a seeded run (and a resumed one) draws
    the same masks; `salt` keeps two dropout layers in one model from sharing masks.
    """

    def __init__(self, rate: float, salt: int = 0, name: str | None = None) -> None:
        super().__init__(name=name)
        self.rate = float(rate)
        self.salt = salt

    def __call__(self, x: tf.Tensor, training: bool, seed: tf.Tensor | None = None) -> tf.Tensor:
        if not training or self.rate <= 0:
            return x
        if seed is None:
            return tf.nn.dropout(x, rate=self.rate)
        seed = tf.cast(seed, tf.int64) + tf.constant([0, self.salt * 1_000_003], tf.int64)
        return tf.nn.experimental.stateless_dropout(x, rate=self.rate, seed=seed)


class InputScaling(tf.Module):
    """(x - mean) / std with statistics of the training inputs, stored in the model (not trained).

    Starts as the identity (mean 0, std 1); `fit` sets it. A constant input (std 0) keeps std 1,
    as scikit-learn's StandardScaler does. `per_feature_std=False` divides by one std over all
    elements (for images, whose flat borders would otherwise be blown up).
    """

    def __init__(self, shape: list[int], per_feature_std: bool = True, name: str | None = "scaling") -> None:
        super().__init__(name=name)
        self.per_feature_std = per_feature_std
        with self.name_scope:
            self.feature_mean = tf.Variable(tf.zeros(shape), trainable=False, name="feature_mean")
            self.feature_std = tf.Variable(tf.ones(shape), trainable=False, name="feature_std")

    def fit(self, x: np.ndarray) -> None:
        """Mean and std over the first axis of training inputs [N, *shape]."""
        x = np.asarray(x, np.float64)
        mean = x.mean(axis=0)
        if self.per_feature_std:
            std = x.std(axis=0)
        else:
            std = np.full(mean.shape, (x - mean).std())
        std = np.where(std > 1e-8, std, 1.0)
        self.feature_mean.assign(mean.astype(np.float32))
        self.feature_std.assign(std.astype(np.float32))

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return (x - tf.cast(self.feature_mean, x.dtype)) / tf.cast(self.feature_std, x.dtype)


BATCH_NORM_EPSILON = 1e-3  # tf.layers.batch_normalization's default, which the thesis used


class BatchNorm(tf.Module):
    """Batch normalization over the batch axis: batch statistics while training, moving averages otherwise.

    gamma 1, beta 0, momentum 0.99, epsilon 1e-3: tf.layers.batch_normalization's defaults,
    which the thesis used (without its training flag, which we pass).
    """

    def __init__(self, size: int, momentum: float = 0.99, epsilon: float = BATCH_NORM_EPSILON,
                 name: str | None = None) -> None:
        super().__init__(name=name)
        self.momentum = momentum
        self.epsilon = epsilon
        with self.name_scope:
            self.gamma = tf.Variable(ones_like_init([size]), name="gamma")
            self.beta = tf.Variable(tf.zeros([size]), name="beta")
            # ON_READ + MEAN: each replica keeps its own statistics, read back as their mean.
            self.moving_mean = tf.Variable(
                tf.zeros([size]), trainable=False, name="moving_mean",
                synchronization=tf.VariableSynchronization.ON_READ, aggregation=tf.VariableAggregation.MEAN)
            self.moving_variance = tf.Variable(
                ones_like_init([size]), trainable=False, name="moving_variance",
                synchronization=tf.VariableSynchronization.ON_READ, aggregation=tf.VariableAggregation.MEAN)

    def __call__(self, x: tf.Tensor, training: bool) -> tf.Tensor:
        if training:
            mean, variance = tf.nn.moments(tf.cast(x, tf.float32), axes=[0])
            decay = 1.0 - self.momentum
            self.moving_mean.assign_sub((self.moving_mean - mean) * decay)
            self.moving_variance.assign_sub((self.moving_variance - variance) * decay)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        y = tf.nn.batch_normalization(
            tf.cast(x, tf.float32), mean, variance, self.beta, self.gamma, self.epsilon)
        return tf.cast(y, x.dtype)
