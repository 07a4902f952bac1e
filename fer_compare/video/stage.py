"""The video stage itself: source -> per-frame prediction -> tracking -> overlay -> outputs."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..files import fault_point
from ..progress import say
from ..settings import Settings
from .capture import FrameSource, open_source
from .choice import choose_kind, load_model
from .outputs import WINDOW, PredictionsCsv, VideoFile, Window, output_paths
from .overlay import draw
from .predict import FacePrediction, FramePredictor
from .tracking import IouTracker, Track


def run(config: Settings, run_dir: Path) -> dict[str, Any]:
    """The video stage: predictions on every face of every frame, an annotated video (or window) and a CSV."""
    kind, config = choose_kind(config)  # the settings themselves were checked with the config
    video_path, csv_path = output_paths(config, run_dir)
    source = open_source(config.video_source)
    try:
        model = load_model(config, kind)
        predictor = FramePredictor(config, model)
        stop = "; Ctrl-C stops" if source.live and config.video_max_frames <= 0 else ""
        say(f"  {source.description} -> {kind} ({', '.join(model.classes)}); detection at "
            f"{config.video_detect_width or 'full'} px wide (whole frame every {config.video_redetect_every}), "
            f"smoothing {config.video_smoothing}{stop}")
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


def _loop(config: Settings, source: FrameSource, predictor: FramePredictor, video_path: Path,
          csv_path: Path) -> dict[str, Any]:
    tracker = IouTracker(config.video_smoothing)
    table = PredictionsCsv(csv_path, predictor.classes)
    sink: VideoFile | Window | None = None
    want_window = bool(os.environ.get("DISPLAY")) and not config.video_output
    max_frames = config.video_max_frames
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
                fault_point("video:frame")  # tests: a signal after a known frame (files.fault_point)
                elapsed = time.perf_counter() - t0
                rate = 1.0 / elapsed if rate == 0.0 else 0.9 * rate + 0.1 / max(elapsed, 1e-6)
                if not keep_going:
                    break
        except KeyboardInterrupt:
            say("  stopped by the user (Ctrl-C); keeping the frames processed so far")
        seconds = time.perf_counter() - start
        table.finish()  # both files whole before either is renamed into place
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
