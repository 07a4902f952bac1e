"""A moving average of a model's weights (Polyak averaging), evaluated and kept in place of the
last step's weights."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import tensorflow as tf


class WeightAverage(tf.Module):
    """The running mean of `variables` over all steps so far until it spans `horizon` steps, then an
    exponential average with decay 1 - 1/horizon; initializer: a copy of the variables' values.

    Written here rather than with tf.train.ExponentialMovingAverage: that one creates its shadow
    variables on the first `apply`, which inside a compiled, distributed step is a trace-time side
    effect; here they exist from the start and are checkpointed like Adam's slots.
    """

    def __init__(self, variables: list[tf.Variable], horizon: float, name: str = "weight_average") -> None:
        super().__init__(name=name)
        if horizon < 1:
            raise ValueError(f"horizon must be 1 step or more, got {horizon}")
        self.decay = 1.0 - 1.0 / float(horizon)
        self._variables = list(variables)
        # ONLY_FIRST_REPLICA: updated inside a replica's step, every replica holds the same value.
        aggregation = tf.VariableAggregation.ONLY_FIRST_REPLICA
        with self.name_scope:
            self.updates = tf.Variable(0, trainable=False, dtype=tf.int64, name="updates", aggregation=aggregation)
            self.averages = [tf.Variable(v, trainable=False, name=f"average{i}", aggregation=aggregation)
                             for i, v in enumerate(self._variables)]

    def update(self) -> None:
        """Fold the variables' current values into the average (call once after each optimizer step)."""
        t = tf.cast(self.updates + 1, tf.float32)
        # 1/(t+1) while the mean of the t+1 values so far weighs each step more than the horizon would.
        rate = tf.maximum(1.0 - self.decay, 1.0 / (t + 1.0))
        for average, v in zip(self.averages, self._variables, strict=True):
            average.assign_sub(rate * (average - tf.cast(v, average.dtype)))
        self.updates.assign_add(1)

    def _swap(self) -> None:
        # One variable at a time, so no second copy of all weights exists at once.
        for average, v in zip(self.averages, self._variables, strict=True):
            current = tf.identity(v)
            v.assign(average)
            average.assign(current)

    @contextmanager
    def in_place(self) -> Iterator[None]:
        """Within the block the variables hold the averages; after it (also on an exception) their own values."""
        self._swap()
        try:
            yield
        finally:
            self._swap()
