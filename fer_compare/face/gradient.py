"""The thesis's gradient image: Laplacian (ksize 5) of the aligned face, masked to the expressive face."""

from __future__ import annotations

import cv2
import numpy as np


def face_polygon(landmarks: np.ndarray, inset: float = 5.0) -> np.ndarray:
    """The thesis's mask outline (dlib 0-based indices) as an int32 [N, 2] polygon.

    From brow point 18 down the left jaw (1-4 moved `inset` px inward), to the upper-lip point
    49 and inner corner 60, along the lower lip 59..55, up the right jaw (13-16 moved inward),
    over the brows (26, then 25 and 20 raised by `inset`, 19), back to 18.
    """
    p = np.asarray(landmarks, dtype=np.float64)
    verts = [p[18]]
    verts += [p[i] + (inset, 0) for i in (1, 2, 3, 4)]
    verts += [p[i] for i in (49, 60, 59, 58, 57, 56, 55)]
    verts += [p[i] - (inset, 0) for i in (13, 14, 15, 16)]
    verts += [p[26], p[25] - (0, inset), p[20] - (0, inset), p[19]]
    return np.round(np.array(verts)).astype(np.int32)


def face_mask(landmarks: np.ndarray, shape: tuple[int, int], inset: float = 5.0) -> np.ndarray:
    """Boolean mask of the face polygon on an image of `shape` (height, width)."""
    mask = np.zeros(shape, dtype=np.uint8)
    cv2.fillPoly(mask, [face_polygon(landmarks, inset)], 1)
    return mask.astype(bool)


def laplacian_image(gray: np.ndarray, ksize: int = 5, negative: str = "clip") -> np.ndarray:
    """cv2.Laplacian in float64, then to 0..255.

    `clip` keeps the thesis's behaviour (imwrite saturates: the negative half is lost);
    `abs` keeps the magnitude of both halves. docs/THESIS_NOTES.md has the measured choice.
    """
    lap = cv2.Laplacian(gray, cv2.CV_64F, ksize=ksize)
    if negative == "abs":
        lap = np.abs(lap)
    return np.clip(lap, 0, 255).astype(np.uint8)


def masked_gradient(gray: np.ndarray, landmarks: np.ndarray, ksize: int = 5, negative: str = "clip") -> np.ndarray:
    """Laplacian of the aligned face with everything outside the face polygon set to black."""
    lap = laplacian_image(gray, ksize, negative)
    lap[~face_mask(landmarks, gray.shape[:2])] = 0
    return lap
