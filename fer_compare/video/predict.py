"""Per-frame prediction: every face of a frame through the training preprocessing (face/chain.py) and one
batched model call, with the time each step took."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..data import to_network_input
from ..errors import UserError
from ..face.chain import FaceChain
from ..face.detection import Box, HaarFaceDetector
from ..kinds import CROP
from ..kinds import kind as kind_of
from ..settings import Settings, input_settings_mismatch
from .forward import one_face_numpy_forward, sparse_forward
from .tracking import FaceBaselines, iou

if TYPE_CHECKING:  # TensorFlow loads only when a model does
    from ..checkpoints import LoadedModel

STEPS = ("detect", "landmarks", "align", "gradient", "model", "draw")


@dataclass
class FacePrediction:
    """One face in a frame: its box in frame pixels and the model's class probabilities."""

    box: Box
    probabilities: np.ndarray
    # With subject_normalization: frames this face's reference has seen, and the warm-up it needs;
    # until then its probabilities are unreliable and the overlay says it is calibrating.
    reference_frames: int | None = None
    warmup: int = 0

    @property
    def calibrating(self) -> bool:
        return self.reference_frames is not None and self.reference_frames < self.warmup


@dataclass(frozen=True)
class FollowedFace:
    """A face followed by its own landmarks between whole-frame detections: where its box goes in the
    next frame, the offset of its landmarks' centroid from the centre of the box Haar gave it, and that
    centroid in this frame (frame pixels)."""

    box: Box
    offset: tuple[float, float]
    centroid: tuple[float, float]


def follow(box: Box, landmarks: np.ndarray, crop_shape: tuple[int, ...], frame_shape: tuple[int, ...],
           last: FollowedFace | None = None) -> FollowedFace:
    """The box for the next frame: the same size, placed so the landmarks' centroid, moved on as far as it
    moved since the last frame, keeps the offset it had when Haar placed the box. `last` None: Haar placed
    `box` in this frame, and it defines the offset."""
    h, w = frame_shape[:2]
    x0, y0 = max(box.x, 0), max(box.y, 0)  # the crop is the box clipped to the frame (crop_face)
    x1, y1 = min(box.x + box.w, w), min(box.y + box.h, h)
    cx = x0 + float(landmarks[:, 0].mean()) * (x1 - x0) / crop_shape[1]
    cy = y0 + float(landmarks[:, 1].mean()) * (y1 - y0) / crop_shape[0]
    if last is None:
        offset, (vx, vy) = (cx - (box.x + box.w / 2), cy - (box.y + box.h / 2)), (0.0, 0.0)
    else:  # a face on the move is cropped where it will be, not where it was (one frame behind)
        offset, (vx, vy) = last.offset, (cx - last.centroid[0], cy - last.centroid[1])
    moved = Box(int(round(cx + vx - offset[0] - box.w / 2)), int(round(cy + vy - offset[1] - box.h / 2)),
                box.w, box.h)
    return FollowedFace(moved, offset, (cx, cy))


class StepTimes:
    """Seconds per frame spent in each step, for the last `keep` frames.

    detect = grayscale + Haar + crop; landmarks = dlib on the crop; align = warp + landmark
    features; gradient = Laplacian + mask + resize to nn.input (the cnn's resize too);
    model = network input + predict; draw = overlay.
    """

    def __init__(self, keep: int = 100_000) -> None:
        self.frames: deque[np.ndarray] = deque(maxlen=keep)

    def new_frame(self) -> None:
        self.frames.append(np.zeros(len(STEPS)))

    def add(self, step: str, seconds: float) -> None:
        self.frames[-1][STEPS.index(step)] += seconds

    def array(self) -> np.ndarray:
        """[frames, steps] in seconds."""
        return np.array(self.frames).reshape(-1, len(STEPS))

    def summary(self) -> dict[str, dict[str, float]]:
        """Median and 95th percentile in milliseconds per step and for the total."""
        a = self.array() * 1000.0
        if not len(a):
            return {}
        columns = {**{s: a[:, i] for i, s in enumerate(STEPS)}, "total": a.sum(axis=1)}
        return {s: {"median_ms": float(np.median(v)), "p95_ms": float(np.percentile(v, 95))}
                for s, v in columns.items()}


def expected_input_shape(config: Settings, kind: str) -> list[int]:
    """The input shape this config's preprocessing builds for a model kind."""
    width, height = config.nn.input
    return {"cnn": [height, width, 1], "landmark_fnn": [4, 42], "gradient_fnn": [height * width]}[kind]


