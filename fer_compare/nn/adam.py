"""Adam (Kingma & Ba, 2015) applied with TensorFlow's fused kernel, tf.raw_ops.ResourceApplyAdam."""

from __future__ import annotations

import tensorflow as tf


class Adam(tf.Module):
    """Adam without Keras: one fused in-place update per variable (m, v slots created once).

    Defaults beta1 0.9, beta2 0.999, epsilon 1e-8: tf.train.AdamOptimizer's, as in the thesis.
    """

    def __init__(self, variables: list[tf.Variable], learning_rate: float = 1e-4, beta1: float = 0.9,
                 beta2: float = 0.999, epsilon: float = 1e-8, name: str = "adam") -> None:
        super().__init__(name=name)
        self.learning_rate = tf.Variable(learning_rate, trainable=False, dtype=tf.float32, name="learning_rate")
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        with self.name_scope:
            self.iterations = tf.Variable(0, trainable=False, dtype=tf.int64, name="iterations",
                                          aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            self.m = [tf.Variable(tf.zeros_like(v), trainable=False, name=f"m{i}") for i, v in enumerate(variables)]
            self.v = [tf.Variable(tf.zeros_like(v), trainable=False, name=f"v{i}") for i, v in enumerate(variables)]
        self._variables = list(variables)

    def apply(self, gradients: list[tf.Tensor]) -> None:
        """Update every variable in place from its gradient."""
        step = tf.cast(self.iterations + 1, tf.float32)
        beta1_power = tf.pow(tf.constant(self.beta1), step)
        beta2_power = tf.pow(tf.constant(self.beta2), step)
        for var, m, v, grad in zip(self._variables, self.m, self.v, gradients, strict=True):
            tf.raw_ops.ResourceApplyAdam(
                var=var.handle, m=m.handle, v=v.handle,
                beta1_power=beta1_power, beta2_power=beta2_power, lr=self.learning_rate,
                beta1=tf.constant(self.beta1), beta2=tf.constant(self.beta2), epsilon=tf.constant(self.epsilon),
                grad=tf.cast(grad, var.dtype), use_locking=False)
        self.iterations.assign_add(1)
