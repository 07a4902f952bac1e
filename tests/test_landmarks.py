"""dlib's 68-point landmarks: the packaged model file, and points where a face has them."""

from __future__ import annotations

from conftest import face_crop

from fer_compare.face.landmarks import find_landmark_model
from fer_compare.files import read_gray


def test_landmark_model_is_found_in_the_package_without_importing_it():
    import sys

    path = find_landmark_model()
    assert path.name == "shape_predictor_68_face_landmarks.dat" and path.stat().st_size > 90e6
    assert "face_recognition_models" not in sys.modules


def test_landmarks_sit_where_a_face_has_them(london, predictor):
    crop = face_crop(read_gray(london / "neutral" / "001_03.jpg"))
    lm = predictor(crop)
    assert lm.shape == (68, 2)
    brows_y, eyes_y = lm[17:27, 1].mean(), lm[36:48, 1].mean()
    nose_y, mouth_y = lm[30, 1], lm[48:68, 1].mean()
    assert brows_y < eyes_y < nose_y < mouth_y
    assert lm[36:42, 0].mean() < lm[30, 0] < lm[42:48, 0].mean()  # left eye, nose, right eye
    assert (lm[17:68] > 0).all() and (lm[17:68] < 100).all()
