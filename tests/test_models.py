"""The three networks: output shapes, parameter counts, Adam against a NumPy reference, the losses."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from fer_compare.config import DEFAULTS, model_config
from fer_compare.emotions import EMOTIONS, THESIS_SIX
from fer_compare.nn.adam import Adam
from fer_compare.nn.losses import cross_entropy, svm_l2
from fer_compare.nn.models import GradientFNN, GrayscaleCNN, LandmarkFNN, build_model, count_parameters


def test_cnn_shapes_follow_the_thesis():
    model = GrayscaleCNN(list(EMOTIONS))
    x = tf.zeros([3, 70, 70, 1])
    shapes = []
    for conv in model.convs:
        x = conv(x)
        shapes.append(x.shape.as_list()[1:])
    assert shapes == [[35, 35, 32], [18, 18, 64], [9, 9, 128]]
    assert model(tf.zeros([3, 70, 70, 1]), training=True).shape == (3, 8)
    assert model.fc1.w.shape == (9 * 9 * 128, 128) and model.fc2.w.shape == (128, 256)
    assert float(model.regularization()) > 0


def test_landmark_fnn_shapes():
    model = LandmarkFNN(list(EMOTIONS))
    assert model(tf.zeros([5, 4, 42])).shape == (5, 8)
    sub = model.subnets[0]
    assert [layer.w.shape.as_list() for layer in sub.layers] == [[42, 42], [42, 256], [256, 256]]
    assert model.fc1.w.shape == (256, 1024) and model.fc2.w.shape == (1024, 1024)


def test_gradient_fnn_parameter_count():
    model = GradientFNN(list(THESIS_SIX))
    assert count_parameters(model) == 4900 * 12000 + 12000 + 12000 * 4900 + 4900 + 4900 * 6 + 6
    assert model(tf.zeros([2, 4900])).shape == (2, 6)


def test_models_are_built_from_config():
    for kind in ("cnn", "landmark_fnn"):
        m = model_config(DEFAULTS, kind)
        assert build_model(kind, ["a", "b"], m, 0)(tf.zeros([1, *build_model(kind, ["a", "b"], m, 0).input_shape])
                                                    ).shape == (1, 2)


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


def test_losses_by_hand():
    logits = tf.constant([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    labels = tf.constant([0, 2])
    p0 = np.exp(2) / (np.exp(2) + 2)
    assert float(cross_entropy(logits, labels)) == pytest.approx((-np.log(p0) + np.log(3)) / 2, rel=1e-5)
    # sample 0: margins 1 + 0 - 2 < 0 -> 0; sample 1: two wrong classes at margin 1 -> 1 + 1
    assert float(svm_l2(logits, labels)) == pytest.approx(1.0)
