"""A ReLU stack's forward pass for one input that reads only the weight rows its nonzeros select.

The gradient FNN's input is a masked, clipped Laplacian (about 3 pixels in 4 are zero) and about
half of its 12000 hidden ReLUs are zero for any face. A dense matrix-vector product reads all
470 MB of weights per frame; row i of a weight matrix only matters when input i is nonzero, so
this reads about a third of them, with a small Numba kernel (NumPy and SciPy have no product
that skips rows at memory speed). The result is the dense product's, up to float32 summation
order (checked against the model on probe inputs before use).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numba
import numpy as np


def quantize_rows(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 rows and one float32 scale per row (max |row| / 127): w ~ q * scale[:, None].

    Per row, because the kernel reads whole rows: the scale folds into the row's input value, so
    the product needs no extra multiplication per weight.
    """
    scale = np.abs(w).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    q = np.empty(w.shape, np.int8)
    for r0 in range(0, len(w), 1024):  # in slices: no float temporary of the whole matrix
        np.rint(w[r0:r0 + 1024] / scale[r0:r0 + 1024, None], out=q[r0:r0 + 1024], casting="unsafe")
    return q, scale.astype(np.float32)


class SparseReluStack:
    """relu(x W1 + b1) ... -> x Wn + bn -> softmax, for one input row at a time.

    Each layer is (weight blocks, bias): the blocks hold consecutive rows of W, top to bottom
    (one block for a plain Dense layer, several for RowBlockedDense). `precision` "int8" keeps
    an int8 copy of each row with a float32 scale per row (`quantize_rows`): a quarter of the
    bytes to read per face, at the cost of probabilities that differ from float32's (measured in
    benchmarks/BENCHMARKS.md); "float32" uses the given weights themselves. `scaling` is an input
    standardization (mean, std) in front of the first layer: since ((x - m) / s) W + b equals
    (x / s) W + (b - (m / s) W), the input keeps its zeros and the weights are not copied.
    """

    def __init__(self, layers: Sequence[tuple[Sequence[np.ndarray], np.ndarray]], threads: int | None = None,
                 precision: str = "float32", scaling: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        if precision not in ("float32", "int8"):
            raise ValueError(f"precision: float32 or int8, not {precision!r}")
        self.precision = precision
        self.inverse_std = None
        self.layers = []
        for blocks, b in layers:
            blocks = [np.ascontiguousarray(w, np.float32) for w in blocks]
            starts = np.cumsum([0] + [len(w) for w in blocks])
            b = np.asarray(b, np.float32)
            if scaling is not None and not self.layers:  # the first layer, with its float32 weights
                mean, std = (np.asarray(a, np.float32).ravel() for a in scaling)
                shifted = mean / std
                b = b - sum(shifted[lo:hi] @ w for w, lo, hi in zip(blocks, starts[:-1], starts[1:], strict=True))
                self.inverse_std = (1.0 / std).astype(np.float32)
            scales = None
            if precision == "int8":
                pairs = [quantize_rows(w) for w in blocks]
                blocks = [q for q, _ in pairs]
                scales = np.concatenate([s for _, s in pairs])
            typed = numba.typed.List(blocks)  # float32: views of the same weights, no copy
            self.layers.append((typed, starts, blocks[0].shape[1], b.astype(np.float32), scales))
        self.threads = threads or max(1, min(4, len(os.sched_getaffinity(0)), numba.config.NUMBA_NUM_THREADS))

    def _rows_times(self, v: np.ndarray, blocks: numba.typed.List, starts: np.ndarray, width: int,
                    scales: np.ndarray | None = None) -> np.ndarray:
        """v @ W for W = the blocks stacked, touching only the rows where v is nonzero."""
        rows = np.flatnonzero(v)
        block = np.searchsorted(starts, rows, side="right") - 1
        out = np.zeros(width, np.float32)
        values = v[rows] if scales is None else v[rows] * scales[rows]
        _picked_rows_times(blocks, block.astype(np.int64), (rows - starts[block]).astype(np.int64), values,
                           self.threads, out)
        return out

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Logits [classes] for one flat input [inputs]."""
        v = np.asarray(x, np.float32).ravel()
        if self.inverse_std is not None:
            v = v * self.inverse_std
        for i, (blocks, starts, width, b, scales) in enumerate(self.layers):
            v = self._rows_times(v, blocks, starts, width, scales) + b
            if i < len(self.layers) - 1:
                np.maximum(v, 0.0, out=v)
        return v

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities [N, classes] for inputs [N, inputs], one row at a time."""
        out = np.stack([self.logits(row) for row in np.asarray(x, np.float32)])
        out -= out.max(axis=1, keepdims=True)
        np.exp(out, out=out)
        return out / out.sum(axis=1, keepdims=True)


# Compiled once per machine (cache=True keeps it in __pycache__ or Numba's user cache). Only
# 'contract' (fused multiply-add) is allowed among the fast-math flags: no reassociation, no
# NaN/Inf assumptions, so a broken weight still shows up as NaN.
@numba.njit(parallel=True, cache=True, nogil=True, boundscheck=False, fastmath={"contract"})
def _picked_rows_times(blocks: numba.typed.List, block: np.ndarray, row: np.ndarray, value: np.ndarray, parts: int,
                       out: np.ndarray) -> None:
    """out += sum over j of value[j] * blocks[block[j]][row[j], :]: `parts` threads, each over its share of rows.

    Blocks of float32 or int8 rows (Numba compiles one version for each).

    Eight rows are added per pass over a thread's running sum, so the sum is loaded and stored an
    eighth as often; the weights are then read at close to the memory bandwidth.
    """
    n = out.shape[0]
    m = value.shape[0]
    sums = np.zeros((parts, n), np.float32)
    for p in numba.prange(parts):
        s = sums[p]
        j, hi = m * p // parts, m * (p + 1) // parts
        while j + 8 <= hi:
            a0, a1, a2, a3 = value[j], value[j + 1], value[j + 2], value[j + 3]
            a4, a5, a6, a7 = value[j + 4], value[j + 5], value[j + 6], value[j + 7]
            w0, w1 = blocks[block[j]][row[j]], blocks[block[j + 1]][row[j + 1]]
            w2, w3 = blocks[block[j + 2]][row[j + 2]], blocks[block[j + 3]][row[j + 3]]
            w4, w5 = blocks[block[j + 4]][row[j + 4]], blocks[block[j + 5]][row[j + 5]]
            w6, w7 = blocks[block[j + 6]][row[j + 6]], blocks[block[j + 7]][row[j + 7]]
            for k in range(n):  # np.float32(): a no-op for float32 rows, int8 rows widened (not to float64)
                s[k] += ((a0 * np.float32(w0[k]) + a1 * np.float32(w1[k])) + (
                    a2 * np.float32(w2[k]) + a3 * np.float32(w3[k]))) + (
                    (a4 * np.float32(w4[k]) + a5 * np.float32(w5[k])) + (
                        a6 * np.float32(w6[k]) + a7 * np.float32(w7[k])))
            j += 8
        while j < hi:
            a, w = value[j], blocks[block[j]][row[j]]
            for k in range(n):
                s[k] += a * np.float32(w[k])
            j += 1
    for p in range(parts):
        out += sums[p]
