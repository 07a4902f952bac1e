"""Classification losses: softmax cross-entropy (the thesis) and the L2 multi-class SVM (squared hinge)."""

from __future__ import annotations

import tensorflow as tf


def cross_entropy(logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """Mean sparse softmax cross-entropy."""
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))


def svm_l2(logits: tf.Tensor, labels: tf.Tensor, margin: float = 1.0) -> tf.Tensor:
    """Crammer-Singer-style squared hinge: mean over the batch of sum_{j != y} max(0, m + s_j - s_y)^2."""
    n = tf.shape(logits)[1]
    true_score = tf.gather(logits, labels, batch_dims=1)[:, None]
    hinge = tf.nn.relu(margin + logits - true_score) * (1.0 - tf.one_hot(labels, n, dtype=logits.dtype))
    return tf.reduce_mean(tf.reduce_sum(tf.square(hinge), axis=1))


LOSSES = {"cross_entropy": cross_entropy, "svm_l2": svm_l2}
