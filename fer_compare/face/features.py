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


# dlib's 68 points mirrored left-right (a point's index -> its mirror's index).
_MIRROR_68 = {**{17 + i: 26 - i for i in range(10)},
              36: 45, 37: 44, 38: 43, 39: 42, 40: 47, 41: 46, 45: 36, 44: 37, 43: 38, 42: 39, 47: 40, 46: 41,
              **{48 + i: 54 - i for i in range(7)}, 55: 59, 56: 58, 57: 57, 58: 56, 59: 55,
              **{60 + i: 64 - i for i in range(5)}, 65: 67, 66: 66, 67: 65}
# Column j of the [4, 42] features comes from column MIRROR_COLUMNS[j] of the mirrored face.
MIRROR_COLUMNS = np.array([list(FEATURE_POINTS).index(_MIRROR_68[p]) for p in FEATURE_POINTS])


def mirrored_features(features: np.ndarray, width: float) -> np.ndarray:
    """The [..., 4, 42] features of the face mirrored left-right in an image `width` pixels wide.

    Lengths and angles are those of the mirror point; x becomes width - 1 - x of the mirror point.
    With width 0 it mirrors features that had a reference subtracted (x differences change sign).
    """
    out = features[..., MIRROR_COLUMNS].copy()
    out[..., 0, :] = (width - 1 if width else 0) - out[..., 0, :]
    return out
