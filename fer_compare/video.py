"""The video stage: camera, video file or image folder -> the stages' preprocessing per face -> a model."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import cv2
import numpy as np

from .config import MODEL_NAMES, input_settings, input_settings_mismatch
from .data import network_image, to_network_input
from .errors import UserError
from .face.alignment import FaceAligner
from .face.detection import Box, HaarFaceDetector, crop_face
from .face.features import landmark_features
from .face.gradient import masked_gradient
from .face.landmarks import LandmarkPredictor
from .face.template import Template
from .files import is_image
from .nn.numpy_forward import NUMPY_KINDS, Forward, numpy_forward
from .nn.sparse import SparseReluStack
from .progress import say
from .stages.align import MAX_ALIGNMENT_ERROR, alignment_error
from .stages.runner import probe_write

if TYPE_CHECKING:  # TensorFlow loads only when a model does
    from .checkpoints import LoadedModel

STEPS = ("detect", "landmarks", "align", "gradient", "model", "draw")
DEFAULT_FPS = 25.0
WINDOW = "fer_compare"
# Webcams report 0 or nonsense (e.g. 1000) fps; outside this range the writer uses DEFAULT_FPS.
_FPS_RANGE = (1.0, 240.0)


# --- per-frame prediction ---------------------------------------------------------------------------


@dataclass
class FacePrediction:
    """One face in a frame: its box in frame pixels and the model's class probabilities."""

    box: Box
    probabilities: np.ndarray


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


def expected_input_shape(config: dict[str, Any], kind: str) -> list[int]:
    """The input shape this config's preprocessing builds for a model kind."""
    width, height = config["nn"]["input"]
    return {"cnn": [height, width, 1], "landmark_fnn": [4, 42], "gradient_fnn": [height * width]}[kind]


