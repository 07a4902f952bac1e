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


def test_mirrored_features_equal_the_features_of_the_mirrored_face(faces, predictor, template):
    """A real aligned face flipped left-right, landmarked again by dlib: its features are the mirror of the
    original's (up to dlib's own left/right asymmetry, a pixel or two)."""
    import cv2
    from conftest import face_crop

    from fer_compare.face.alignment import FaceAligner
    from fer_compare.face.features import mirrored_features

    crop = face_crop(cv2.cvtColor(faces["hopper"], cv2.COLOR_BGR2GRAY))
    aligned, moved = FaceAligner(template.landmarks, (crop.shape[1], crop.shape[0]))(crop, predictor(crop))
    flipped = np.ascontiguousarray(aligned[:, ::-1])
    mirror = landmark_features(predictor(flipped))
    expected = mirrored_features(landmark_features(moved), aligned.shape[1])
    assert np.abs(mirror[:3] - expected[:3]).mean() < 2.0  # x, y, length in pixels
    assert np.abs(mirror[3] - expected[3]).mean() < 0.05  # cosines
    # Without mirroring the columns the same comparison is far off: the map matters.
    assert np.abs(mirror[0] - (aligned.shape[1] - 1 - landmark_features(moved)[0])).mean() > 5.0
