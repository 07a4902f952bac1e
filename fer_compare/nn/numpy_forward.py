"""The CNN's and the landmark FNN's inference for one input in NumPy, from an export's weights.

In the video stage a frame's face is a batch of one, and calling a SavedModel signature then
costs more than its arithmetic: 1.5-2.5 ms for the landmark FNN's 1.6 M weights and 3-5 ms for
the CNN on this 2-core machine (a call of an empty tf.function alone takes 0.4 ms, and each
oneDNN op has its own start-up). The same layers in NumPy need a fraction of that
(benchmarks/BENCHMARKS.md). The math is the models' own (nn/models.py) in inference mode: no
dropout, batch norm from its moving averages. Results equal the signature's up to float32
rounding; the video stage checks them against it on probe inputs before use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from .layers import BATCH_NORM_EPSILON

Forward = Callable[[np.ndarray], np.ndarray]


def numpy_forward(kind: str, weights: Mapping[str, np.ndarray]) -> Forward | None:
    """Probabilities [N, classes] for inputs [N, ...], one input at a time; None for other kinds or layouts.

    `weights` maps a variable's path inside the model ("conv1/w", "x_subnet/fc2/b") to its value.
    """
    if kind not in _BUILDERS:
        return None
    w = {k: np.asarray(v, np.float32) for k, v in weights.items()}
    try:
        one = _BUILDERS[kind](w)
    except KeyError:  # a layout this module does not know
        return None
    if one is None:
        return None

    def forward(x: np.ndarray) -> np.ndarray:
        logits = np.stack([one(row) for row in np.asarray(x, np.float32)])
        return softmax(logits)

    return forward


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    return z / z.sum(axis=1, keepdims=True)


def _numbered(w: Mapping[str, np.ndarray], prefix: str) -> list[str]:
    """'conv1', 'conv2', ... as far as they go."""
    names = []
    while f"{prefix}{len(names) + 1}/w" in w:
        names.append(f"{prefix}{len(names) + 1}")
    return names


def _dense(x: np.ndarray, w: Mapping[str, np.ndarray], name: str, relu: bool) -> np.ndarray:
    y = x @ w[f"{name}/w"] + w[f"{name}/b"]
    return np.maximum(y, 0.0, out=y) if relu else y


def conv_same(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """tf.nn.conv2d(x, kernel, strides=1, padding="SAME") for one image [H, W, C]: im2col and one matmul."""
    kh, kw, c, f = kernel.shape
    top, left = (kh - 1) // 2, (kw - 1) // 2  # SAME puts the odd pixel of padding at the bottom / right
    padded = np.pad(x, ((top, kh - 1 - top), (left, kw - 1 - left), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(0, 1))  # [H, W, C, kh, kw]
    columns = windows.transpose(0, 1, 3, 4, 2).reshape(x.shape[0] * x.shape[1], kh * kw * c)
    return (columns @ kernel.reshape(kh * kw * c, f)).reshape(x.shape[0], x.shape[1], f)


def max_pool_2x2_same(x: np.ndarray) -> np.ndarray:
    """tf.nn.max_pool2d(x, 2, 2, "SAME") for [H, W, F]: an odd last row or column is pooled alone."""
    h, w, f = x.shape
    if h % 2 or w % 2:
        x = np.pad(x, ((0, h % 2), (0, w % 2), (0, 0)), constant_values=-np.inf)
    return x.reshape(x.shape[0] // 2, 2, x.shape[1] // 2, 2, f).max(axis=(1, 3))


def _cnn(w: Mapping[str, np.ndarray]) -> Callable[[np.ndarray], np.ndarray] | None:
    convs = _numbered(w, "conv")
    if not convs or not all(k in w for k in ("fc1/w", "fc2/w", "output/w", "batch_norm/moving_mean")):
        return None
    # batch norm in inference mode, folded into one scale and shift as tf.nn.batch_normalization computes it
    scale = w["batch_norm/gamma"] / np.sqrt(w["batch_norm/moving_variance"] + np.float32(BATCH_NORM_EPSILON))
    shift = w["batch_norm/beta"] - w["batch_norm/moving_mean"] * scale
    mean, std = w.get("scaling/feature_mean"), w.get("scaling/feature_std")  # layers.InputScaling, if standardized

    def one(image: np.ndarray) -> np.ndarray:
        x = image if mean is None else (image - mean) / std
        for name in convs:
            # pool, then bias and ReLU: layers.Conv2DMaxPool's order (the same function as the other way round)
            x = max_pool_2x2_same(conv_same(x, w[f"{name}/w"])) + w[f"{name}/b"]
            np.maximum(x, 0.0, out=x)
        x = _dense(x.reshape(-1), w, "fc1", relu=True) * scale + shift
        return _dense(_dense(x, w, "fc2", relu=True), w, "output", relu=False)

    return one


def _landmark_fnn(w: Mapping[str, np.ndarray]) -> Callable[[np.ndarray], np.ndarray] | None:
    subnets = [f"{row}_subnet" for row in ("x", "y", "length", "angle")]
    layers = [name.rsplit("/", 1)[1] for name in _numbered(w, f"{subnets[0]}/fc")]  # fc1, fc2, ...
    if not layers or not all(f"{s}/{layer}/w" in w for s in subnets for layer in layers):
        return None
    mean, std = w["feature_mean"], w["feature_std"]

    def one(features: np.ndarray) -> np.ndarray:
        x = (features - mean) / std
        summed = 0.0
        for i, subnet in enumerate(subnets):
            h = x[i]
            for j, layer in enumerate(layers):
                h = _dense(h, w, f"{subnet}/{layer}", relu=j < len(layers) - 1)
            summed = summed + h
        h = _dense(_dense(summed, w, "connected1", relu=True), w, "connected2", relu=True)
        return _dense(h, w, "output", relu=False)

    return one


_BUILDERS = {"cnn": _cnn, "landmark_fnn": _landmark_fnn}
NUMPY_KINDS = tuple(_BUILDERS)  # the models written here