class FramePredictor:
    """Every face of a BGR frame through the training preprocessing and one batched model call."""

    def __init__(self, config: dict[str, Any], model: LoadedModel, detect_width: int | None = None) -> None:
        expected = expected_input_shape(config, model.kind)
        if list(model.input_shape) != expected:
            raise UserError(
                f"video: the {model.kind} model takes inputs of shape {list(model.input_shape)}, but this "
                f"config builds {expected} (nn.input {config['nn']['input']}); "
                f"use the config it was trained with")
        mismatch = input_settings_mismatch(model.input_settings, input_settings(config, model.kind))
        if mismatch:
            raise UserError(f"video: the {model.kind} model's inputs were made otherwise: {mismatch}; "
                            f"use the config it was trained with")
        d = config["detection"]
        width = config["video_detect_width"] if detect_width is None else detect_width
        self.detector = HaarFaceDetector(d["scale_factor"], d["min_neighbors"], tuple(d["min_size"]), width)
        self.model = model
        # An attribute, so benchmarks/video_latency.py can time other ways of running the same weights.
        self.forward: Callable[[np.ndarray], np.ndarray] = (sparse_forward(model, config["video_precision"])
                                                            or one_face_numpy_forward(model) or model.predict)
        self.kind = model.kind
        self.classes = list(model.classes)
        self.size = tuple(config["image"]["size"])
        self.input_size = tuple(config["nn"]["input"])
        self.ksize = config["gradient_options"]["ksize"]
        self.negative = config["gradient_options"]["negative"]
        # The model records the folder it was trained on; a blurred source means blur here too.
        hyper = model.description.get("hyperparameters", {})
        self.source = None
        if self.kind == "gradient_fnn":
            self.source = hyper.get("source", config["nn"]["gradient_fnn"]["source"])
        self.blur = config["blur_options"]
        self.times = StepTimes()
        self.rejected: list[Box] = []  # the last frame's detections whose landmarks do not fit a face
        self.tracked: list[Box] = []  # the last frame's faces that went through the model
        self.redetect_every = config["video_redetect_every"]
        self._since_full = 0
        self.full_detections = 0
        self.rejected_total = 0
        if self.kind != "cnn":
            self.landmarks = LandmarkPredictor(config["landmark_model"])
            self.template = Template(config["align_template"], self.landmarks, self.size)
            self.aligner = FaceAligner(self.template.landmarks, self.size)
            lm = self.template.landmarks
            self.iod = float(np.linalg.norm(lm[36:42].mean(0) - lm[42:48].mean(0)))

    def predict(self, frame_bgr: np.ndarray) -> list[FacePrediction]:
        """Each face the align stage would keep, with its probabilities (largest face first)."""
        self.times.new_frame()
        t0 = time.perf_counter()
        gray = to_gray(frame_bgr)
        boxes = self._find_faces(gray)
        crops = [crop_face(gray, box, self.size) for box in boxes]
        self.times.add("detect", time.perf_counter() - t0)
        self.rejected = []
        inputs, kept = [], []
        for box, crop in zip(boxes, crops, strict=True):
            x = self._network_input(crop)
            if x is None:
                self.rejected.append(box)
                continue
            inputs.append(x)
            kept.append(box)
        self.rejected_total += len(self.rejected)
        self.tracked = kept
        if not inputs:
            return []
        t0 = time.perf_counter()
        probabilities = self.forward(to_network_input(self.kind, np.stack(inputs)))
        self.times.add("model", time.perf_counter() - t0)
        return [FacePrediction(box, p) for box, p in zip(kept, probabilities, strict=True)]

    def _find_faces(self, gray: np.ndarray) -> list[Box]:
        """Last frame's faces searched where they were; the whole frame every `redetect_every` frames,
        when there were none, or when one of them is not found again."""
        if self.tracked and self._since_full + 1 < self.redetect_every:
            near = [self.detector.detect_near(gray, box) for box in self.tracked]
            if all(box is not None for box in near):
                self._since_full += 1
                # Two faces that came together are found once.
                return [box for i, box in enumerate(near) if all(iou(box, b) < 0.5 for b in near[:i])]
        self._since_full = 0
        self.full_detections += 1
        return self.detector.detect(gray)

    def _network_input(self, crop: np.ndarray) -> np.ndarray | None:
        """What the training stage folder holds for this crop (uint8 image or [4, 42] features), or None."""
        if self.kind == "cnn":
            t0 = time.perf_counter()
            x = network_image(crop, self.input_size)
            self.times.add("gradient", time.perf_counter() - t0)
            return x
        t0 = time.perf_counter()
        landmarks = self.landmarks(crop)
        t1 = time.perf_counter()
        self.times.add("landmarks", t1 - t0)
        aligned, moved = self.aligner(crop, landmarks)
        # The align stage drops Haar false positives this way; the models never saw such crops.
        if alignment_error(moved, self.template.landmarks) / self.iod > MAX_ALIGNMENT_ERROR:
            self.times.add("align", time.perf_counter() - t1)
            return None
        if self.kind == "landmark_fnn":
            x = landmark_features(moved)
            self.times.add("align", time.perf_counter() - t1)
            return x
        t2 = time.perf_counter()
        self.times.add("align", t2 - t1)
        x = self._gradient_image(crop, aligned, moved)
        self.times.add("gradient", time.perf_counter() - t2)
        return x

    def _gradient_image(self, crop: np.ndarray, aligned: np.ndarray, moved: np.ndarray) -> np.ndarray:
        """The gradient_fnn's image: masked Laplacian, or the blur stage's output when it trained on that."""
        if self.source == "blurred":
            base = {"formatted": crop, "aligned": aligned}.get(self.blur["source"])
            if base is None:
                base = masked_gradient(aligned, moved, self.ksize, self.negative)
            k = self.blur["ksize"]
            image = cv2.GaussianBlur(base, (k, k), float(self.blur["sigma"]))
        else:
            image = masked_gradient(aligned, moved, self.ksize, self.negative)
        return network_image(image, self.input_size)


