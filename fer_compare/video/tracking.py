"""Tracking and smoothing: each frame's faces matched to the previous frames' by overlap, probabilities
averaged per face across frames."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..face.detection import Box

if TYPE_CHECKING:
    from .predict import FacePrediction


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / float(a.w * a.h + b.w * b.h - inter)


@dataclass(eq=False)
class Track:
    """A face followed across frames: its last box and its smoothed probabilities."""

    id: int
    box: Box
    smoothed: np.ndarray
    missing: int = 0


class IouTracker:
    """Greedy IoU matching of each frame's faces to live tracks; an exponential moving average per track."""

    def __init__(self, smoothing: float, min_iou: float = 0.3, max_missing: int = 10) -> None:
        self.smoothing = float(smoothing)
        self.min_iou = min_iou
        self.max_missing = max_missing
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, faces: list[FacePrediction]) -> list[Track]:
        """The track of each face, in the order of `faces`, after blending in this frame's probabilities."""
        pairs = sorted(((iou(f.box, t.box), i, j) for i, f in enumerate(faces)
                        for j, t in enumerate(self.tracks)), reverse=True)
        matched: dict[int, Track] = {}
        used: set[int] = set()
        for overlap, i, j in pairs:
            if overlap < self.min_iou:
                break
            if i in matched or j in used:
                continue
            matched[i] = self.tracks[j]
            used.add(j)
        s = self.smoothing
        out = []
        for i, face in enumerate(faces):
            probabilities = np.asarray(face.probabilities, dtype=np.float64)
            track = matched.get(i)
            if track is None:
                track = Track(self._next_id, face.box, probabilities)
                self._next_id += 1
                self.tracks.append(track)
            else:
                track.smoothed = s * track.smoothed + (1.0 - s) * probabilities
                track.box = face.box
            track.missing = 0
            out.append(track)
        seen = {track.id for track in out}
        for track in self.tracks:
            if track.id not in seen:
                track.missing += 1
        self.tracks = [t for t in self.tracks if t.missing <= self.max_missing]
        return out
