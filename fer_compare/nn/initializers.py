"""The thesis's initializers, each a function (shape, seed) -> tensor."""

from __future__ import annotations

import math
from collections.abc import Callable

import tensorflow as tf

Initializer = Callable[[list[int], int | None], tf.Tensor]


def truncated_normal(stddev: float = 0.05) -> Initializer:
    """tf.random.truncated_normal(stddev=0.05): the thesis's conv and hidden-FC weights."""
    def init(shape: list[int], seed: int | None = None) -> tf.Tensor:
        return tf.random.stateless_truncated_normal(shape, seed=_pair(seed), stddev=stddev)
    return init


def constant(value: float) -> Initializer:
    """A constant: the thesis's CNN biases are 0.05."""
    def init(shape: list[int], seed: int | None = None) -> tf.Tensor:
        return tf.fill(shape, tf.constant(value, tf.float32))
    return init


def zeros() -> Initializer:
    """Zeros: the thesis's FNN biases (tf.zeros_initializer)."""
    return constant(0.0)


def xavier_uniform() -> Initializer:
    """Glorot & Bengio (2010) uniform, as tf.contrib.layers.xavier_initializer (uniform=True).

    Limit sqrt(6 / (fan_in + fan_out)); for a 1-D shape [n] TF1 took fan_in = fan_out = n,
    which is how the thesis initialised its output biases.
    """
    def init(shape: list[int], seed: int | None = None) -> tf.Tensor:
        if len(shape) == 1:
            fan_in = fan_out = shape[0]
        else:
            receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
            fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return tf.random.stateless_uniform(shape, seed=_pair(seed), minval=-limit, maxval=limit)
    return init


def _pair(seed: int | None) -> tuple[int, int]:
    if seed is None:
        seed = int(tf.random.uniform([], 0, 2**31 - 1, dtype=tf.int64))
    return (seed, 0x5EED)


def ones_like_init(shape: list[int]) -> tf.Tensor:
    """Ones: batch norm's initial scale and variance."""
    return tf.ones(shape)
