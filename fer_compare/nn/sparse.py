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

try:  # The kernel behind `csr_matrix @ dense`; called directly it adds into an existing array.
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs
except ImportError:  # a SciPy that moved it: the public product, with a temporary per block
    _csr_matvecs = None


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
        picks, start = [], 0
        for w in blocks:
            part = v[start:start + len(w)]
            rows = np.flatnonzero(part).astype(np.int32)
            if len(rows):
                picks.append((part[rows], rows, w))
            start += len(w)
        shares = _equal_shares(picks, self.threads if self._pool is not None else 1)
        if not shares:
            return np.zeros(blocks[0].shape[1], np.float32)
        sums = [np.zeros(blocks[0].shape[1], np.float32) for _ in shares]
        if len(shares) == 1:
            _accumulate(shares[0], sums[0])
            return sums[0]
        # Each thread adds its rows into its own sum; SciPy's kernel releases the GIL.
        list(self._pool.map(_accumulate, shares, sums))
        return np.add.reduce(sums)

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


Pick = tuple[np.ndarray, np.ndarray, np.ndarray]  # (nonzero values, their row numbers, weight block)


def _equal_shares(picks: list[Pick], parts: int) -> list[list[Pick]]:
    """The picked rows of all blocks cut into `parts` runs of about equal row counts (a block may be cut)."""
    total = sum(len(rows) for _, rows, _ in picks)
    if total == 0:
        return []
    bounds = [round(total * k / parts) for k in range(parts + 1)]
    shares: list[list[Pick]] = [[] for _ in range(parts)]
    offset = 0
    for values, rows, w in picks:
        for k in range(parts):
            lo, hi = max(bounds[k], offset) - offset, min(bounds[k + 1], offset + len(rows)) - offset
            if lo < hi:
                shares[k].append((values[lo:hi], rows[lo:hi], w))
        offset += len(rows)
    return [share for share in shares if share]


def _accumulate(picks: list[Pick], out: np.ndarray) -> None:
    """out += sum over picks of values @ w[rows], in place: one pass over each picked row, no temporaries."""
    for values, rows, w in picks:
        if _csr_matvecs is not None:  # SciPy's own CSR kernel (what `csr @ dense` calls), without its wrapping
            _csr_matvecs(1, w.shape[0], w.shape[1], np.array([0, len(rows)], np.int32), rows, values, w, out)
        else:
            picked = scipy.sparse.csr_matrix((values, rows, [0, len(rows)]), shape=(1, w.shape[0]))
            out += np.asarray(picked @ w).ravel()
