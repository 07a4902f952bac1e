"""The stage's outputs: the annotated video (or a window) and the per-face predictions CSV, each written
under a temporary name and renamed when complete."""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import cv2
import numpy as np

from ..errors import UserError
from ..files import probe_write
from .capture import _quiet_stderr

if TYPE_CHECKING:
    from .predict import FacePrediction
    from .tracking import Track

WINDOW = "fer_compare"


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
