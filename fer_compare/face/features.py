"""The thesis's landmark features: 42 points x (x, y, length, angle) relative to the nose tip."""

from __future__ import annotations

import numpy as np

# Brows 17-26, eyes 36-47 and mouth 48-67 (0-based dlib indices): 42 points.
FEATURE_POINTS = np.r_[17:27, 36:68]
NOSE_TIP = 30
CHIN = 8


def landmark_features(landmarks: np.ndarray) -> np.ndarray:
    """[4, 42]: x, y, distance to the nose tip, and cosine between nose->point and chin->nose.

    The thesis called the last one the point's "angle": the dot product of the unit vector
    from the nose tip to the point with the unit vector of the chin-to-nose-tip line.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    nose = pts[NOSE_TIP]
    axis = nose - pts[CHIN]
    axis /= np.linalg.norm(axis) + 1e-12
    sel = pts[FEATURE_POINTS]
    vec = sel - nose
    length = np.linalg.norm(vec, axis=1)
    unit = vec / (length[:, None] + 1e-12)
    angle = unit @ axis
    return np.stack([sel[:, 0], sel[:, 1], length, angle]).astype(np.float32)
