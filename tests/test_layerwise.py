"""The layer-wise step makes exactly the update that tape.gradient + Adam makes."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from fer_compare.nn.adam import Adam
from fer_compare.nn.layerwise import layerwise_train_step
from fer_compare.nn.losses import cross_entropy, svm_l2
from fer_compare.nn.models import GradientFNN


def batch(seed: int) -> tuple[tf.Tensor, tf.Tensor]:
    rng = np.random.default_rng(seed)
    return (tf.constant(rng.uniform(size=(8, 36)).astype(np.float32)),
            tf.constant(rng.integers(0, 3, 8).astype(np.int32)))


def steps(model: GradientFNN, reference: GradientFNN, loss_fn):
    """The layer-wise step on `model` and a tape over every variable + Adam on `reference`, both compiled."""
    opt_a, opt_b = Adam(model.trainable_variables, 0.01), Adam(reference.trainable_variables, 0.01)
    layerwise = tf.function(lambda x, y, s: layerwise_train_step(model, opt_a, x, y, loss_fn, s))

    @tf.function
    def tape(x, y, s):
        with tf.GradientTape() as t:
            loss = loss_fn(reference(x, training=True, seed=s), y)
        opt_b.apply(t.gradient(loss, reference.trainable_variables))
        return loss

    return layerwise, tape


@pytest.mark.parametrize("dropout, loss_fn", [(0.0, cross_entropy), (0.3, cross_entropy), (0.0, svm_l2)])
def test_layerwise_equals_the_tape(dropout, loss_fn):
    x, y = batch(0)
    a = GradientFNN(["a", "b", "c"], (6, 6), hidden=[20, 12], dropout=dropout, seed=1)
    b = GradientFNN(["a", "b", "c"], (6, 6), hidden=[20, 12], dropout=dropout, seed=1)
    step_a, step_b = steps(a, b, loss_fn)
    for t in range(3):
        s = tf.constant([7, t], tf.int64)
        la, lb = step_a(x, y, s), step_b(x, y, s)
        assert float(la) == pytest.approx(float(lb), rel=1e-5)
    for va, vb in zip(a.trainable_variables, b.trainable_variables, strict=True):
        np.testing.assert_allclose(va.numpy(), vb.numpy(), rtol=1e-5, atol=1e-6)


def test_row_blocked_layerwise_equals_the_whole_matrix_tape():
    """Row blocks applied one at a time make the update a tape over whole matrices makes."""
    x, y = batch(1)
    blocked = GradientFNN(["a", "b", "c"], (6, 6), hidden=[20, 12], seed=2, row_blocks=4)
    whole = GradientFNN(["a", "b", "c"], (6, 6), hidden=[20, 12], seed=2)
    step_a, step_b = steps(blocked, whole, cross_entropy)
    for t in range(3):
        s = tf.constant([7, t], tf.int64)
        assert float(step_a(x, y, s)) == pytest.approx(float(step_b(x, y, s)), rel=1e-5)
    for layer_a, layer_b in zip(blocked.hidden, whole.hidden, strict=True):
        assert len(layer_a.blocks) == 4
        np.testing.assert_allclose(np.concatenate([w.numpy() for w in layer_a.blocks]), layer_b.w.numpy(),
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(layer_a.b.numpy(), layer_b.b.numpy(), rtol=1e-5, atol=1e-6)
