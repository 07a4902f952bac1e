"""Procrustes alignment to the template: the similarity transform, and a tilted face put level."""

from __future__ import annotations

import cv2
import numpy as np
from conftest import face_crop

from fer_compare.face.alignment import FaceAligner, similarity_transform
from fer_compare.files import read_gray


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 100, (68, 2))
    angle, scale, shift = np.deg2rad(12), 1.3, np.array([7.0, -4.0])
    r = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = scale * pts @ r.T + shift
    m = similarity_transform(pts, moved)  # maps template (pts) coordinates to photo (moved) coordinates
    np.testing.assert_allclose(pts @ m[:, :2].T + m[:, 2], moved, atol=1e-9)


def test_alignment_undoes_a_rotation_and_scaling(london, predictor, template):
    crop = face_crop(read_gray(london / "happy" / "003_08.jpg"))
    rot = cv2.getRotationMatrix2D((50, 50), 15, 0.85)
    tilted = cv2.warpAffine(crop, rot, (100, 100), borderMode=cv2.BORDER_REPLICATE)
    aligner = FaceAligner(template.landmarks, (100, 100))
    aligned, moved = aligner(tilted, predictor(tilted))
    iod = np.linalg.norm(template.landmarks[36:42].mean(0) - template.landmarks[42:48].mean(0))
    before = np.sqrt(((predictor(tilted) - template.landmarks) ** 2).sum(1).mean())
    after_carried = np.sqrt(((moved - template.landmarks) ** 2).sum(1).mean())
    after_detected = np.sqrt(((predictor(aligned) - template.landmarks) ** 2).sum(1).mean())
    assert aligned.shape == (100, 100)
    assert after_carried < 0.2 * iod and after_detected < 0.25 * iod  # a few pixels on a 100 px face
    assert after_detected < before / 2
    # the eyes end up level, as on the template
    eye_l, eye_r = moved[36:42].mean(0), moved[42:48].mean(0)
    assert abs(np.degrees(np.arctan2(eye_r[1] - eye_l[1], eye_r[0] - eye_l[0]))) < 4


def test_the_landmarks_alone_are_those_the_warp_carries(london, predictor, template):
    """The live landmark FNN skips the warp: its aligned landmarks must be the align stage's, bit for bit."""
    aligner = FaceAligner(template.landmarks, (100, 100))
    for path in sorted((london / "happy").glob("*.jpg"))[:5]:
        crop = face_crop(read_gray(path))
        points = predictor(crop)
        _, moved = aligner(crop, points)
        assert np.array_equal(aligner.landmarks(points), moved)
        np.testing.assert_array_equal(similarity_transform(template.landmarks, points),
                                      aligner._transform(points))
