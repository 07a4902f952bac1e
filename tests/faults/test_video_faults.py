"""The video stage: no camera, a video file that ends (or is cut short), frames without a face."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from faultkit import (
    case,
    error_line,
    fill,
    london_photo,
    london_subjects,
    run_cli,
    shared_cnn,
    small_disk,
    snapshot,
    succeeded,
    workspace,
)

pytestmark = pytest.mark.slow
W, H = 640, 480
FACE, GRAY, NOISE = "face", "gray", "noise"
CLIP = [FACE] * 3 + [GRAY] * 3 + [NOISE] * 3 + [FACE] * 3


@pytest.fixture(scope="module")
def model(london: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return shared_cnn(london, tmp_path_factory)


def frame(kind: str, face: np.ndarray) -> np.ndarray:
    """A 640×480 frame: a London face on gray, plain gray, or the face's pixels shuffled (no face)."""
    canvas = np.full((H, W, 3), 128, np.uint8)
    if kind == GRAY:
        return canvas
    canvas[40:440, 120:520] = cv2.resize(face, (400, 400), interpolation=cv2.INTER_AREA)
    if kind == NOISE:
        flat = canvas.reshape(-1, 3).copy()
        np.random.default_rng(2).shuffle(flat)
        canvas = flat.reshape(canvas.shape)
    return canvas


def write_clip(path: Path, kinds: list[str], face: np.ndarray) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (W, H))
    assert writer.isOpened()
    for kind in kinds:
        writer.write(frame(kind, face))
    writer.release()


def count_frames(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    n = 0
    while capture.read()[0]:
        n += 1
    capture.release()
    return n


def video_sets(model: dict[str, Any], tmp: Path, source: str, **more: Any) -> dict[str, Any]:
    return workspace(tmp, video=True) | {
        "model_to_save": str(model["models"]), "video_model": "cnn", "video_source": source,
        "video_output": str(tmp / "out" / "annotated.mp4"), "video_predictions": str(tmp / "out" / "faces.csv"),
        "video_detect_width": 320} | more


@pytest.fixture(scope="module")
def played(model: dict[str, Any], london: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A 12-frame clip (faces, gray frames, noise frames, faces) through the video stage."""
    tmp = tmp_path_factory.mktemp("video")
    face = cv2.imread(str(london_photo(london, london_subjects(london)[20], "happy")))
    clip = tmp / "clip.mp4"
    write_clip(clip, CLIP, face)
    before = snapshot(clip, model["models"])
    run = run_cli(video_sets(model, tmp, str(clip)), tmp)
    with open(tmp / "out" / "faces.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {"run": run, "tmp": tmp, "clip": clip, "rows": rows, "before": before, "model": model, "face": face}


@case("video", "no camera")
def test_no_camera_is_one_line(model: dict[str, Any], tmp_path: Path) -> None:
    run = run_cli(video_sets(model, tmp_path, "7"), tmp_path)
    assert error_line(run) == "fer-compare: error: video_source: camera 7 cannot be opened (no camera?)"
    out = tmp_path / "out"
    assert not out.exists() or not any(out.iterdir())  # no empty or partial video left behind


@case("video", "a file that ends")
def test_a_video_file_that_ends_finishes_cleanly(played: dict[str, Any]) -> None:
    """Every frame is annotated, the run ends by itself with exit 0, the source and the model untouched."""
    run, out = played["run"], played["tmp"] / "out"
    succeeded(run)
    assert f"video: {len(CLIP)} frames" in run.stdout
    assert count_frames(out / "annotated.mp4") == len(CLIP)
    assert sorted(p.name for p in out.iterdir()) == ["annotated.mp4", "faces.csv"]  # no partial files left
    assert snapshot(played["clip"], played["model"]["models"]) == played["before"]


@case("video", "a file that ends")
def test_a_video_file_cut_short(played: dict[str, Any], tmp_path: Path) -> None:
    """A clip truncated mid-stream (mp4v keeps its index at the end): one line, exit 2, nothing written."""
    cut = tmp_path / "cut.mp4"
    data = played["clip"].read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])
    run = run_cli(video_sets(played["model"], tmp_path, str(cut)), tmp_path)
    assert error_line(run) == f"fer-compare: error: video_source: {cut} is not a readable video file"
    out = tmp_path / "out"
    assert not out.exists() or not any(out.iterdir())


@case("video", "frames without a face")
def test_frames_without_a_face_are_passed_through(played: dict[str, Any]) -> None:
    """Gray and noise frames get no prediction rows but stay in the video; face frames get one row each."""
    succeeded(played["run"])
    by_frame: dict[int, int] = {}
    for row in played["rows"]:
        by_frame[int(row["frame"])] = by_frame.get(int(row["frame"]), 0) + 1
    faces = [i for i, kind in enumerate(CLIP) if kind == FACE]
    assert by_frame == dict.fromkeys(faces, 1)
    assert {row["label"] for row in played["rows"]} <= set(played["model"]["classes"])


@case("video", "a full disk while writing the video or the predictions")
@pytest.mark.parametrize("full", ["video_output", "video_predictions"])
def test_a_full_disk_in_the_video_stage_is_one_line(played: dict[str, Any], tmp_path: Path, full: str) -> None:
    """VideoWriter reports no error: the video is read back before it counts. Nothing half-written is left."""
    disk = tmp_path / "disk"
    with small_disk(disk, 64, 16 * 1024) as fs:
        if fs["mounted"] and full == "video_predictions":
            fill(disk)
        target = disk / ("annotated.mp4" if full == "video_output" else "faces.csv")
        sets = video_sets(played["model"], tmp_path, str(played["clip"]), **{full: str(target)})
        run = run_cli(sets, tmp_path, max_file_bytes=fs["limit"])
        line = error_line(run)
        prefix = "video_output: " if full == "video_output" else ""
        assert line == f"fer-compare: error: {prefix}cannot write {target} ({fs['reason']})", line
        assert sorted(p.name for p in disk.iterdir() if p.name != "filler") == []  # no partial files
    out = tmp_path / "out"
    assert not out.exists() or sorted(p.name for p in out.iterdir()) == []  # neither file without the other
    assert snapshot(played["clip"], played["model"]["models"]) == played["before"]
