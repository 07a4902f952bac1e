"""Tracking and smoothing: each frame's faces matched to the previous frames' by overlap, probabilities
averaged per face across frames."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..face.detection import Box
from ..normalization import RunningBaseline

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


def match_boxes(new: list[Box], old: list[Box], min_iou: float) -> dict[int, int]:
    """Greedy one-to-one matching, largest overlap first: index in `new` -> index in `old`."""
    pairs = sorted(((iou(a, b), i, j) for i, a in enumerate(new) for j, b in enumerate(old)), reverse=True)
    matched: dict[int, int] = {}
    used: set[int] = set()
    for overlap, i, j in pairs:
        if overlap < min_iou:
            break
        if i in matched or j in used:
            continue
        matched[i] = j
        used.add(j)
    return matched


@dataclass(eq=False)
class FaceBaseline:
    """One live face's reference input (normalization.RunningBaseline) and where it was last seen."""

    box: Box
    baseline: RunningBaseline
    missing: int = 0


class FaceBaselines:
    """subject_normalization live: each face's input minus its own running reference, the face followed
    from frame to frame by box overlap. A face that is lost for more than `max_missing` frames starts
    its warm-up again (it may be another person)."""

    def __init__(self, mode: str, warmup: int, min_iou: float = 0.3, max_missing: int = 10) -> None:
        self.mode = mode
        self.warmup = warmup
        self.min_iou = min_iou
        self.max_missing = max_missing
        self.faces: list[FaceBaseline] = []

    def apply(self, boxes: list[Box], inputs: list[np.ndarray]) -> list[tuple[np.ndarray, int]]:
        """Each face's input minus its reference, and how many frames its reference has seen so far."""
        matched = match_boxes(boxes, [f.box for f in self.faces], self.min_iou)
        out, seen = [], set()
        for i, (box, x) in enumerate(zip(boxes, inputs, strict=True)):
            face = self.faces[matched[i]] if i in matched else None
            if face is None:
                face = FaceBaseline(box, RunningBaseline(self.mode, self.warmup))
                self.faces.append(face)
            face.box, face.missing = box, 0
            seen.add(id(face))
            out.append((face.baseline.update(x), face.baseline.count))
        for face in self.faces:
            if id(face) not in seen:
                face.missing += 1
        self.faces = [f for f in self.faces if f.missing <= self.max_missing]
        return out


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
        matched = {i: self.tracks[j] for i, j in match_boxes([f.box for f in faces], [t.box for t in self.tracks],
                                                              self.min_iou).items()}
        s = self.smoothing
        out = []
        for i, face in enumerate(faces):
            probabilities = np.asarray(face.probabilities, dtype=np.float64)
            track = matched.get(i)
            if track is None:
                track = Track(self._next_id, face.box, probabilities)
                self._next_id += 1
                self.tracks.append(track)
            elif face.calibrating:  # no history from before the reference is ready
                track.smoothed = probabilities
                track.box = face.box
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