def matches_signature(forward: Callable[[np.ndarray], np.ndarray], model: LoadedModel, atol: float = 1e-5) -> bool:
    """Whether `forward` gives the serving signature's probabilities on probe inputs (dense, sparse, zero)."""
    rng = np.random.default_rng(0)
    dense = rng.random([1, *model.input_shape], dtype=np.float32)
    probes = [dense, dense * (rng.random(dense.shape) < 0.3), np.zeros_like(dense)]
    return all(np.allclose(forward(p), model.predict(p), atol=atol) for p in probes)


def sparse_forward(model: LoadedModel, precision: str = "float32") -> Callable[[np.ndarray], np.ndarray] | None:
    """gradient_fnn's probabilities reading only the weight rows a frame's face needs (nn/sparse.py), or None.

    One face per frame is the live case; several at once go through the signature, which reads
    the weights once for all of them. `precision` "int8" (video_precision) reads int8 rows with
    per-row scales instead, through the same kernel, checked in float32 against the signature first.
    """
    stack = model.dense_stack()
    if stack is None:
        return None
    # Views of the signature's own weights (Tensor.numpy() would copy 470 MB).
    layers = [([np.asarray(w.value()) for w in blocks], np.asarray(b.value())) for blocks, b in stack]
    forward = _for_one_face(SparseReluStack(layers), model)
    if forward is None or precision == "float32":
        return forward
    one = SparseReluStack(layers, precision=precision)
    return lambda x: one(x) if len(x) == 1 else model.predict(x)


def one_face_numpy_forward(model: LoadedModel) -> Callable[[np.ndarray], np.ndarray] | None:
    """The CNN's or landmark FNN's probabilities for one face in NumPy (nn/numpy_forward.py), or None.

    For one face the signature's call costs more than its math; several faces go through the
    signature in one batch.
    """
    if model.kind not in NUMPY_KINDS:
        return None
    one = numpy_forward(model.kind, model.weights())
    return None if one is None else _for_one_face(one, model)


def _for_one_face(one: Forward, model: LoadedModel) -> Forward | None:
    """`one` for a frame with one face, the signature for several; None if `one` disagrees with the signature."""
    if not matches_signature(one, model):
        return None

    def forward(x: np.ndarray) -> np.ndarray:
        return one(x) if len(x) == 1 else model.predict(x)

    return forward


def to_gray(frame: np.ndarray) -> np.ndarray:
    """A camera/video/photo frame as 8-bit grayscale, converted as read_gray converts photos."""
    if frame.ndim == 2:
        return frame
    return cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY if frame.shape[2] == 4 else cv2.COLOR_BGR2GRAY)


# --- tracking and smoothing ------------------------------------------------------------------------


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


# --- drawing ---------------------------------------------------------------------------------------

_GREEN = (60, 200, 60)
_GRAY = (150, 150, 150)
_WHITE = (255, 255, 255)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def draw(frame: np.ndarray, faces: list[FacePrediction], tracks: list[Track], classes: list[str],
         fps: float, rejected: Sequence[Box] = ()) -> np.ndarray:
    """Boxes, smoothed label and confidence, one bar per class, and the frame rate; drawn in place."""
    height, width = frame.shape[:2]
    for box in rejected:
        cv2.rectangle(frame, (box.x, box.y), (box.x + box.w, box.y + box.h), _GRAY, 1)
    row, bar = 14, 80
    name_width = max(cv2.getTextSize(c, _FONT, 0.4, 1)[0][0] for c in classes) + 6
    for face, track in zip(faces, tracks, strict=True):
        b = face.box
        best = int(np.argmax(track.smoothed))
        cv2.rectangle(frame, (b.x, b.y), (b.x + b.w, b.y + b.h), _GREEN, 2)
        label = f"{classes[best]} {track.smoothed[best]:.0%}"
        _text(frame, label, (b.x, max(b.y - 8, 16)), 0.6)
        panel = row * len(classes)
        y0 = b.y + b.h + 6 if b.y + b.h + 6 + panel <= height else max(b.y + 4, 0)
        x0 = min(max(b.x, 0), max(width - name_width - bar - 4, 0))
        for k, name in enumerate(classes):
            y = y0 + k * row
            _text(frame, name, (x0, y + 10), 0.4)
            filled = round(bar * float(track.smoothed[k]))
            left, top, bottom = x0 + name_width, y + 2, y + row - 2
            cv2.rectangle(frame, (left, top), (left + bar, bottom), _GRAY, 1)
            if filled:
                cv2.rectangle(frame, (left, top), (left + filled, bottom), _GREEN, -1)
    if fps > 0:
        _text(frame, f"{fps:.1f} fps", (8, 22), 0.6)
    return frame


