"""The sparse ReLU stack against NumPy's dense forward pass."""

from __future__ import annotations

import numpy as np
import pytest

from fer_compare.nn.sparse import SparseReluStack, quantize_rows


def dense_probabilities(layers: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    for i, (w, b) in enumerate(layers):
        x = x @ w + b
        if i < len(layers) - 1:
            x = np.maximum(x, 0)
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.fixture(scope="module")
def layers() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    sizes = [900, 1200, 500, 6]
    return [(rng.normal(0, (2 / sizes[i]) ** 0.5, (sizes[i], sizes[i + 1])).astype(np.float32),
             rng.normal(0, 0.1, sizes[i + 1]).astype(np.float32)) for i in range(3)]


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_sparse_stack_equals_the_dense_forward(layers, threads):
    rng = np.random.default_rng(1)
    x = rng.random((4, 900), dtype=np.float32)
    x[0] *= rng.random(900) < 0.25  # a masked Laplacian's share of nonzero pixels
    x[1] = 0
    x[2, :10] = 0
    stack = SparseReluStack([([w], b) for w, b in layers], threads=threads)
    got = stack(x)
    np.testing.assert_allclose(got, dense_probabilities(layers, x), atol=1e-6)
    assert got.shape == (4, 6) and np.allclose(got.sum(1), 1)


@pytest.mark.parametrize("threads", [1, 2])
def test_row_blocks_give_the_same_product(layers, threads):
    """A layer stored as uneven blocks of rows (RowBlockedDense) multiplies like the whole matrix."""
    rng = np.random.default_rng(3)
    x = rng.random((3, 900), dtype=np.float32) * (rng.random((3, 900)) < 0.25)
    x[2, :7] = 1.0  # picks that run across a block's last rows into the next block
    blocked = [(np.array_split(w, 7), b) for w, b in layers[:2]] + [([layers[2][0]], layers[2][1])]
    stack = SparseReluStack(blocked, threads=threads)
    np.testing.assert_allclose(stack(x), dense_probabilities(layers, x), atol=1e-6)


def test_a_nan_weight_shows_in_the_output(layers):
    """The kernel may fuse multiply-adds but may not assume finite numbers: a broken weight is not hidden."""
    (w1, b1), *rest = layers
    broken = w1.copy()
    broken[5, 3] = np.nan
    x = np.zeros((1, 900), np.float32)
    x[0, 5] = 1.0
    stack = SparseReluStack([([broken], b1)] + [([w], b) for w, b in rest], threads=2)
    assert np.isnan(stack(x)).all()
    x[0, 5], x[0, 6] = 0.0, 1.0  # the broken row is not picked: a finite answer
    assert np.isfinite(stack(x)).all()


def test_input_standardization_is_folded_into_the_first_bias(layers):
    """((x - m) / s) through the stack: the input keeps its zeros and the answer is the dense one's."""
    rng = np.random.default_rng(4)
    mean = rng.normal(0, 0.3, 900).astype(np.float32)
    std = rng.uniform(0.5, 2.0, 900).astype(np.float32)
    x = rng.random((3, 900), dtype=np.float32) * (rng.random((3, 900)) < 0.25)
    blocked = [(np.array_split(layers[0][0], 4), layers[0][1])] + [([w], b) for w, b in layers[1:]]
    stack = SparseReluStack(blocked, threads=2, scaling=(mean, std))
    np.testing.assert_allclose(stack(x), dense_probabilities(layers, (x - mean) / std), atol=1e-5)
    assert np.array_equal(np.flatnonzero(x[0] * stack.inverse_std), np.flatnonzero(x[0]))


@pytest.mark.parametrize("threads", [1, 2])
def test_int8_rows_compute_the_dequantized_product(layers, threads):
    """int8 rows times their per-row scales: the dense product of those dequantized weights, in blocks too."""
    rng = np.random.default_rng(4)
    x = rng.random((3, 900), dtype=np.float32) * (rng.random((3, 900)) < 0.25)
    blocked = [(np.array_split(w, 5), b) for w, b in layers[:2]] + [([layers[2][0]], layers[2][1])]
    stack = SparseReluStack(blocked, threads=threads, precision="int8")
    dequantized = []
    for w, b in layers:
        q, scale = quantize_rows(w)
        assert q.dtype == np.int8 and np.abs(q).max() == 127
        assert np.abs(q * scale[:, None] - w).max() <= scale.max() / 2 + 1e-7  # rounding: half a step
        dequantized.append((q * scale[:, None], b))
    np.testing.assert_allclose(stack(x), dense_probabilities(dequantized, x), atol=1e-5)
    assert (stack(x).argmax(1) == dense_probabilities(layers, x).argmax(1)).all()
