"""Image operations of the synthetic demo set: a piecewise-affine warp between landmark sets, and
shading an opened mouth and darkened brows."""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import Delaunay


def eye_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Unit x (eye to eye), unit y (down the face) and the inter-ocular distance."""
    left, right = landmarks[36:42].mean(0), landmarks[42:48].mean(0)
    axis = right - left
    iod = float(np.hypot(*axis))
    ex = axis / iod
    return ex, np.array([-ex[1], ex[0]]), iod


def fixed_anchors(placed: np.ndarray, target: np.ndarray, size: int) -> np.ndarray:
    """Fixed points: a ring around the face, so that everything outside it stays put.

    Should a target landmark leave the ring, the image corners and edge midpoints are added too.
    """
    s = size - 1
    centre = (placed.min(0) + placed.max(0)) / 2
    half = (placed.max(0) - placed.min(0)) / 2
    t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    ring = centre + np.column_stack([1.45 * half[0] * np.cos(t), 1.9 * half[1] * np.sin(t)])
    ring = np.clip(ring, 0.08 * s, 0.92 * s)
    hull = cv2.convexHull(ring.astype(np.float32))
    if all(cv2.pointPolygonTest(hull, (float(x), float(y)), True) > 2.0 for x, y in target):
        return ring
    frame = [(0, 0), (s / 2, 0), (s, 0), (s, s / 2), (s, s), (s / 2, s), (0, s), (0, s / 2)]
    return np.vstack([ring, np.array(frame, np.float64)])


def inverse_map(src: np.ndarray, dst: np.ndarray, n_moving: int, size: int) -> np.ndarray:
    """For each output pixel (x, y) its position in the source: [size * size, 2], row-major.

    Piecewise affine over the Delaunay triangles of `dst`; points from `n_moving` on are fixed
    anchors (equal in `src` and `dst`). Pixels outside the triangles, or in a triangle of anchors
    only, map exactly to themselves.
    """
    simplices = Delaunay(dst).simplices
    simplices = simplices[(simplices < n_moving).any(1)]
    # Per triangle, the affine map (3x2, on [x, y, 1]) taking its dst corners to its src corners.
    corners = np.concatenate([dst[simplices], np.ones((len(simplices), 3, 1))], axis=2)
    affine = np.linalg.pinv(corners) @ src[simplices]
    # Which triangle covers each pixel: rasterize the triangle numbers (sub-pixel corners).
    labels = np.full((size, size), -1, np.int32)
    for k, tri in enumerate(np.round(dst[simplices] * 16).astype(np.int32)):
        cv2.fillConvexPoly(labels, tri, k, cv2.LINE_8, 4)
    ys, xs = np.mgrid[0:size, 0:size]
    out = np.column_stack([xs.ravel(), ys.ravel()]).astype(np.float64)
    labels = labels.ravel()
    covered = np.nonzero(labels >= 0)[0]
    pts = np.column_stack([out[covered], np.ones(len(covered))])
    out[covered] = np.einsum("ni,nij->nj", pts, affine[labels[covered]])
    return out


def darken_mouth(image: np.ndarray, shaped: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Shade the inner-lip polygon (60-67) as an open mouth, as far as the lower lip dropped."""
    _, ey, iod = eye_frame(target)
    moved = (target - shaped) @ ey
    drop = float(moved[65:68].mean() - moved[61:64].mean()) / iod
    strength = float(np.clip((drop - 0.02) / 0.1, 0.0, 1.0))
    if strength <= 0:
        return image
    h, w = image.shape[:2]
    mask = np.zeros((h, w), np.float32)
    cv2.fillPoly(mask, [np.round(target[60:68] * 16).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
    mask = cv2.GaussianBlur(mask, (0, 0), 0.04 * iod)
    # Keep the top of the opening (upper teeth / lip line), shade towards the bottom.
    top, bottom = target[61:64, 1].mean(), target[65:68, 1].mean()
    ys = np.arange(h, dtype=np.float32)[:, None]
    ramp = np.clip((ys - top) / max(bottom - top, 1.0) / 0.35, 0.0, 1.0)
    weight = (0.9 * strength * mask * ramp)[..., None]
    cavity = np.array([18, 16, 42], np.float32)  # dark red-brown, BGR
    return image * (1 - weight) + cavity * weight


def darken_brows(image: np.ndarray, target: np.ndarray, amount: float) -> np.ndarray:
    """Darken a soft band along each brow (17-21, 22-26), thicker at the inner end."""
    if amount <= 0:
        return image
    _, _, iod = eye_frame(target)
    mask = np.zeros(image.shape[:2], np.float32)
    for brow in (target[17:22], target[26:21:-1]):  # outer end first
        for k in range(4):
            a, b = np.round(brow[k] * 8).astype(int), np.round(brow[k + 1] * 8).astype(int)
            thick = max(1, round(iod * (0.05 + 0.015 * k)))
            cv2.line(mask, tuple(map(int, a)), tuple(map(int, b)), 1.0, thick, cv2.LINE_AA, shift=3)
    mask = cv2.GaussianBlur(mask, (0, 0), 0.03 * iod)
    return image * (1.0 - amount * mask[..., None] * np.array([1.15, 1.0, 0.85], np.float32))  # browner
