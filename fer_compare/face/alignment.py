"""Similarity alignment onto a template face: Procrustes (centre, scale by std, SVD rotation), as in the thesis."""

from __future__ import annotations

import cv2
import numpy as np


def similarity_transform(template: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The 2x3 similarity matrix M mapping template coordinates onto the photo's landmarks.

    This is the thesis's `transformation_from_points(template, points)`: warping with
    WARP_INVERSE_MAP through M pulls each template-frame pixel from the photo, so the photo
    lands on the template. Orthogonal Procrustes after centring and scaling each set by its std.
    """
    return _Procrustes(template)(points)


class _Procrustes:
    """`similarity_transform` onto one template, its side centred and scaled once (same arithmetic)."""

    def __init__(self, template: np.ndarray) -> None:
        p1 = template.astype(np.float64)
        self.c1 = p1.mean(axis=0)
        p1 = p1 - self.c1
        self.s1 = p1.std()
        self.p1t = (p1 / self.s1).T

    def __call__(self, points: np.ndarray) -> np.ndarray:
        p2 = points.astype(np.float64)
        c2 = p2.mean(axis=0)
        p2 = p2 - c2
        s2 = p2.std()
        p2 = p2 / s2
        u, _, vt = np.linalg.svd(self.p1t @ p2)
        r = (u @ vt).T
        scale = s2 / self.s1
        return np.hstack([scale * r, (c2 - scale * r @ self.c1)[:, None]])


def apply_inverse(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map photo points into the template frame (the inverse of `matrix`)."""
    inv = cv2.invertAffineTransform(matrix)
    return points @ inv[:, :2].T + inv[:, 2]


class FaceAligner:
    """Warps a face so its 68 landmarks best match the template's (similarity transform)."""

    def __init__(self, template_landmarks: np.ndarray, size: tuple[int, int]) -> None:
        self.template = np.asarray(template_landmarks, dtype=np.float64)
        self.size = tuple(size)  # (width, height) of the aligned output
        self._transform = _Procrustes(self.template)

    def __call__(self, gray: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The aligned image and the landmarks carried into its frame."""
        m = self._transform(landmarks)
        aligned = cv2.warpAffine(
            gray, m, self.size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        return aligned, apply_inverse(m, landmarks).astype(np.float32)

    def landmarks(self, landmarks: np.ndarray) -> np.ndarray:
        """The landmarks carried into the aligned frame, without warping the image (what `__call__` gives)."""
        return apply_inverse(self._transform(landmarks), landmarks).astype(np.float32)


# After alignment, a real face's landmarks sit within a few pixels of the template's; a crop
# that is not a face (a Haar false positive) leaves them scattered. Measured on the London set:
# real faces <= 0.12 of the inter-ocular distance (RMS); we reject above this.
MAX_ALIGNMENT_ERROR = 0.35


def alignment_error(points: np.ndarray, template: np.ndarray) -> float:
    """RMS distance between aligned landmarks and the template's, in pixels."""
    return float(np.sqrt(((points - template) ** 2).sum(axis=1).mean()))


def inter_ocular_distance(landmarks: np.ndarray) -> float:
    """Distance between the two eye centres (dlib points 36-41 and 42-47), in pixels."""
    return float(np.linalg.norm(landmarks[36:42].mean(0) - landmarks[42:48].mean(0)))
