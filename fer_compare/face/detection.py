"""Haar-cascade face detection with the thesis's parameters (OpenCV's frontal-face cascade)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError

CASCADE = "haarcascade_frontalface_default.xml"


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int


class HaarFaceDetector:
    """OpenCV's `haarcascade_frontalface_default.xml`; scaleFactor 1.15, minNeighbors 5 as in the thesis.

    `min_size` below 1 is a fraction of the photo's shorter side (the thesis's 150 px suited its
    large photos); `detect_width` downscales wide photos before detection, for speed.
    """

    def __init__(
        self,
        scale_factor: float = 1.15,
        min_neighbors: int = 5,
        min_size: tuple[float, float] = (0.25, 0.25),
        detect_width: int = 640,
    ) -> None:
        path = Path(cv2.data.haarcascades) / CASCADE
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise UserError(f"OpenCV's {CASCADE} is missing from {path.parent}; reinstall opencv-python-headless<5")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size
        self.detect_width = detect_width

    def detect(self, gray: np.ndarray) -> list[Box]:
        """All faces in a grayscale image, in its own pixel coordinates, largest first."""
        h, w = gray.shape[:2]
        scale = min(1.0, self.detect_width / w) if self.detect_width else 1.0
        small = gray
        if scale < 1.0:
            small = cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        short = min(small.shape[:2])
        min_size = tuple(
            int(round(s * short)) if s < 1 else int(round(s * scale)) for s in self.min_size
        )
        found = self._cascade.detectMultiScale(
            small, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=min_size
        )
        boxes = [
            Box(int(round(x / scale)), int(round(y / scale)), int(round(bw / scale)), int(round(bh / scale)))
            for (x, y, bw, bh) in (found if len(found) else [])
        ]
        return sorted(boxes, key=lambda b: -b.w * b.h)


def crop_face(gray: np.ndarray, box: Box, size: tuple[int, int]) -> np.ndarray:
    """Cut the box out (clipped to the image) and resize it to `size` = (width, height)."""
    h, w = gray.shape[:2]
    x0, y0 = max(box.x, 0), max(box.y, 0)
    x1, y1 = min(box.x + box.w, w), min(box.y + box.h, h)
    crop = gray[y0:y1, x0:x1]
    interp = cv2.INTER_AREA if crop.shape[1] > size[0] else cv2.INTER_LINEAR
    return cv2.resize(crop, tuple(size), interpolation=interp)
