"""The NumPy forward passes of the CNN and the landmark FNN against the tf.Module models they mirror."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from fer_compare.nn.models import GradientFNN, GrayscaleCNN, LandmarkFNN
from fer_compare.nn.numpy_forward import conv_same, max_pool_2x2_same, numpy_forward


def weights_of(model: tf.Module) -> dict[str, np.ndarray]:
    """Variable path inside the model -> value, as LoadedModel.weights names an export's variables."""
    return {v.name.split(":")[0].split("/", 1)[1]: v.numpy() for v in model.variables}


def model_probabilities(model: tf.Module, x: np.ndarray) -> np.ndarray:
    return tf.nn.softmax(model(tf.constant(x), training=False)).numpy()


@pytest.mark.parametrize("size, kernel", [((70, 70), 3), ((33, 20), 3), ((12, 17), 2), ((9, 9), 4)])
def test_convolution_and_pooling_equal_tensorflows(size, kernel):
    """SAME padding and SAME pooling with odd and even sizes and kernels (TF pads the extra pixel after)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(*size, 5)).astype(np.float32)
    w = rng.normal(size=(kernel, kernel, 5, 7)).astype(np.float32)
    expected = tf.nn.conv2d(x[None], w, strides=1, padding="SAME")
    np.testing.assert_allclose(conv_same(x, w), expected[0].numpy(), rtol=1e-5, atol=1e-5)
    pooled = tf.nn.max_pool2d(expected, ksize=2, strides=2, padding="SAME")[0].numpy()
    np.testing.assert_array_equal(max_pool_2x2_same(expected[0].numpy()), pooled)


def test_the_cnn_in_numpy_equals_the_model_with_batch_norm_statistics():
    model = GrayscaleCNN(["neutral", "happy", "sad"], (30, 26), filters=[4, 6, 8], hidden=[16, 12], seed=3)
    rng = np.random.default_rng(1)
    # Moving averages away from their start (0 and 1), as after training.
    model.batch_norm.moving_mean.assign(rng.normal(size=16).astype(np.float32))
    model.batch_norm.moving_variance.assign(rng.uniform(0.2, 3.0, 16).astype(np.float32))
    x = rng.random((3, 26, 30, 1), dtype=np.float32)
    forward = numpy_forward("cnn", weights_of(model))
    np.testing.assert_allclose(forward(x), model_probabilities(model, x), atol=1e-6)


def test_the_landmark_fnn_in_numpy_equals_the_model_with_its_standardisation():
    model = LandmarkFNN(["neutral", "happy"], subnet=[20, 16, 12], hidden=[32, 24], seed=5)
    rng = np.random.default_rng(2)
    features = (rng.normal(size=(50, 4, 42)) * [[40.0], [40.0], [25.0], [0.5]]).astype(np.float32)
    model.set_standardization(features)
    forward = numpy_forward("landmark_fnn", weights_of(model))
    np.testing.assert_allclose(forward(features[:4]), model_probabilities(model, features[:4]), atol=1e-6)


def test_other_models_and_unknown_layouts_get_none():
    assert numpy_forward("gradient_fnn", weights_of(GradientFNN(["a", "b"], (10, 10), hidden=[8]))) is None
    cnn = weights_of(GrayscaleCNN(["a", "b"], (20, 20), filters=[4], hidden=[8, 8]))
    del cnn["batch_norm/gamma"]
    assert numpy_forward("cnn", cnn) is None