def _text(frame: np.ndarray, text: str, origin: tuple[int, int], scale: float) -> None:
    """White text on a black box, readable on any background."""
    # A filled box costs a tenth of a thick outline stroke (measured: 6 vs 60 us per label).
    (w, h), base = cv2.getTextSize(text, _FONT, scale, 1)
    x, y = origin
    cv2.rectangle(frame, (x - 2, y - h - 2), (x + w + 2, y + base), (0, 0, 0), -1)
    cv2.putText(frame, text, origin, _FONT, scale, _WHITE, 1, cv2.LINE_AA)


# --- sources ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Hide what OpenCV and FFmpeg print on fd 2 while probing a source; our UserError says it in one line."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class FrameSource:
    """BGR frames from a camera, a video file or a folder of images, with the source's frame rate."""

    def __init__(self, description: str, fps: float, frames: Iterator[np.ndarray],
                 capture: cv2.VideoCapture | None = None, live: bool = False) -> None:
        self.description = description
        self.live = live
        self.fps = fps if _FPS_RANGE[0] <= fps <= _FPS_RANGE[1] else DEFAULT_FPS
        self._frames = frames
        self._capture = capture

    def __iter__(self) -> Iterator[np.ndarray]:
        return self._frames

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()


def open_source(value: int | str) -> FrameSource:
    """video_source: a camera index, a video file, or a folder whose images are the frames in name order."""
    if isinstance(value, str) and value.strip().isdigit() and not Path(value).exists():
        value = int(value)
    if isinstance(value, int):
        if value < 0:  # OpenCV's capture crashes on some negative indices
            raise UserError(f"video_source: camera index {value}; expected 0 or more")
        with _quiet_stderr():
            capture = cv2.VideoCapture(value)
        if not capture.isOpened():
            capture.release()
            raise UserError(f"video_source: camera {value} cannot be opened (no camera?)")
        fps = capture.get(cv2.CAP_PROP_FPS)
        return FrameSource(f"camera {value}", fps, _capture_frames(capture, None), capture, live=True)
    path = Path(value).expanduser()
    if not str(value):
        raise UserError("video_source: empty; give a camera index, a video file or a folder of images")
    if not path.exists():
        raise UserError(f"video_source: {path} does not exist")
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.is_file() and is_image(p))
        if not images:
            raise UserError(f"video_source: {path} has no images")
        return FrameSource(f"{len(images)} images in {path}", DEFAULT_FPS, _folder_frames(images))
    with _quiet_stderr():
        capture = cv2.VideoCapture(str(path))
        ok, first = capture.read() if capture.isOpened() else (False, None)
    if not ok or first is None:
        capture.release()
        raise UserError(f"video_source: {path} is not a readable video file")
    return FrameSource(str(path), capture.get(cv2.CAP_PROP_FPS), _capture_frames(capture, first), capture)


def _capture_frames(capture: cv2.VideoCapture, first: np.ndarray | None) -> Iterator[np.ndarray]:
    if first is not None:
        yield first
    while True:
        ok, frame = capture.read()
        if not ok or frame is None:
            return
        yield frame


def _folder_frames(images: list[Path]) -> Iterator[np.ndarray]:
    for path in images:
        frame = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)
        if frame is None:
            say(f"  warning: {path}: not a readable image; skipped")
            continue
        yield frame


# --- outputs ---------------------------------------------------------------------------------------


def _temporary(path: Path) -> Path:
    """A fresh hidden file beside `path` with the same suffix (VideoWriter picks the container by suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def _commit(tmp: Path, path: Path) -> None:
    """Give the finished file normal permissions (mkstemp makes 0600) and its final name."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


