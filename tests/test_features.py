"""The landmark FNN's features: distance and angle of 42 points, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from fer_compare.face.features import FEATURE_POINTS, landmark_features


def test_landmark_features_by_hand():
    lm = np.zeros((68, 2), np.float32)
    lm[30] = (50, 50)  # nose tip
    lm[8] = (50, 90)  # chin straight below: chin->nose points up (0, -1)
    lm[17] = (50, 20)  # straight above the nose
    lm[48] = (80, 50)  # level with the nose, to the right
    f = landmark_features(lm)
    assert f.shape == (4, 42) and len(FEATURE_POINTS) == 42
    i17, i48 = list(FEATURE_POINTS).index(17), list(FEATURE_POINTS).index(48)
    assert f[:, i17].tolist() == pytest.approx([50, 20, 30, 1.0])
    assert f[:, i48].tolist() == pytest.approx([80, 50, 30, 0.0])
