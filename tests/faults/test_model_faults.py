"""Models: model_to_load missing, of another architecture or class list, corrupted; an existing model_to_save."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from faultkit import TINY_CNN, case, error_line, run_cli, shared_cnn, snapshot, workspace

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(london: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return shared_cnn(london, tmp_path_factory)


def resume_sets(model: dict[str, Any], tmp_path: Path, model_to_load: Path, **more: Any) -> dict[str, Any]:
    """Train the cnn again from `model_to_load` on the shared model's formatted photos."""
    return workspace(tmp_path, model["raw"], train=True, save=False) | TINY_CNN | {
        "formatted": str(model["formatted"]), "train_existing_model": True, "model_to_load": str(model_to_load),
        "nn.cnn.max_epochs": 3, "split.test_fraction": 0.0, "split.validation_fraction": 0.3} | more


def refused(model: dict[str, Any], tmp_path: Path, model_to_load: Path, **more: Any) -> str:
    """Run, expect one line and exit 2 before any epoch; the model and the photos unchanged."""
    before = snapshot(model["run_dir"], model["models"], model["formatted"], model["raw"], model_to_load)
    run = run_cli(resume_sets(model, tmp_path, model_to_load, **more), tmp_path)
    line = error_line(run)
    assert "epoch" not in run.stdout
    assert snapshot(model["run_dir"], model["models"], model["formatted"], model["raw"], model_to_load) == before
    return line


@case("models", "model_to_load missing")
@pytest.mark.parametrize("stage", ["train", "test"])
def test_model_to_load_missing(model: dict[str, Any], tmp_path: Path, stage: str) -> None:
    missing = tmp_path / "no-such-model"
    if stage == "train":
        run = run_cli(resume_sets(model, tmp_path, missing), tmp_path)
    else:
        run = run_cli(resume_sets(model, tmp_path, missing, train=False, test=True), tmp_path)
    assert error_line(run) == f"fer-compare: error: model_to_load: {missing} does not exist"


@case("models", "model_to_load of another architecture")
def test_model_to_load_of_another_architecture(model: dict[str, Any], tmp_path: Path) -> None:
    line = refused(model, tmp_path, model["run_dir"], **{"nn.cnn.filters": [8, 8, 8]})
    folder = model["run_dir"] / "cnn" / "checkpoints"
    assert line.startswith(f"fer-compare: error: model_to_load: {folder}: variable ")
    assert line.endswith("(another architecture or size)")


@pytest.fixture(scope="module")
def class_list_refusal(model: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> str:
    """The line for resuming the three-class model with nn.cnn.emotions = neutral, happy."""
    tmp = tmp_path_factory.mktemp("class_list")
    return refused(model, tmp, model["run_dir"], **{"nn.cnn.emotions": ["neutral", "happy"]})


@case("models", "model_to_load of another class list")
def test_model_to_load_of_another_class_list(model: dict[str, Any], class_list_refusal: str) -> None:
    folder = model["run_dir"] / "cnn" / "checkpoints"
    assert class_list_refusal.startswith(f"fer-compare: error: model_to_load: {folder} was trained on classes "
                                         f"['neutral', 'happy', 'surprised'], this run has ")
    assert "'neutral', 'happy']" in class_list_refusal


@case("models", "model_to_load of another class list")
def test_the_class_list_refusal_shows_plain_lists(model: dict[str, Any], class_list_refusal: str) -> None:
    folder = model["run_dir"] / "cnn" / "checkpoints"
    assert class_list_refusal == (f"fer-compare: error: model_to_load: {folder} was trained on classes "
                                  f"['neutral', 'happy', 'surprised'], this run has ['neutral', 'happy']")


@case("models", "a corrupted checkpoint file")
@pytest.mark.parametrize("damage", ["weights", "index", "model.json"])
def test_a_corrupted_checkpoint_file(model: dict[str, Any], tmp_path: Path, damage: str) -> None:
    copy = tmp_path / "copied-run"
    shutil.copytree(model["run_dir"], copy)
    folder = copy / "cnn" / "checkpoints"
    if damage == "weights":
        for f in folder.glob("*.data-*"):
            f.write_bytes(b"\x00garbage" * 10)
    elif damage == "index":
        for f in folder.glob("*.index"):
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    else:
        (folder / "model.json").write_text('{"kind": "cnn", "classes": [')
    line = refused(model, tmp_path, copy)
    if damage == "model.json":
        assert line == f"fer-compare: error: model_to_load: {folder / 'model.json'} is corrupted"
    else:
        assert line.startswith(f"fer-compare: error: model_to_load: cannot restore {folder}/ckpt-")


@case("models", "an existing model_to_save")
def test_an_existing_model_to_save_is_refused_without_overwrite(model: dict[str, Any], tmp_path: Path) -> None:
    sets = workspace(tmp_path, model["raw"], train=True, save=True) | TINY_CNN | {
        "formatted": str(model["formatted"]), "model_to_save": str(model["models"]), "split.test_fraction": 0.0}
    before = snapshot(model["models"])
    run = run_cli(sets, tmp_path)
    assert error_line(run) == (f"fer-compare: error: model_to_save: {model['models'] / 'cnn'} already exists; "
                               f"choose another path or set overwrite: true")
    assert "epoch" not in run.stdout  # refused before training, not after
    assert snapshot(model["models"]) == before


@case("models", "a flipped byte in a SavedModel")
@pytest.mark.parametrize("damaged, reason", [
    ("saved_model.pb", r"saved_model\.pb is corrupted: .+"),
    ("variables/variables.data-00000-of-00001",
     r"variables/variables\.data-\* is corrupted \(checksum does not match\)"),
    ("variables/variables.index", r"variables/variables\.index is corrupted"),
    ("fingerprint.pb", r"fingerprint\.pb is corrupted"),
], ids=["graph", "weights", "index", "fingerprint"])
def test_a_flipped_byte_in_a_saved_model(model: dict[str, Any], tmp_path: Path, damaged: str, reason: str) -> None:
    """The whole reason in one line, naming the damaged file (not TensorFlow's first line, cut short)."""
    import re

    copy = tmp_path / "models"
    shutil.copytree(model["models"], copy)
    path = copy / "cnn" / damaged
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    before = snapshot(copy)
    run = run_cli(resume_sets(model, tmp_path, copy, train=False, test=True, train_existing_model=False), tmp_path)
    line = error_line(run)
    assert re.fullmatch(rf"fer-compare: error: model_to_load: cannot load {re.escape(str(copy / 'cnn'))} \({reason}\)",
                        line), line
    assert snapshot(copy) == before
