"""Adam from TensorFlow's fused ResourceApplyAdam, step by step against a NumPy reference."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from fer_compare.nn.adam import Adam


def test_adam_matches_the_numpy_reference():
    w = tf.Variable([[1.0, -2.0], [0.5, 3.0]])
    opt = Adam([w], learning_rate=0.1)
    ref_w, m, v = w.numpy().copy(), np.zeros((2, 2)), np.zeros((2, 2))
    rng = np.random.default_rng(0)
    for t in range(1, 6):
        g = rng.normal(size=(2, 2)).astype(np.float32)
        opt.apply([tf.constant(g)])
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        lr_t = 0.1 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        ref_w -= lr_t * m / (np.sqrt(v) + 1e-8)
    np.testing.assert_allclose(w.numpy(), ref_w, rtol=1e-5)
    assert int(opt.iterations.numpy()) == 5
