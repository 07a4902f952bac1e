"""The gradient FNN's input: the face mask on a real photo, and the Laplacian's options."""

from __future__ import annotations

import cv2
import numpy as np
from conftest import face_crop

from fer_compare.face.gradient import face_mask, face_polygon, laplacian_image, masked_gradient
from fer_compare.files import read_gray


def test_mask_covers_the_expressive_face_and_nothing_else(london, predictor):
    crop = face_crop(read_gray(london / "happy" / "010_08.jpg"))
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
