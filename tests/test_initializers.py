"""The thesis's initializers: truncated normal, constant, and TF1's Xavier uniform."""

from __future__ import annotations

import numpy as np

from fer_compare.nn.initializers import constant, truncated_normal, xavier_uniform


def test_initializers_follow_the_thesis():
    w = truncated_normal(0.05)([200, 200], 3).numpy()
    assert abs(w.std() - 0.05 * 0.88) < 0.003 and np.abs(w).max() <= 0.1 + 1e-6  # truncated at 2 sigma
    assert (constant(0.05)([3]).numpy() == np.float32(0.05)).all()
    x = xavier_uniform()([300, 100], 4).numpy()
    limit = np.sqrt(6 / 400)
    assert np.abs(x).max() <= limit and np.abs(x).max() > 0.95 * limit
    b = xavier_uniform()([8], 5).numpy()
    assert np.abs(b).max() <= np.sqrt(3 / 8)  # TF1: fan_in = fan_out = 8 for a 1-D shape
