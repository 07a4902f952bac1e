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


# The sizes, relative to the last frame's face, that a face found near it may have (Haar's are ~10 %
# large at the near search's coarse scale); outside them a whole-frame detection decides.
NEAR_SIZES = (0.9, 1.3)


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

    def detect_near(self, gray: np.ndarray, box: Box, margin: float = 0.4, face_px: int = 40,
                    size_range: tuple[float, float] = NEAR_SIZES) -> Box | None:
        """The face that was at `box` in the previous frame, searched only around it; None if it is gone.

        The face keeps `box`'s size and gets the centre of what is found (a whole-frame `detect`
        now and then updates the size).

        The search region is the box grown by `margin` of its size on each side, resized so the
        old face measures `face_px` (Haar's window is 24 px), and only faces of `size_range` times
        the old size are tried: the sizes it accepts, so no window is tried whose face would be
        refused. Haar's cost is mostly the windows on and near the face, so fewer of them (fewer
        scales, fewer pixels per face) is what makes this cheaper than `detect`.
        """
        h, w = gray.shape[:2]
        x0, y0, scale, small = _around(gray, box, margin, face_px)
        if min(small.shape) < 24:
            return None
        smallest = max(s * min(h, w) if s < 1 else s for s in self.min_size)  # as `detect`, in frame pixels
        lo = max(24, int(round(max(size_range[0] * box.w, smallest) * scale)))
        hi = int(round(size_range[1] * box.w * scale))
        if lo > hi:
            return None
        found = self._cascade.detectMultiScale(small, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
                                               minSize=(lo, lo), maxSize=(hi, hi))
        if not len(found):
            return None
        x, y, bw, bh = max(found, key=lambda f: f[2] * f[3])
        # Only the centre moves: at this coarse scale Haar's sizes come in steps of scale_factor and
        # ~10 % large, so taking them would grow the box a little on every frame. A clear change of
        # size (a face coming closer, a cut) is left to a whole-frame detection.
        if not size_range[0] <= bw / scale / box.w <= size_range[1]:
            return None
        cx, cy = x0 + (x + bw / 2) / scale, y0 + (y + bh / 2) / scale
        return Box(int(round(cx - box.w / 2)), int(round(cy - box.h / 2)), box.w, box.h)

    def confirm(self, gray: np.ndarray, box: Box, margin: float = 0.1, face_px: int = 26,
                sizes: tuple[float, float] = (0.9, 1.15), min_neighbors: int = 2) -> bool:
        """Whether Haar still sees a face at `box` (a face followed by other means, e.g. its landmarks).

        Only the box grown by `margin`, at `face_px` pixels a face and sizes of `sizes` times the box,
        is searched: a few hundred windows, where `detect_near`, which has to find where the face
        went, searches thousands. Fewer windows overlap a face, hence fewer `min_neighbors`. It says
        whether a face is there, not whether it is the box's size: a face that came closer is measured
        again by the next whole-frame detection.
        """
        _, _, scale, small = _around(gray, box, margin, face_px)
        lo, hi = max(24, int(round(sizes[0] * box.w * scale))), int(round(sizes[1] * box.w * scale))
        if min(small.shape) < lo or lo > hi:
            return False
        found = self._cascade.detectMultiScale(small, scaleFactor=self.scale_factor, minNeighbors=min_neighbors,
                                               minSize=(lo, lo), maxSize=(hi, hi))
        return len(found) > 0


def _around(gray: np.ndarray, box: Box, margin: float, face_px: int) -> tuple[int, int, float, np.ndarray]:
    """The box grown by `margin` of its size a side (clipped to the image), shrunk so the box measures
    `face_px`: its top-left corner in the image, the scale, and the shrunk region."""
    h, w = gray.shape[:2]
    x0, y0 = max(0, int(box.x - margin * box.w)), max(0, int(box.y - margin * box.h))
    x1, y1 = min(w, int(box.x + box.w * (1 + margin))), min(h, int(box.y + box.h * (1 + margin)))
    scale = min(1.0, face_px / box.w)
    region = gray[y0:y1, x0:x1]
    size = (round(region.shape[1] * scale), round(region.shape[0] * scale))
    if scale >= 1.0 or min(size) < 1:
        return x0, y0, scale, region
    # Bilinear, not INTER_AREA: area averaging at a non-integer ratio cost ~0.2 ms a frame, and on
    # London's faces bilinear finds the same faces at the same places (BENCHMARKS.md).
    return x0, y0, scale, cv2.resize(region, size, interpolation=cv2.INTER_LINEAR)


def crop_face(gray: np.ndarray, box: Box, size: tuple[int, int]) -> np.ndarray:
    """Cut the box out (clipped to the image) and resize it to `size` = (width, height)."""
    h, w = gray.shape[:2]
    x0, y0 = max(box.x, 0), max(box.y, 0)
    x1, y1 = min(box.x + box.w, w), min(box.y + box.h, h)
    crop = gray[y0:y1, x0:x1]
    interp = cv2.INTER_AREA if crop.shape[1] > size[0] else cv2.INTER_LINEAR
    return cv2.resize(crop, tuple(size), interpolation=interp)
