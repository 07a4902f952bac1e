"""The two losses (softmax cross-entropy and the thesis's L2-SVM), computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from fer_compare.nn.losses import cross_entropy, svm_l2


def test_losses_by_hand():
    logits = tf.constant([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    labels = tf.constant([0, 2])
    p0 = np.exp(2) / (np.exp(2) + 2)
    assert float(cross_entropy(logits, labels)) == pytest.approx((-np.log(p0) + np.log(3)) / 2, rel=1e-5)
    # sample 0: margins 1 + 0 - 2 < 0 -> 0; sample 1: two wrong classes at margin 1 -> 1 + 1
    assert float(svm_l2(logits, labels)) == pytest.approx(1.0)
