"""kill -9 during each stage, then the same command again: it completes, its outputs equal an uninterrupted
run's, and no temporary file is left. The kill comes from inside the CLI at a known point (faultkit.fault:
after the 3rd photo, after epoch 0, while writing comparison.json, after the 3rd video frame)."""

from __future__ import annotations

import csv
import json
import shutil
import signal
from pathlib import Path
from typing import Any

import cv2
import pytest
from faultkit import (
    case_param,
    fault,
    london_subjects,
    london_tree,
    run_cli,
    run_folders,
    succeeded,
    workspace,
)

pytestmark = pytest.mark.slow

TINY = {"models": ["cnn", "landmark_fnn", "gradient_fnn"], "nn.cnn.filters": [4, 8, 8], "nn.cnn.hidden": [16, 16],
        "nn.landmark_fnn.subnet": [42, 16, 16], "nn.landmark_fnn.hidden": [32, 32], "nn.gradient_fnn.hidden": [32],
        "nn.cnn.max_epochs": 2, "nn.landmark_fnn.max_epochs": 2, "nn.gradient_fnn.max_epochs": 2,
        "nn.cnn.batch_size": 4, "split.test_fraction": 0.3, "checkpoint_seconds": 0, "seed": 5}
STAGE_FOLDERS = ("formatted", "aligned", "gradients")


def sets(tmp: Path, raw: Path, full: bool) -> dict[str, Any]:
    """B, small: format, align, gradient (and with `full`, train and test) on the same folders every time."""
    return workspace(tmp, raw, format=True, align=True, gradient=True) | TINY | (
        {"train": True, "test": True, "save": False} if full else {})


def temporaries(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*")
            if p.name.endswith((".tmp", "_temp")) or ".partial" in p.name]


def stage_files(tmp: Path) -> dict[str, bytes]:
    """Every image and landmark file of the three stage folders, by its path inside them."""
    out = {}
    for key in STAGE_FOLDERS:
        for p in sorted((tmp / key).rglob("*")):
            if p.suffix in (".png", ".npz") and not p.name.startswith("."):
                out[f"{key}/{p.relative_to(tmp / key)}"] = p.read_bytes()
    return out


def results(run_dir: Path) -> dict[str, Any]:
    """What the test stage concluded, per model: per-fold reports (confusion, metrics) and the loss history."""
    comparison = json.loads((run_dir / "comparison.json").read_text())
    out = {}
    for kind, m in comparison["models"].items():
        out[kind] = [(f["report"], [(h["train_loss"], h["validation_loss"]) for h in f["history"]])
                     for f in m["fold_results"]]
    return out


@pytest.fixture(scope="module")
def reference(london: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("crash_reference")
    raw = london_tree(london, tmp / "raw", london_subjects(london)[:8])
    succeeded(run_cli(sets(tmp, raw, full=True) | {"save": True}, tmp))
    (run_dir,) = run_folders(tmp / "runs")
    return {"tmp": tmp, "raw": raw, "files": stage_files(tmp), "results": results(run_dir)}


@pytest.mark.parametrize("point, full", [
    case_param("preprocessing", "kill -9 during each stage, then the same command", "format:photo", False),
    case_param("preprocessing", "kill -9 during each stage, then the same command", "align:photo", False),
    case_param("preprocessing", "kill -9 during each stage, then the same command", "gradient:photo", False),
    case_param("preprocessing", "kill -9 during each stage, then the same command", "train:epoch", True),
    case_param("preprocessing", "kill -9 during each stage, then the same command", "write:comparison.json", True),
])
def test_kill_9_in_a_stage_then_the_same_command_completes(reference: dict[str, Any], tmp_path: Path,
                                                           point: str, full: bool) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(reference["raw"], raw)
    command = sets(tmp_path, raw, full)
    killed = run_cli(command, tmp_path, env=fault(point, 3 if point.endswith("photo") else 1))
    assert killed.returncode == -signal.SIGKILL, killed.describe()
    again = run_cli(command, tmp_path)
    succeeded(again)
    assert stage_files(tmp_path) == reference["files"]
    assert temporaries(*(tmp_path / k for k in STAGE_FOLDERS)) == []
    if full:
        newest = run_folders(tmp_path / "runs")[-1]
        assert results(newest) == reference["results"]  # same predictions: a seeded run
        assert temporaries(newest) == []


@pytest.mark.parametrize("point", [
    case_param("preprocessing", "kill -9 during each stage, then the same command", "video:frame"),
])
def test_kill_9_in_the_video_stage_then_the_same_command_completes(reference: dict[str, Any], tmp_path: Path,
                                                                   london: Path, point: str) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, s in enumerate(london_subjects(london)[20:26]):
        photo = cv2.imread(str(london / "happy" / f"{s}_08.jpg"))
        cv2.imwrite(str(frames / f"{i:03d}.jpg"), photo)
    out = tmp_path / "out"
    command = workspace(tmp_path, video=True) | {
        "model_to_save": str(reference["tmp"] / "models"), "video_model": "landmark_fnn",
        "video_source": str(frames), "video_output": str(out / "v.mp4"), "video_predictions": str(out / "p.csv")}
    whole = tmp_path / "whole"
    succeeded(run_cli(command | {"video_output": str(whole / "v.mp4"), "video_predictions": str(whole / "p.csv")},
                      tmp_path))
    killed = run_cli(command, tmp_path, env=fault(point, 3))
    assert killed.returncode == -signal.SIGKILL, killed.describe()
    succeeded(run_cli(command, tmp_path))
    with open(out / "p.csv", newline="") as a, open(whole / "p.csv", newline="") as b:
        assert list(csv.reader(a)) == list(csv.reader(b))
    assert sorted(p.name for p in out.iterdir()) == ["p.csv", "v.mp4"]  # the killed run's partial files swept
