"""The synthetic demo set: layout, detectable faces, visible expressions, safety and idempotence."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_compare.datasets.demo import MARKER, build_demo_set
from fer_compare.emotions import EMOTIONS
from fer_compare.errors import UserError
from fer_compare.face.detection import HaarFaceDetector
from fer_compare.face.landmarks import LandmarkPredictor
from fer_compare.files import read_gray

SUBJECTS = [f"{face}{i:02d}" for face in ("hopper", "astronaut") for i in range(1, 7)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    out = tmp_path_factory.mktemp("demo") / "demo-synthetic"
    return out, build_demo_set(out)


def _read(out: Path, subject: str, emotion: str) -> np.ndarray:
    image = cv2.imread(str(out / emotion / f"{subject}_{emotion}.png"), cv2.IMREAD_UNCHANGED)
    assert image is not None
    return image


def _landmarks(image: np.ndarray, predictor: LandmarkPredictor) -> np.ndarray:
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    boxes = HaarFaceDetector().detect(gray)
    assert len(boxes) == 1
    b = boxes[0]
    return predictor(gray, (b.x, b.y, b.w, b.h))


def test_layout(demo: tuple[Path, int]) -> None:
    out, n = demo
    assert n == 96
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(EMOTIONS)
    assert (out / MARKER).is_file()
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "SYNTHETIC" in readme and "Hopper" in readme and "Collins" in readme
    files = sorted(out.glob("*/*.png"))
    assert len(files) == 96
    assert not list(out.rglob("*.tmp"))
    for emotion in EMOTIONS:
        names = sorted(p.name for p in (out / emotion).iterdir())
        assert names == sorted(f"{s}_{emotion}.png" for s in SUBJECTS)
    subjects = {re.match(r"^([^_.]+)", p.name).group(1) for p in files}
    assert subjects == set(SUBJECTS)
    image = _read(out, "hopper01", "neutral")
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8


def test_every_image_has_exactly_one_face(demo: tuple[Path, int]) -> None:
    out, _ = demo
    detector = HaarFaceDetector()  # the thesis's parameters: scaleFactor 1.15, minNeighbors 5
    bad = []
    for path in sorted(out.glob("*/*.png")):
        gray = read_gray(path)  # as the format stage reads it
        boxes = detector.detect(gray)
        if len(boxes) != 1:
            bad.append((path.name, len(boxes)))
        else:
            assert 0.3 * gray.shape[1] < boxes[0].w < 0.75 * gray.shape[1]
    assert not bad


def _iod(lm: np.ndarray) -> float:
    return float(np.linalg.norm(lm[36:42].mean(0) - lm[42:48].mean(0)))


def _corners(lm: np.ndarray) -> float:
    """Mouth corners below the nose tip, in inter-ocular distances."""
    return float(lm[[48, 54], 1].mean() - lm[30, 1]) / _iod(lm)


def _brows(lm: np.ndarray) -> float:
    """Brows above the eye corners, in inter-ocular distances."""
    return float(lm[[36, 39, 42, 45], 1].mean() - lm[17:27, 1].mean()) / _iod(lm)


def test_expressions_move_the_landmarks(demo: tuple[Path, int], predictor: LandmarkPredictor) -> None:
    out, _ = demo
    for subject in SUBJECTS:
        lm = {e: _landmarks(_read(out, subject, e), predictor) for e in ("neutral", "happy", "surprised")}
        assert _corners(lm["happy"]) < _corners(lm["neutral"]) - 0.03, subject
        assert _brows(lm["surprised"]) > _brows(lm["neutral"]) + 0.04, subject


def test_subjects_differ_and_a_subject_differs_only_around_the_face(demo: tuple[Path, int]) -> None:
    out, _ = demo
    for face in ("hopper", "astronaut"):
        a = _read(out, f"{face}01", "neutral").astype(np.int16)
        b = _read(out, f"{face}02", "neutral").astype(np.int16)
        assert np.abs(a - b).mean() > 8
    for subject in ("hopper03", "astronaut04"):
        neutral = _read(out, subject, "neutral").astype(np.int16)
        for emotion in EMOTIONS[1:]:
            diff = np.abs(_read(out, subject, emotion).astype(np.int16) - neutral).max(axis=2)
            assert diff.mean() > 0.3, (subject, emotion)
            border = np.ones(diff.shape, bool)
            border[16:-16, 16:-16] = False
            assert diff[border].max() == 0, (subject, emotion)  # the background stays put
            changed = np.argwhere(diff > 10)
            centre = changed.mean(0)
            assert np.all(np.abs(centre - 128) < 50), (subject, emotion)


def test_refuses_a_users_folder(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "mine.jpg").write_bytes(b"not yours")
    with pytest.raises(UserError):
        build_demo_set(folder)
    assert [p.name for p in folder.iterdir()] == ["mine.jpg"]
    file = tmp_path / "a-file"
    file.write_text("x")
    with pytest.raises(UserError):
        build_demo_set(file)


def test_builds_into_an_empty_folder_and_completes_a_partial_set(tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    assert build_demo_set(out, subjects_per_face=1, size=128) == 16
    assert len(list(out.glob("*/*.png"))) == 16
    lost = out / "sad" / "hopper01_sad.png"
    lost.unlink()
    assert build_demo_set(out, subjects_per_face=1, size=128) == 16
    assert lost.is_file()
    assert build_demo_set(out, subjects_per_face=2, size=128) == 32  # other settings: rebuilt
    assert build_demo_set(out, subjects_per_face=1, size=128) == 16
    assert len(list(out.glob("*/*.png"))) == 16  # the earlier build's extra subject is gone


def test_second_call_does_not_rewrite(demo: tuple[Path, int]) -> None:
    out, n = demo
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert build_demo_set(out) == n
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before
