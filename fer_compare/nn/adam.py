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
        self._index = {v.ref(): i for i, v in enumerate(self._variables)}

    def powers(self) -> tuple[tf.Tensor, tf.Tensor]:
        """beta1^t and beta2^t for the coming step t = iterations + 1."""
        step = tf.cast(self.iterations + 1, tf.float32)
        return tf.pow(tf.constant(self.beta1), step), tf.pow(tf.constant(self.beta2), step)

    def update(self, var: tf.Variable, grad: tf.Tensor, powers: tuple[tf.Tensor, tf.Tensor]) -> tf.Operation:
        """One variable's in-place update; call `finish_step` once all variables are updated."""
        i = self._index[var.ref()]
        return tf.raw_ops.ResourceApplyAdam(
            var=var.handle, m=self.m[i].handle, v=self.v[i].handle,
            beta1_power=powers[0], beta2_power=powers[1], lr=self.learning_rate,
            beta1=tf.constant(self.beta1), beta2=tf.constant(self.beta2), epsilon=tf.constant(self.epsilon),
            grad=tf.cast(grad, var.dtype), use_locking=False)

    def finish_step(self) -> None:
        self.iterations.assign_add(1)

    def apply(self, gradients: list[tf.Tensor]) -> None:
        """Update every variable in place from its gradient."""
        powers = self.powers()
        for var, grad in zip(self._variables, gradients, strict=True):
            self.update(var, grad, powers)
        self.finish_step()
