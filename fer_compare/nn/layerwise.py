"""A memory-lean training step for a stack of dense layers: back-propagate one layer (or one row block
of it), update it, free its gradient."""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from .adam import Adam
from .layers import RowBlockedDense
from .models import GradientFNN


def layerwise_train_step(model: GradientFNN, optimizer: Adam, x: tf.Tensor, y: tf.Tensor,
                         loss_fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor], seed: tf.Tensor) -> tf.Tensor:
    """The same update as tape.gradient + Adam over all variables, with one layer's gradient alive at a time.

    A tape over every weight holds all gradients at once: 470 MB for the gradient FNN's
    117.6 M parameters, on top of the weights and Adam's two slots. Here only d(loss)/d(logits)
    comes from a tape; each layer's weight gradient is then made, applied with the fused Adam
    kernel and released before the layer below gets its own. The input gradient of a layer is
    computed before its weights change (automatic control dependencies keep program order).
    """
    h = model.scaling(x) if model.scaling is not None else x
    inputs = [h]
    for layer in model.hidden:
        h = layer(h)
        inputs.append(h)
    dropped = model.dropout(h, True, seed)
    inputs[-1] = dropped  # the output layer reads the dropped activations
    with tf.GradientTape() as tape:
        logits = model.out(dropped)
        tape.watch(logits)
        loss = loss_fn(logits, y)
    upstream = tape.gradient(loss, logits)
    keep = 1.0 - model.dropout.rate
    layers = [*model.hidden, model.out]
    powers = optimizer.powers()
    for i in reversed(range(len(layers))):
        layer, below = layers[i], inputs[i]
        db = tf.reduce_sum(upstream, axis=0)
        if isinstance(layer, RowBlockedDense):
            dbelow = None
            if i > 0:  # with the weights before the update
                dbelow = tf.concat([tf.matmul(upstream, w, transpose_b=True) for w in layer.blocks], axis=1)
            updates = [optimizer.update(layer.b, db, powers)]
            for r0, r1, w in layer.rows():
                # Each block's gradient only once the block before is applied: one block alive at a time.
                with tf.control_dependencies(updates + ([dbelow] if dbelow is not None else [])):
                    dw = tf.matmul(below[:, r0:r1], upstream, transpose_a=True)
                    updates = [*updates, optimizer.update(w, dw, powers)]
        else:
            dw = tf.matmul(below, upstream, transpose_a=True)
            if layer is model.out and model.l2:  # the output layer's weight decay (GradientFNN.regularization)
                dw += model.l2 * layer.w
            if i > 0:
                dbelow = tf.matmul(upstream, layer.w, transpose_b=True)  # with the weights before the update
            updates = [optimizer.update(layer.w, dw, powers), optimizer.update(layer.b, db, powers)]
        if i > 0:
            # ReLU (and, on top, dropout: kept units were scaled by 1/keep) of the layer below.
            scale = 1.0 / keep if i == len(layers) - 1 else 1.0
            with tf.control_dependencies(updates):  # the next gradient only after this one is spent
                upstream = tf.where(below > 0, dbelow * scale, tf.zeros_like(dbelow))
    optimizer.finish_step()
    return loss + model.regularization()
