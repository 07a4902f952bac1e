"""Each hand-built layer against a NumPy reference on random inputs."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from fer_compare.nn.layers import BatchNorm, Conv2DMaxPool, Dense, Dropout, RowBlockedDense

rng = np.random.default_rng(0)


def test_dense_matches_numpy_and_creates_variables_once():
    layer = Dense(5, 3, "relu", seed=1)
    x = rng.normal(size=(4, 5)).astype(np.float32)
    want = np.maximum(x @ layer.w.numpy() + layer.b.numpy(), 0)
    np.testing.assert_allclose(layer(tf.constant(x)).numpy(), want, rtol=1e-5, atol=1e-6)
    layer(tf.constant(x))
    assert len(layer.variables) == 2
    assert layer.l2_loss().numpy() == np.float32((layer.w.numpy() ** 2).sum() / 2)


def test_row_blocked_dense_is_dense_cut_into_rows():
    whole = Dense(10, 4, "relu", seed=3)
    blocked = RowBlockedDense(10, 4, 3, "relu", seed=3)
    assert [w.shape.as_list() for w in blocked.blocks] == [[3, 4], [4, 4], [3, 4]]  # rows 0-3, 3-7, 7-10
    np.testing.assert_array_equal(np.concatenate([w.numpy() for w in blocked.blocks]), whole.w.numpy())
    x = tf.constant(rng.normal(size=(5, 10)).astype(np.float32))
    np.testing.assert_allclose(blocked(x).numpy(), whole(x).numpy(), rtol=1e-6, atol=1e-6)
    assert blocked.l2_loss().numpy() == pytest.approx(whole.l2_loss().numpy(), rel=1e-6)
    assert len(blocked.trainable_variables) == 4

def test_conv_then_pool_of_the_activated_output():
    layer = Conv2DMaxPool(2, 3, kernel=3, seed=2)
    x = rng.normal(size=(2, 7, 7, 2)).astype(np.float32)
    w, b = layer.w.numpy(), layer.b.numpy()
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    conv = np.zeros((2, 7, 7, 3), np.float32)
    for i in range(7):
        for j in range(7):
            conv[:, i, j, :] = np.einsum("nhwc,hwcf->nf", padded[:, i:i + 3, j:j + 3, :], w)
    act = np.maximum(conv + b, 0)
    act = np.pad(act, ((0, 0), (0, 1), (0, 1), (0, 0)), constant_values=-np.inf)  # SAME pooling: 7 -> 4
    pooled = act.reshape(2, 4, 2, 4, 2, 3).max(axis=(2, 4))
    np.testing.assert_allclose(layer(tf.constant(x)).numpy(), pooled, rtol=1e-4, atol=1e-5)


def test_pooling_before_bias_and_relu_gives_the_same_gradients():
    """The layer pools first for speed; its gradients equal those of conv -> bias -> ReLU -> pool."""
    layer = Conv2DMaxPool(2, 3, kernel=3, seed=4)
    x = tf.constant(rng.normal(size=(2, 9, 9, 2)).astype(np.float32))
    weights = tf.constant(rng.normal(size=(2, 5, 5, 3)).astype(np.float32))

    def activate_then_pool() -> tf.Tensor:
        y = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, layer.w, 1, "SAME"), layer.b))
        return tf.nn.max_pool2d(y, 2, 2, "SAME")

    grads = []
    for forward in (lambda: layer(x), activate_then_pool):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(forward() * weights)
        grads.append(tape.gradient(loss, [layer.w, layer.b]))
    for ours, reference in zip(*grads, strict=True):
        np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-5, atol=1e-5)


def test_dropout_acts_only_while_training_and_keeps_the_mean():
    layer = Dropout(0.5)
    x = tf.ones([200, 100])
    assert (layer(x, training=False).numpy() == 1).all()
    y = layer(x, training=True, seed=tf.constant([1, 2], tf.int64)).numpy()
    assert 0.4 < (y == 0).mean() < 0.6 and set(np.unique(y)) <= {0.0, 2.0}
    again = layer(x, training=True, seed=tf.constant([1, 2], tf.int64)).numpy()
    assert (y == again).all()  # stateless: the same seed draws the same mask


def test_batch_norm_training_and_inference_modes():
    bn = BatchNorm(4, momentum=0.9, epsilon=1e-3)
    x = rng.normal(3.0, 2.0, size=(64, 4)).astype(np.float32)
    y = bn(tf.constant(x), training=True).numpy()
    want = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 + 0.1 * x.var(0), rtol=1e-5)
    inference = bn(tf.constant(x), training=False).numpy()
    want = (x - bn.moving_mean.numpy()) / np.sqrt(bn.moving_variance.numpy() + 1e-3)
    np.testing.assert_allclose(inference, want, rtol=1e-4, atol=1e-4)
