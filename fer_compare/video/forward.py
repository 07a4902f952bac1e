"""Which forward pass runs a model on a frame's faces: a one-face fast path (sparse or NumPy) when it agrees
with the serving signature, the signature itself otherwise."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..nn.numpy_forward import NUMPY_KINDS, Forward, numpy_forward
from ..nn.sparse import SparseReluStack

if TYPE_CHECKING:  # TensorFlow loads only when a model does
    from ..checkpoints import LoadedModel


def matches_signature(forward: Callable[[np.ndarray], np.ndarray], model: LoadedModel, atol: float = 1e-5) -> bool:
    """Whether `forward` gives the serving signature's probabilities on probe inputs (dense, sparse, zero)."""
    rng = np.random.default_rng(0)
    dense = rng.random([1, *model.input_shape], dtype=np.float32)
    probes = [dense, dense * (rng.random(dense.shape) < 0.3), np.zeros_like(dense)]
    return all(np.allclose(forward(p), model.predict(p), atol=atol) for p in probes)


def sparse_forward(model: LoadedModel, precision: str = "float32") -> Callable[[np.ndarray], np.ndarray] | None:
    """gradient_fnn's probabilities reading only the weight rows a frame's face needs (nn/sparse.py), or None.

    One face per frame is the live case; several at once go through the signature, which reads
    the weights once for all of them. `precision` "int8" (video_precision) reads int8 rows with
    per-row scales instead, through the same kernel, checked in float32 against the signature first.
    """
    stack = model.dense_stack()
    if stack is None:
        return None
    # Views of the signature's own weights (Tensor.numpy() would copy 470 MB).
    layers = [([np.asarray(w.value()) for w in blocks], np.asarray(b.value())) for blocks, b in stack]
    scaling = model.input_scaling()
    forward = _for_one_face(SparseReluStack(layers, scaling=scaling), model)
    if forward is None or precision == "float32":
        return forward
    one = SparseReluStack(layers, precision=precision, scaling=scaling)
    return lambda x: one(x) if len(x) == 1 else model.predict(x)


def one_face_numpy_forward(model: LoadedModel) -> Callable[[np.ndarray], np.ndarray] | None:
    """The CNN's or landmark FNN's probabilities for one face in NumPy (nn/numpy_forward.py), or None.

    For one face the signature's call costs more than its math; several faces go through the
    signature in one batch.
    """
    if model.kind not in NUMPY_KINDS:
        return None
    one = numpy_forward(model.kind, model.weights())
    return None if one is None else _for_one_face(one, model)


def _for_one_face(one: Forward, model: LoadedModel) -> Forward | None:
    """`one` for a frame with one face, the signature for several; None if `one` disagrees with the signature."""
    if not matches_signature(one, model):
        return None

    def forward(x: np.ndarray) -> np.ndarray:
        return one(x) if len(x) == 1 else model.predict(x)

    return forward
