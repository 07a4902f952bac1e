"""A ReLU stack's forward pass for one input that reads only the weight rows its nonzeros select.

The gradient FNN's input is a masked, clipped Laplacian (about 3 pixels in 4 are zero) and about
half of its 12000 hidden ReLUs are zero for any face. A dense matrix-vector product reads all
470 MB of weights per frame; row i of a weight matrix only matters when input i is nonzero, so
this reads about a third of them. The result is the dense product's, up to float32 summation
order (checked against the model on probe inputs before use).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse


class SparseReluStack:
    """relu(x W1 + b1) ... -> x Wn + bn -> softmax, for one input row at a time.

    Each layer is (weight blocks, bias): the blocks hold consecutive rows of W, top to bottom
    (one block for a plain Dense layer, several for RowBlockedDense).
    """

    def __init__(self, layers: Sequence[tuple[Sequence[np.ndarray], np.ndarray]], threads: int | None = None) -> None:
        self.layers = [([np.ascontiguousarray(w, np.float32) for w in blocks], np.asarray(b, np.float32))
                       for blocks, b in layers]
        self.threads = threads or max(1, min(4, len(os.sched_getaffinity(0))))
        # Row ranges are independent: scipy's product releases the GIL, so threads share the reading.
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="sparse-forward") if self.threads > 1 else None

    def _rows_times(self, v: np.ndarray, blocks: list[np.ndarray]) -> np.ndarray:
        """v @ W for W = the blocks stacked, touching only the rows where v is nonzero."""
        work, start = [], 0
        for w in blocks:
            part = v[start:start + len(w)]
            nonzero = np.flatnonzero(part)
            if len(blocks) == 1 and len(nonzero) >= 64 and self._pool is not None:
                work += [(part, rows, w) for rows in np.array_split(nonzero, self.threads)]
            elif len(nonzero):
                work.append((part, nonzero, w))
            start += len(w)
        if not work:
            return np.zeros(blocks[0].shape[1], np.float32)
        if self._pool is None or len(work) == 1:
            return _products(work)
        # One task per thread, each a run of items with about equal nonzero rows: a task per
        # block would cost more in hand-offs than the small blocks take to multiply.
        counts = np.cumsum([len(rows) for _, rows, _ in work])
        cuts = np.searchsorted(counts, counts[-1] * np.arange(1, self.threads) / self.threads)
        runs = [run for run in np.split(np.arange(len(work)), cuts) if len(run)]
        return sum(self._pool.map(lambda run: _products([work[i] for i in run]), runs))

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Logits [classes] for one flat input [inputs]."""
        v = np.asarray(x, np.float32).ravel()
        for i, (blocks, b) in enumerate(self.layers):
            v = self._rows_times(v, blocks) + b
            if i < len(self.layers) - 1:
                np.maximum(v, 0.0, out=v)
        return v

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities [N, classes] for inputs [N, inputs], one row at a time."""
        out = np.stack([self.logits(row) for row in np.asarray(x, np.float32)])
        out -= out.max(axis=1, keepdims=True)
        np.exp(out, out=out)
        return out / out.sum(axis=1, keepdims=True)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)


def _products(work: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray:
    return sum(_sparse_product(*item) for item in work)


def _sparse_product(v: np.ndarray, rows: np.ndarray, w: np.ndarray) -> np.ndarray:
    picked = scipy.sparse.csr_matrix((v[rows], rows, [0, len(rows)]), shape=(1, len(v)))
    return np.asarray(picked @ w).ravel()
