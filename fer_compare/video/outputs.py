"""The stage's outputs: the annotated video (or a window) and the per-face predictions CSV, each written
under a temporary name and renamed when complete."""

from __future__ import annotations

import contextlib
import csv
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import cv2
import numpy as np

from ..errors import UserError
from ..files import (
    WriteError,
    commit_file,
    is_inside,
    probe_write,
    sweep_temporaries,
    temporary_file,
    write_failed,
)
from ..settings import Settings
from .capture import _quiet_stderr

if TYPE_CHECKING:
    from .predict import FacePrediction
    from .tracking import Track

WINDOW = "fer_compare"


def _temporary(path: Path) -> Path:
    """A fresh hidden file beside `path` with the same suffix (VideoWriter picks the container by suffix);
    named with our pid, so a later run can sweep it if we are killed (files.sweep_temporaries)."""
    fd, tmp = temporary_file(path, suffix=f".partial{path.suffix}")
    os.close(fd)
    return Path(tmp)


def _commit(tmp: Path, path: Path) -> None:
    """Give the finished file normal permissions (mkstemp makes 0600) and its final name."""
    try:
        commit_file(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise write_failed(path, e) from None


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
            # FFmpeg's "Failed to write frame" warnings would fill stderr on a full disk; the file is
            # checked when it is closed (_unreadable_video) and the failure said in one line.
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
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
        # VideoWriter reports no write error (a full disk included): read the file back before it counts.
        problem = _unreadable_video(self._tmp, self.frames)
        if problem:
            self.abort()
            raise WriteError(f"video_output: cannot write {self.path} ({problem})")
        _commit(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)


def _unreadable_video(path: Path, frames: int) -> str | None:
    """Why the video just written is not whole (its frames cannot be read back), or None."""
    with _quiet_stderr():
        capture = cv2.VideoCapture(str(path))
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else -1
        capture.release()
    if count == frames:
        return None
    try:
        full = os.statvfs(path.parent).f_bavail == 0
    except OSError:
        full = False
    if full:
        return "No space left on device"
    return f"the file holds {max(count, 0)} of {frames} frames"


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
        self.classes = classes
        self.rows = 0
        self._row(["frame", "track", "x", "y", "w", "h", "label",
                   *[f"raw_{c}" for c in classes], *[f"smoothed_{c}" for c in classes]])

    def _row(self, row: list[Any]) -> None:
        try:
            self._writer.writerow(row)
        except OSError as e:  # a full disk: one line, and no partial file left
            self.abort()
            raise write_failed(self.path, e) from None

    def write(self, frame: int, face: FacePrediction, track: Track) -> None:
        b = face.box
        label = "calibrating" if face.calibrating else self.classes[int(np.argmax(track.smoothed))]
        raw = [f"{p:.8f}" for p in face.probabilities]
        smoothed = [f"{p:.8f}" for p in track.smoothed]
        self._row([frame, track.id, b.x, b.y, b.w, b.h, label, *raw, *smoothed])
        self.rows += 1

    def finish(self) -> None:
        """Flush and close (where a full disk shows), before the video or this file gets its final name."""
        try:
            self._file.close()
        except OSError as e:
            self.abort()
            raise write_failed(self.path, e) from None

    def commit(self) -> Path:
        self.finish()
        _commit(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()  # a full disk fails the final flush again; the file goes anyway
        self._tmp.unlink(missing_ok=True)


def output_paths(config: Settings, run_dir: Path) -> tuple[Path, Path]:
    """video_output and video_predictions (default: in the run folder); refuses to replace a named file."""
    paths = []
    source = config.video_source
    inputs = {key: Path(config.path(key)) for key in ("model_to_load", "model_to_save", "landmark_model",
                                                     "align_template") if config.path(key)}
    if isinstance(source, str) and source:
        inputs["video_source"] = Path(source)
    for key, default in (("video_output", "video.mp4"), ("video_predictions", "video_predictions.csv")):
        named = config.path(key)
        path = Path(named) if named else run_dir / default
        for in_key, folder in inputs.items():  # overwrite: true replaces earlier outputs, never an input
            if is_inside(path, folder):
                raise UserError(f"{key}: {path} is {'the' if path.resolve() == folder.resolve() else 'inside the'} "
                                f"input {in_key}; an input is never overwritten, choose another name")
        if paths and path.resolve() == paths[0].resolve():
            raise UserError(f"{key}: {path} is also video_output; choose another name")
        if named and path.exists() and not config.overwrite:
            raise UserError(f"{key}: {path} already exists; choose another name or set overwrite: true")
        if path.is_dir():
            raise UserError(f"{key}: {path} is a folder; give a file name")
        if path.parent.exists() and not path.parent.is_dir():
            raise UserError(f"{key}: {path.parent} is a file, not a folder")
        try:  # now, not after the first frames were processed
            path.parent.mkdir(parents=True, exist_ok=True)
            probe_write(path.parent)
            sweep_temporaries(path.parent, recursive=False)  # a killed run's partial video or CSV
        except OSError as e:
            raise UserError(f"{key}: cannot write to {path.parent} ({e.strerror})") from None
        paths.append(path)
    return paths[0], paths[1]
