"""Face processing on real photos: Haar detection, dlib landmarks, Procrustes alignment, features, mask."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fer_compare.face.alignment import FaceAligner, similarity_transform
from fer_compare.face.detection import HaarFaceDetector, crop_face
from fer_compare.face.features import FEATURE_POINTS, landmark_features
from fer_compare.face.gradient import face_mask, face_polygon, laplacian_image, masked_gradient
from fer_compare.face.landmarks import LandmarkPredictor, find_landmark_model
from fer_compare.face.template import Template
from fer_compare.files import read_gray


@pytest.fixture(scope="module")
def predictor():
    return LandmarkPredictor()


@pytest.fixture(scope="module")
def template(predictor):
    from conftest import ROOT

    return Template(ROOT / "templates" / "template.png", predictor, (100, 100))


def _crop(gray):
    boxes = HaarFaceDetector().detect(gray)
    assert len(boxes) == 1
    return crop_face(gray, boxes[0], (100, 100))


def test_landmark_model_is_found_in_the_package_without_importing_it():
    import sys

    path = find_landmark_model()
    assert path.name == "shape_predictor_68_face_landmarks.dat" and path.stat().st_size > 90e6
    assert "face_recognition_models" not in sys.modules


def test_one_face_in_each_public_domain_photo(faces):
    # The astronaut's face is 19 % of her photo's width: below the default minimum of 25 %.
    for bgr in faces.values():
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        assert len(HaarFaceDetector(min_size=(0.15, 0.15)).detect(gray)) == 1
    gray = cv2.cvtColor(faces["astronaut"], cv2.COLOR_BGR2GRAY)
    assert HaarFaceDetector().detect(gray) == []


def test_detection_on_london_photos_and_a_group(london):
    photos = sorted((london / "neutral").glob("*.jpg"))[:10]
    grays = [read_gray(p) for p in photos]
    detector = HaarFaceDetector()
    assert all(len(detector.detect(g)) == 1 for g in grays)
    group = np.hstack(grays[:3])  # three people side by side
    assert len(detector.detect(group)) == 3
    assert detector.detect(np.full((300, 300), 128, np.uint8)) == []


def shifted(gray: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The photo moved by (dx, dy) on a gray canvas of the same size."""
    return cv2.warpAffine(gray, np.float32([[1, 0, dx], [0, 1, dy]]), gray.shape[::-1], borderValue=128)


def box_iou(a, b) -> float:
    x0, y0, x1, y1 = max(a.x, b.x), max(a.y, b.y), min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / (a.w * a.h + b.w * b.h - inter)


def test_a_face_is_found_again_near_where_it_was(london):
    detector = HaarFaceDetector(detect_width=320)
    for path in sorted((london / "happy").glob("*.jpg"))[:6]:
        gray = cv2.resize(read_gray(path), (480, 480), interpolation=cv2.INTER_AREA)
        (before,) = detector.detect(gray)
        for dx, dy in ((0, 0), (30, -20), (-45, 25)):  # up to a quarter of the box
            moved = shifted(gray, dx, dy)
            (whole,) = detector.detect(moved)
            near = detector.detect_near(moved, before)
            assert near is not None and box_iou(near, whole) > 0.8, (path.name, dx, dy, near, whole)
        # Gone from the region (moved by more than the margin), or gone altogether: None.
        assert detector.detect_near(shifted(gray, 300, 0), before) is None
        assert detector.detect_near(np.full_like(gray, 128), before) is None


def test_a_face_that_changed_size_is_left_to_a_whole_frame_search(london):
    gray = cv2.resize(read_gray(sorted((london / "happy").glob("*.jpg"))[1]), (480, 480), interpolation=cv2.INTER_AREA)
    detector = HaarFaceDetector(detect_width=320)
    (box,) = detector.detect(gray)
    smaller = cv2.warpAffine(gray, cv2.getRotationMatrix2D((240, 240), 0, 0.75), (480, 480), borderValue=128)
    (whole,) = detector.detect(smaller)
    assert whole.w < 0.85 * box.w and detector.detect_near(smaller, box) is None
    assert detector.detect_near(smaller, whole) is not None


def test_detect_near_keeps_the_smallest_face_size(london):
    """A box smaller than `detect` accepts is not tracked either (min_size relative to the frame)."""
    gray = cv2.resize(read_gray(sorted((london / "happy").glob("*.jpg"))[0]), (480, 480), interpolation=cv2.INTER_AREA)
    (box,) = HaarFaceDetector(detect_width=320).detect(gray)
    too_strict = HaarFaceDetector(min_size=(box.w * 2, box.w * 2), detect_width=320)
    assert too_strict.detect(gray) == [] and too_strict.detect_near(gray, box) is None


def test_landmarks_sit_where_a_face_has_them(london, predictor):
    crop = _crop(read_gray(london / "neutral" / "001_03.jpg"))
    lm = predictor(crop)
    assert lm.shape == (68, 2)
    brows_y, eyes_y = lm[17:27, 1].mean(), lm[36:48, 1].mean()
    nose_y, mouth_y = lm[30, 1], lm[48:68, 1].mean()
    assert brows_y < eyes_y < nose_y < mouth_y
    assert lm[36:42, 0].mean() < lm[30, 0] < lm[42:48, 0].mean()  # left eye, nose, right eye
    assert (lm[17:68] > 0).all() and (lm[17:68] < 100).all()


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 100, (68, 2))
    angle, scale, shift = np.deg2rad(12), 1.3, np.array([7.0, -4.0])
    r = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = scale * pts @ r.T + shift
    m = similarity_transform(pts, moved)  # maps template (pts) coordinates to photo (moved) coordinates
    np.testing.assert_allclose(pts @ m[:, :2].T + m[:, 2], moved, atol=1e-9)


def test_alignment_undoes_a_rotation_and_scaling(london, predictor, template):
    crop = _crop(read_gray(london / "happy" / "003_08.jpg"))
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


def test_mask_covers_the_expressive_face_and_nothing_else(london, predictor):
    crop = _crop(read_gray(london / "happy" / "010_08.jpg"))
    lm = predictor(crop)
    mask = face_mask(lm, crop.shape)
    def inside(p):
        return mask[min(int(round(p[1])), 99), min(int(round(p[0])), 99)]

    assert inside(lm[30]) and inside(lm[36:42].mean(0)) and inside(lm[42:48].mean(0)) and inside(lm[62])
    assert not inside((lm[57] + lm[8]) / 2) and not mask[0, 0] and not mask[-1, -1]  # chin, corners
    assert not inside((lm[19, 0], lm[19, 1] - 12))  # forehead above the brow
    assert 0.2 < mask.mean() < 0.7
    poly = face_polygon(lm)
    assert poly[1][0] == round(lm[1, 0] + 5)  # jaw moved inward
    assert poly[-2][1] == round(lm[20, 1] - 5) and poly[-3][1] == round(lm[25, 1] - 5)  # brows raised
    out = masked_gradient(crop, lm)
    assert out.dtype == np.uint8 and (out[~mask] == 0).all() and out[mask].mean() > 10


def test_laplacian_negative_half_options():
    img = np.zeros((20, 20), np.uint8)
    img[:, 10:] = 200
    clip, absolute = laplacian_image(img, 5, "clip"), laplacian_image(img, 5, "abs")
    lap = cv2.Laplacian(img, cv2.CV_64F, ksize=5)
    assert (lap < 0).any()
    assert (clip[lap < 0] == 0).all() and (absolute[lap < 0] > 0).all()
