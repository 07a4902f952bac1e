"""Frame sources: a camera, a video file or a folder of images, as BGR frames with a frame rate."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError
from ..files import is_image
from ..progress import say

DEFAULT_FPS = 25.0
# Webcams report 0 or nonsense (e.g. 1000) fps; outside this range the writer uses DEFAULT_FPS.
_FPS_RANGE = (1.0, 240.0)


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