class VideoFile:
    """Annotated frames written with mp4v to a temporary name, renamed into place when complete."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path = path
        self.fps = fps
        self.size: tuple[int, int] | None = None
        self.frames = 0
        self._tmp: Path | None = None
        self._writer: cv2.VideoWriter | None = None

    def write(self, frame: np.ndarray) -> bool:
        """Write one frame (letterboxed to the first frame's size); always True (keep going)."""
        if self._writer is None:
            self.size = (frame.shape[1], frame.shape[0])
            self._tmp = _temporary(self.path)
            with _quiet_stderr():
                fourcc = cv2.VideoWriter_fourcc(*"mp4v")
                self._writer = cv2.VideoWriter(str(self._tmp), fourcc, self.fps, self.size)
            if not self._writer.isOpened():
                self.abort()
                raise UserError(f"video_output: cannot write an mp4v video to {self.path} "
                                f"(use a name ending in .mp4)")
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = letterbox(frame, self.size)
        self._writer.write(frame)
        self.frames += 1
        return True

    def commit(self) -> Path | None:
        """Close the video and rename it into place; None when no frame was written."""
        if self._writer is None:
            return None
        self._writer.release()
        self._writer = None
        _commit(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)


class Window:
    """A cv2.imshow window; q or Esc ends the run."""

    def write(self, frame: np.ndarray) -> bool:
        cv2.imshow(WINDOW, frame)
        return (cv2.waitKey(1) & 0xFF) not in (ord("q"), 27)

    def commit(self) -> None:
        cv2.destroyAllWindows()

    def abort(self) -> None:
        self.commit()


def letterbox(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`frame` scaled to fit `size` (width, height), centred on black."""
    width, height = size
    scale = min(width / frame.shape[1], height / frame.shape[0])
    w, h = max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale))
    out = np.zeros((height, width, 3), np.uint8)
    x, y = (width - w) // 2, (height - h) // 2
    out[y:y + h, x:x + w] = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
    return out


class PredictionsCsv:
    """One row per face per frame: frame, track, box, label, raw and smoothed probability per class."""

    def __init__(self, path: Path, classes: list[str]) -> None:
        self.path = path
        self._tmp = _temporary(path)
        self._file: TextIO = open(self._tmp, "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self._writer.writerow(["frame", "track", "x", "y", "w", "h", "label",
                               *[f"raw_{c}" for c in classes], *[f"smoothed_{c}" for c in classes]])
        self.classes = classes
        self.rows = 0

    def write(self, frame: int, face: FacePrediction, track: Track) -> None:
        b = face.box
        label = self.classes[int(np.argmax(track.smoothed))]
        raw = [f"{p:.8f}" for p in face.probabilities]
        smoothed = [f"{p:.8f}" for p in track.smoothed]
        self._writer.writerow([frame, track.id, b.x, b.y, b.w, b.h, label, *raw, *smoothed])
        self.rows += 1

    def commit(self) -> Path:
        self._file.close()
        _commit(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)


def output_paths(config: dict[str, Any], run_dir: Path) -> tuple[Path, Path]:
    """video_output and video_predictions (default: in the run folder); refuses to replace a named file."""
    paths = []
    for key, default in (("video_output", "video.mp4"), ("video_predictions", "video_predictions.csv")):
        named = config[key]
        path = Path(named) if named else run_dir / default
        if named and path.exists() and not config["overwrite"]:
            raise UserError(f"{key}: {path} already exists; choose another name or set overwrite: true")
        if path.is_dir():
            raise UserError(f"{key}: {path} is a folder; give a file name")
        if path.parent.exists() and not path.parent.is_dir():
            raise UserError(f"{key}: {path.parent} is a file, not a folder")
        try:  # now, not after the first frames were processed
            path.parent.mkdir(parents=True, exist_ok=True)
            probe_write(path.parent)
        except OSError as e:
            raise UserError(f"{key}: cannot write to {path.parent} ({e.strerror})") from None
        paths.append(path)
    return paths[0], paths[1]


# --- model choice ----------------------------------------------------------------------------------


def latest_winner(runs_dir: Path) -> tuple[str, Path] | None:
    """The winning model of the newest comparison.json under runs_dir, and that file."""
    found = sorted(runs_dir.glob("*/comparison.json"), key=lambda p: (p.stat().st_mtime, p.parent.name))
    if not found:
        return None
    path = found[-1]
    try:
        winner = json.loads(path.read_text(encoding="utf-8"))["winner"]["model"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(f"video_model: not set, and {path} has no readable winner; set video_model") from None
    return winner, path


def exported_kinds(folder: Path) -> list[str]:
    """The kinds of model that model_to_load holds: one export, or a folder of exports (<folder>/<kind>)."""
    from .checkpoints import DESCRIPTION

    kinds = []
    for export in (folder, *(folder / k for k in MODEL_NAMES)):
        desc = export / DESCRIPTION
        if (export / "saved_model.pb").is_file() and desc.is_file():
            try:
                kinds.append(json.loads(desc.read_text(encoding="utf-8"))["kind"])
            except (OSError, ValueError, KeyError, TypeError):
                raise UserError(f"model_to_load: {desc} is not a readable model description") from None
    return kinds


def choose_kind(config: dict[str, Any]) -> str:
    """video_model, else the one model model_to_load holds, else the winner of the newest comparison under runs_dir."""
    kind = config["video_model"]
    if kind:
        if kind not in MODEL_NAMES:
            raise UserError(f"video_model: {kind!r} is not one of {', '.join(MODEL_NAMES)}")
        return kind
    if config["model_to_load"]:
        kinds = exported_kinds(Path(config["model_to_load"]))
        if len(kinds) == 1:
            say(f"  model: {kinds[0]}, from model_to_load")
            return kinds[0]
    found = latest_winner(Path(config["runs_dir"]))
    if found is None:
        raise UserError(f"video_model: not set, and no comparison.json under {config['runs_dir']} to take "
                        f"the winner from; set video_model to one of {', '.join(MODEL_NAMES)} "
                        f"or run the test stage")
    kind, path = found
    if kind not in MODEL_NAMES:
        raise UserError(f"video_model: {path} names an unknown winner {kind!r}; set video_model")
    say(f"  model: {kind}, the winner in {path}")
    export = _export_of(path, kind)
    if export is not None and not config["model_to_load"]:
        config["model_to_load"] = str(export)  # the very model that comparison trained and exported
        say(f"  using the model that run exported: {export}")
    return kind


def _export_of(comparison: Path, kind: str) -> Path | None:
    """The SavedModel the comparison's run exported for `kind`, if it did and it is still there."""
    try:
        exported = json.loads(comparison.read_text(encoding="utf-8")).get("exports", {}).get(kind)
    except (OSError, ValueError):
        return None
    if exported and (Path(exported) / "saved_model.pb").is_file():
        return Path(exported)
    return None


def load_model(config: dict[str, Any], kind: str) -> LoadedModel:
    """The exported SavedModel: model_to_load (<path>/<kind> or one export), else model_to_save/<kind>."""
    from .checkpoints import LoadedModel

    if config["model_to_load"]:
        from .evaluation import load_trained

        return load_trained(config, kind)
    path = Path(config["model_to_save"]) / kind
    if not config["video_model"]:
        say(f"  note: that comparison exported no model; using {path}, which may come from another run")
    if not (path / "saved_model.pb").is_file():
        raise UserError(f"video: no exported {kind} model at {path}; "
                        f"train it with save: true or set model_to_load")
    model = LoadedModel(path, "model_to_save")
    if model.kind != kind:
        raise UserError(f"model_to_save: {path} holds a {model.kind} model, not a {kind}")
    return model


# --- the stage -------------------------------------------------------------------------------------


def run(config: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """The video stage: predictions on every face of every frame, an annotated video (or window) and a CSV."""
    kind = choose_kind(config)  # the settings themselves were checked with the config
    video_path, csv_path = output_paths(config, run_dir)
    source = open_source(config["video_source"])
    try:
        model = load_model(config, kind)
        predictor = FramePredictor(config, model)
        stop = "; Ctrl-C stops" if source.live and config["video_max_frames"] <= 0 else ""
        say(f"  {source.description} -> {kind} ({', '.join(model.classes)}); detection at "
            f"{config['video_detect_width'] or 'full'} px wide (whole frame every {config['video_redetect_every']}), "
            f"smoothing {config['video_smoothing']}{stop}")
        return _loop(config, source, predictor, video_path, csv_path)
    finally:
        source.close()


def annotate(frame: np.ndarray, predictor: FramePredictor, tracker: IouTracker,
             fps: float) -> tuple[list[FacePrediction], list[Track]]:
    """One frame's work: predict every face, track and smooth, draw the overlay in place (timed as 'draw')."""
    faces = predictor.predict(frame)
    tracks = tracker.update(faces)
    t0 = time.perf_counter()
    draw(frame, faces, tracks, predictor.classes, fps, predictor.rejected)
    predictor.times.add("draw", time.perf_counter() - t0)
    return faces, tracks


def _loop(config: dict[str, Any], source: FrameSource, predictor: FramePredictor, video_path: Path,
          csv_path: Path) -> dict[str, Any]:
    tracker = IouTracker(config["video_smoothing"])
    table = PredictionsCsv(csv_path, predictor.classes)
    sink: VideoFile | Window | None = None
    want_window = bool(os.environ.get("DISPLAY")) and not config["video_output"]
    max_frames = config["video_max_frames"]
    frames = 0
    rate = 0.0
    start = time.perf_counter()
    try:
        try:
            for frame in source:
                if max_frames > 0 and frames >= max_frames:
                    break
                t0 = time.perf_counter()
                faces, tracks = annotate(frame, predictor, tracker, rate)
                for face, track in zip(faces, tracks, strict=True):
                    table.write(frames, face, track)
                if sink is None:
                    sink = _open_sink(frame, want_window, video_path, source.fps)
                keep_going = sink.write(frame)
                frames += 1
                elapsed = time.perf_counter() - t0
                rate = 1.0 / elapsed if rate == 0.0 else 0.9 * rate + 0.1 / max(elapsed, 1e-6)
                if not keep_going:
                    break
        except KeyboardInterrupt:
            say("  stopped by the user (Ctrl-C); keeping the frames processed so far")
        seconds = time.perf_counter() - start
        written_video = sink.commit() if sink is not None else None
        written_csv = table.commit()
    except BaseException:
        if sink is not None:
            sink.abort()
        table.abort()
        raise
    fps = frames / seconds if seconds > 0 else 0.0
    result = {
        "frames": frames, "faces": table.rows, "rejected": predictor.rejected_total,
        "whole_frame_detections": predictor.full_detections, "seconds": seconds,
        "fps": fps, "model": predictor.kind, "classes": predictor.classes, "source": source.description,
        "video_output": str(written_video) if written_video else "", "video_predictions": str(written_csv),
        "timings_ms": predictor.times.summary(),
    }
    shown = (f"wrote {written_video}" if written_video else "shown in a window" if isinstance(sink, Window)
             else "no frame to write")
    say(f"  video: {frames} frames, {table.rows} faces in {seconds:.1f} s ({fps:.1f} frames/s) "
        f"with {predictor.kind}; {shown}; predictions in {written_csv}"
        + (f"; {predictor.rejected_total} detections rejected (landmarks do not fit a face)"
           if predictor.rejected_total else ""))
    return result


def _open_sink(frame: np.ndarray, want_window: bool, video_path: Path, fps: float) -> VideoFile | Window:
    """A window when a display is wanted and OpenCV has GUI support, else the video file."""
    if want_window:
        window = Window()
        try:
            cv2.imshow(WINDOW, frame)
            cv2.waitKey(1)
            return window
        except cv2.error:
            say(f"  no GUI support in this OpenCV build; writing to {video_path}")
    return VideoFile(video_path, fps)
