"""When training stops (the thesis's validation-loss rule) and when its whole state is saved."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import tensorflow as tf


class StoppingRule:
    """The thesis's rule: every `check_every`-th epoch (epoch % 4 == 0, 0-based), stop if the validation
    loss rose by >= `min_increase` since the previous check; otherwise remember it."""

    def __init__(self, check_every: int = 4, min_increase: float = 0.03, min_epochs: int = 0) -> None:
        self.check_every = check_every
        self.min_increase = min_increase
        self.min_epochs = min_epochs
        self.previous = tf.Variable(math.inf, trainable=False, dtype=tf.float64, name="previous_check_loss")

    def should_stop(self, epoch: int, validation_loss: float) -> bool:
        if epoch % self.check_every != 0:
            return False
        previous = float(self.previous.numpy())
        if epoch + 1 > self.min_epochs and validation_loss - previous >= self.min_increase:
            return True
        self.previous.assign(validation_loss)
        return False


class SaveSchedule:
    """When to save the whole training state: once `every_seconds` have passed since the last save.

    The gradient FNN's state (weights and Adam's two slots) is 1.4 GB, and saving it after every
    epoch took three times as long as the epoch itself (benchmarks/BENCHMARKS.md). A crash now
    loses at most `every_seconds` of training; Ctrl-C and the last epoch always save, and the best
    validation weights are saved whenever they improve. 0 saves after every epoch.
    """

    def __init__(self, every_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_seconds = every_seconds
        self.clock = clock
        self.last = clock()

    def due(self) -> bool:
        return self.clock() - self.last >= self.every_seconds

    def saved(self) -> None:
        self.last = self.clock()


