"""WeightAverage: a running mean until it spans its horizon, then exponential; swapped in and out exactly."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from fer_compare.nn.averaging import WeightAverage


def test_the_average_is_the_mean_of_the_steps_until_the_horizon_then_exponential():
    w = tf.Variable([0.0, 10.0])
    average = WeightAverage([w], horizon=4)  # decay 0.75
    values = [[2.0, 6.0], [4.0, 2.0], [6.0, 2.0], [8.0, 0.0], [0.0, 4.0]]
    # by hand: the mean of the values so far while 1/(t+1) >= 1/4 (t <= 3), then a quarter of each step
    by_hand = [[1.0, 8.0], [2.0, 6.0], [3.0, 5.0], [4.25, 3.75], [3.1875, 3.8125]]
    for value, expected in zip(values, by_hand, strict=True):
        w.assign(value)
        average.update()
        np.testing.assert_allclose(average.averages[0].numpy(), expected, rtol=1e-6)
        np.testing.assert_array_equal(w.numpy(), value)  # the weights themselves are untouched
    assert int(average.updates.numpy()) == 5


def test_in_place_holds_the_average_and_gives_the_weights_back_also_on_an_error():
    w, b = tf.Variable([[1.0, 2.0]]), tf.Variable([3.0])
    average = WeightAverage([w, b], horizon=2)
    w.assign([[3.0, 4.0]])
    b.assign([5.0])
    average.update()
    with average.in_place():
        np.testing.assert_array_equal(w.numpy(), [[2.0, 3.0]])
        np.testing.assert_array_equal(b.numpy(), [4.0])
    np.testing.assert_array_equal(w.numpy(), [[3.0, 4.0]])
    with pytest.raises(RuntimeError), average.in_place():
        raise RuntimeError("evaluation failed")
    np.testing.assert_array_equal(w.numpy(), [[3.0, 4.0]])
    np.testing.assert_array_equal(average.averages[0].numpy(), [[2.0, 3.0]])


def test_a_horizon_under_one_step_is_refused():
    with pytest.raises(ValueError, match="horizon"):
        WeightAverage([tf.Variable(1.0)], horizon=0.5)
