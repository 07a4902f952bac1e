"""The three networks: output shapes and parameter counts at the thesis's sizes, and built from config."""

from __future__ import annotations

import tensorflow as tf

from fer_compare.emotions import EMOTIONS, THESIS_SIX
from fer_compare.nn.models import GradientFNN, GrayscaleCNN, LandmarkFNN, build_model, count_parameters
from fer_compare.settings import Settings


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
        m, size = Settings().hyper(kind), Settings().nn.input
        assert build_model(kind, ["a", "b"], m, size, 0)(
            tf.zeros([1, *build_model(kind, ["a", "b"], m, size, 0).input_shape])).shape == (1, 2)