class FramePredictor:
    """Every face of a BGR frame through the training preprocessing and one batched model call."""

    def __init__(self, config: Settings, model: LoadedModel, detect_width: int | None = None) -> None:
        expected = expected_input_shape(config, model.kind)
        if list(model.input_shape) != expected:
            raise UserError(
                f"video: the {model.kind} model takes inputs of shape {list(model.input_shape)}, but this "
                f"config builds {expected} (nn.input {config.nn.input}); "
                f"use the config it was trained with")
        mismatch = input_settings_mismatch(model.input_settings, config.input_record(model.kind))
        if mismatch:
            raise UserError(f"video: the {model.kind} model's inputs were made otherwise: {mismatch}; "
                            f"use the config it was trained with")
        d = config.detection
        width = config.video_detect_width if detect_width is None else detect_width
        self.detector = HaarFaceDetector(d.scale_factor, d.min_neighbors, tuple(d.min_size), width)
        self.model = model
        # An attribute, so benchmarks/video_latency.py can time other ways of running the same weights.
        self.forward: Callable[[np.ndarray], np.ndarray] = (sparse_forward(model, config.video_precision)
                                                            or one_face_numpy_forward(model)
                                                            or model.predict)
        self.kind = model.kind
        self.classes = list(model.classes)
        # The model records the folder it was trained on; a blurred source means blur here too.
        hyper = model.description.get("hyperparameters", {})
        self.chain = FaceChain.from_config(config, gradient_fnn_source=hyper.get("source"))
        self.times = StepTimes()
        self.rejected: list[Box] = []  # the last frame's detections whose landmarks do not fit a face
        self.tracked: list[Box] = []  # the last frame's faces that went through the model
        # A chain that finds landmarks anyway can follow each face by them (no Haar between whole-frame
        # detections); the CNN's crop has none, so it searches near the last box.
        self.follow_landmarks = config.video_follow == "landmarks" and kind_of(model.kind).face_input != CROP
        self.followed: list[FollowedFace] = []
        self.redetect_every = config.video_redetect_every
        mode = config.subject_normalization  # the model's own (checked above against model.json)
        self.baselines = FaceBaselines(mode, config.video_baseline_warmup) if mode != "none" else None
        self._since_full = 0
        self.full_detections = 0
        self.rejected_total = 0
        if kind_of(self.kind).face_input != CROP:
            self.chain.load_alignment()  # now: a missing template or dlib model stops us before the first frame

    def predict(self, frame_bgr: np.ndarray) -> list[FacePrediction]:
        """Each face the align stage would keep, with its probabilities (largest face first)."""
        self.times.new_frame()
        t0 = time.perf_counter()
        gray = to_gray(frame_bgr)
        found = self._find_faces(gray)
        crops = [self.chain.crop(gray, box) for box, _ in found]
        self.times.add("detect", time.perf_counter() - t0)
        self.rejected = []
        inputs, kept, followed = [], [], []
        for (box, last), crop in zip(found, crops, strict=True):
            x, landmarks = self.chain.network_input_and_landmarks(self.kind, crop, self.times.add)
            if x is None:
                self.rejected.append(box)
                continue
            inputs.append(x)
            kept.append(box)
            if self.follow_landmarks and landmarks is not None:
                followed.append(follow(box, landmarks, crop.shape, gray.shape, last))
        self.followed = followed
        self.rejected_total += len(self.rejected)
        self.tracked = kept
        if not inputs:
            return []
        t0 = time.perf_counter()
        seen: list[int | None] = [None] * len(inputs)
        if self.baselines is not None:
            normalised = self.baselines.apply(kept, inputs)
            inputs = [x for x, _ in normalised]
            seen = [n for _, n in normalised]
        probabilities = self.forward(to_network_input(self.kind, np.stack(inputs)))
        self.times.add("model", time.perf_counter() - t0)
        warmup = self.baselines.warmup if self.baselines is not None else 0
        return [FacePrediction(box, p, n, warmup) for box, p, n in zip(kept, probabilities, seen, strict=True)]

    def _find_faces(self, gray: np.ndarray) -> list[tuple[Box, FollowedFace | None]]:
        """Each face's box, with what the last frame knew of it when it is followed by its landmarks (None:
        Haar placed it). Last frame's faces are followed (video_follow), or searched where they were; the whole frame is
        searched every `redetect_every` frames, when there were none, or when one of them is not found again."""
        if self.tracked and self._since_full + 1 < self.redetect_every:
            # dlib puts a face's landmarks on anything (a wall, an empty frame), so Haar confirms that
            # each followed box still holds a face; if one does not, the faces are searched as without
            # landmarks: near where they were, then in the whole frame.
            if self.follow_landmarks and all(self.detector.confirm(gray, f.box) for f in self.followed):
                self._since_full += 1
                faces = self.followed
                # Two faces that came together are followed once.
                return [(f.box, f) for i, f in enumerate(faces) if all(iou(f.box, g.box) < 0.5
                                                                      for g in faces[:i])]
            near = [self.detector.detect_near(gray, box) for box in self.tracked]
            if all(box is not None for box in near):
                self._since_full += 1
                return [(box, None) for i, box in enumerate(near) if all(iou(box, b) < 0.5 for b in near[:i])]
        self._since_full = 0
        self.full_detections += 1
        return [(box, None) for box in self.detector.detect(gray)]


def to_gray(frame: np.ndarray) -> np.ndarray:
    """A camera/video/photo frame as 8-bit grayscale, converted as read_gray converts photos."""
    if frame.ndim == 2:
        return frame
    return cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY if frame.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
