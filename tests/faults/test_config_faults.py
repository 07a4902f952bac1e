"""Config mistakes through the CLI: one line naming the file or key, exit 2, the user's files untouched."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from faultkit import TINY_CNN, case, error_line, london_subjects, london_tree, run_cli, snapshot, succeeded, workspace


@pytest.fixture(scope="module")
def raw(london: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six London photos (three subjects) in class folders."""
    return london_tree(london, tmp_path_factory.mktemp("cfg") / "raw", london_subjects(london)[:3])


def run_with_file(tmp_path: Path, text: str, raw: Path) -> tuple[str, Path]:
    """Run the format stage with parameters.json holding `text`; the error line and the file."""
    path = tmp_path / "parameters.json"
    path.write_text(text)
    before = snapshot(path, raw)
    run = run_cli(workspace(tmp_path, raw, format=True), tmp_path, config=path)
    line = error_line(run)
    assert snapshot(path, raw) == before
    assert not (tmp_path / "formatted").exists()  # stopped before any stage wrote anything
    return line, path


@case("config", "not JSON")
def test_config_that_is_not_json(tmp_path: Path, raw: Path) -> None:
    line, path = run_with_file(tmp_path, "format = true\n", raw)
    assert line == f"fer-compare: error: {path}: not valid JSON (line 1, column 1: Expecting value)"


@case("config", "a trailing comma")
def test_config_with_a_trailing_comma(tmp_path: Path, raw: Path) -> None:
    line, path = run_with_file(tmp_path, '{\n  "format": true,\n  "align": false,\n}\n', raw)
    assert line.startswith(f"fer-compare: error: {path}: not valid JSON (line 4, column 1:")


@case("config", "an unknown key")
@pytest.mark.parametrize("text, expected", [
    ('{"raw_sourse": "x"}', "unknown key 'raw_sourse'; did you mean 'raw_source'?"),
    ('{"nn": {"cnn": {"dropuot": 0.1}}}', "unknown key 'nn.cnn.dropuot'; did you mean 'nn.cnn.dropout'?"),
], ids=["top-level", "nested"])
def test_config_with_an_unknown_key(tmp_path: Path, raw: Path, text: str, expected: str) -> None:
    line, _ = run_with_file(tmp_path, text, raw)
    assert line == f"fer-compare: error: {expected}"


@case("config", "a wrong type")
@pytest.mark.parametrize("value, expected", [
    ({"nn": {"cnn": {"batch_size": "32"}}}, 'nn.cnn.batch_size: expected a number, got "32"'),
    ({"overwrite": "yes"}, 'overwrite: expected true or false, got "yes"'),
    ({"image": {"size": 100}}, "image.size: expected a list like [100, 100], got 100"),
    ({"nn": "big"}, 'nn: expected an object, got "big"'),
], ids=["number", "bool", "list", "object"])
def test_config_with_a_wrong_type(tmp_path: Path, raw: Path, value: dict[str, Any], expected: str) -> None:
    line, _ = run_with_file(tmp_path, json.dumps(value), raw)
    assert line == f"fer-compare: error: {expected}"


@case("config", "a wrong type")
def test_a_single_cnn_dropout_rate_is_not_a_wrong_type(tmp_path: Path, raw: Path) -> None:
    """The check must not refuse a right type: one dropout rate for the cnn, as its help says."""
    run = run_cli(workspace(tmp_path, raw, format=True) | {"nn.cnn.dropout": 0.25}, tmp_path)
    succeeded(run)


@case("config", "a path that does not exist")
def test_a_path_that_does_not_exist(tmp_path: Path, raw: Path) -> None:
    missing = tmp_path / "no-such-folder"
    run = run_cli(workspace(tmp_path, missing, format=True), tmp_path)
    assert error_line(run) == f"fer-compare: error: raw_source: {missing} does not exist"
    assert not missing.exists()
    assert not (tmp_path / "formatted").exists()  # no empty output folder left behind
    config = tmp_path / "nowhere.json"
    run = run_cli(workspace(tmp_path, raw, format=True), tmp_path, config=config)
    assert error_line(run) == f"fer-compare: error: {config}: no such config file"
    # The landmark model is checked before any stage starts, not when the align stage needs it.
    model = tmp_path / "shape_predictor_68_face_landmarks.dat"
    run = run_cli(workspace(tmp_path, raw, format=True) | {"landmark_model": str(model)}, tmp_path)
    assert error_line(run) == f"fer-compare: error: landmark_model: {model} does not exist"
    assert not (tmp_path / "formatted").exists()


@case("config", "a layer size a model cannot be built with")
def test_a_layer_size_a_model_cannot_be_built_with(tmp_path: Path, raw: Path) -> None:
    """Refused by the config check, before TensorFlow would fail deep inside a layer."""
    for key, value, expected in [("nn.cnn.hidden", [128], "two sizes: FC 1 (before batch norm) and FC 2"),
                                 ("nn.cnn.filters", [], "one or more conv layer widths")]:
        run = run_cli(workspace(tmp_path, raw, format=True, train=True) | {key: value}, tmp_path)
        assert error_line(run) == f"fer-compare: error: {key}: expected {expected}, as whole numbers, got {value}"
        assert not (tmp_path / "formatted").exists() and not (tmp_path / "runs").exists()


@case("config", "a stage before the stage it reads")
def test_a_stage_before_the_stage_it_reads(tmp_path: Path, raw: Path) -> None:
    """align, gradient and blur need their input stage's manifest; without it nothing is created."""
    for stage, key, source in [("align", "aligned", "formatted"), ("gradient", "gradients", "aligned"),
                               ("blur", "blurred", "gradients")]:
        run = run_cli(workspace(tmp_path, raw, **{stage: True}), tmp_path)
        assert error_line(run) == (f"fer-compare: error: {source}: {tmp_path / source} has no manifest.csv; "
                                   "run the stage that writes it first")
        assert not (tmp_path / key).exists(), stage


@case("config", "an output folder inside an input folder")
def test_an_output_folder_inside_an_input_folder(tmp_path: Path, raw: Path) -> None:
    before = snapshot(raw)
    inside = raw / "happy" / "formatted"
    run = run_cli(workspace(tmp_path, raw, format=True) | {"formatted": str(inside)}, tmp_path)
    line = error_line(run)
    assert line == (f"fer-compare: error: formatted: output folder {inside} is inside the input folder "
                    f"raw_source ({raw})")
    assert snapshot(raw) == before  # not even an empty folder was made in the user's dataset


def _read_only(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)


@case("config", "a read-only output folder")
@pytest.mark.parametrize("which", [
    "formatted-new",
    pytest.param("formatted-with-earlier-outputs"),
    pytest.param("runs_dir", marks=pytest.mark.slow),
    pytest.param("model_to_save", marks=pytest.mark.slow),
])
def test_a_read_only_output_folder(tmp_path: Path, raw: Path, which: str) -> None:
    locked = tmp_path / "locked"
    sets = workspace(tmp_path, raw, format=True)
    if which == "formatted-new":
        _read_only(locked)
        sets["formatted"] = str(locked / "formatted")
        key, shown = "formatted", locked / "formatted"
    elif which == "formatted-with-earlier-outputs":
        sets["formatted"] = str(locked)
        assert run_cli(sets, tmp_path).returncode == 0
        _read_only(locked)
        key, shown = "formatted", locked
    elif which == "runs_dir":
        _read_only(locked)
        sets |= {"train": True, "save": False, "runs_dir": str(locked / "runs"), "split.test_fraction": 0.0,
                 **TINY_CNN}
        key, shown = "runs_dir", locked / "runs"
    else:
        _read_only(locked)
        sets |= {"train": True, "save": True, "model_to_save": str(locked / "models"), "split.test_fraction": 0.0,
                 **TINY_CNN}
        key, shown = "model_to_save", locked / "models"
    before = snapshot(raw, locked)
    try:
        run = run_cli(sets, tmp_path, drop_root=True)
    finally:
        locked.chmod(0o755)  # let pytest clean up
    line = error_line(run)
    assert line.startswith(f"fer-compare: error: {key}:") and str(shown) in line
    assert "epoch" not in run.stdout  # refused before any training
    assert snapshot(raw, locked) == before


@case("config", "an unreadable config file")
def test_an_unreadable_config_file(tmp_path: Path, raw: Path) -> None:
    path = tmp_path / "parameters.json"
    path.write_text("{}")
    path.chmod(0)
    try:
        run = run_cli(workspace(tmp_path, raw, format=True), tmp_path, config=path, drop_root=True)
    finally:
        path.chmod(0o644)
    assert error_line(run) == f"fer-compare: error: {path}: cannot read the config file (Permission denied)"
    assert not (tmp_path / "formatted").exists()


@case("config", "a config path that is a folder")
def test_a_config_path_that_is_a_folder(tmp_path: Path, raw: Path) -> None:
    run = run_cli(workspace(tmp_path, raw, format=True), tmp_path, config=tmp_path)
    line = error_line(run)
    assert line == f"fer-compare: error: {tmp_path}: a folder, not a config file; give the path of a .json file"


@case("config", "a config that is not UTF-8")
def test_a_latin_1_config_names_the_encoding(tmp_path: Path, raw: Path) -> None:
    path = tmp_path / "parameters.json"
    path.write_bytes('{"run_name": "café"}'.encode("latin-1"))
    run = run_cli(workspace(tmp_path, raw, format=True), tmp_path, config=path)
    assert error_line(run) == (f"fer-compare: error: {path}: not UTF-8 text (byte 0xe9 at offset 17); "
                               f"save it as UTF-8")


@case("config", "NaN, fractional, huge or out-of-range numbers")
@pytest.mark.parametrize("key, value, expected", [
    ("detection.scale_factor", "NaN", "detection.scale_factor: expected a finite number, got NaN"),
    ("learning_rate", "Infinity", "learning_rate: expected a finite number, got Infinity"),
    ("detection.min_size", "[Infinity, 1]", "detection.min_size: expected a finite number, got [Infinity, 1]"),
    ("image.size", "[60.5, 60]", "image.size: expected whole numbers, got [60.5, 60]"),
    ("detection.min_neighbors", "2.5", "detection.min_neighbors: expected a whole number, got 2.5"),
    ("detection.scale_factor", "50", "detection.scale_factor: 50 is out of range (expected 1.0001 to 10)"),
    ("workers", "100000", "workers: 100000 is out of range (expected 1 to 64)"),
    ("nn.input", "[1000000, 1]", "nn.input [1000000, 1], nn.cnn.filters [32, 64, 128], nn.cnn.hidden [128, 256], "
                                 "nn.cnn.batch_size 32: cnn would have 2,048,127,880 weights and need about"),
], ids=["nan", "infinity", "infinity-in-list", "fractional-size", "fractional-count", "too-large", "workers",
        "huge-layer"])
def test_numbers_are_checked_for_finiteness_integrality_and_range(tmp_path: Path, raw: Path, key: str, value: str,
                                                                  expected: str) -> None:
    """Each would pass a plain comparison and crash inside OpenCV or TensorFlow (or allocate gigabytes)."""
    run = run_cli(workspace(tmp_path, raw, format=True, train=True) | {key: value}, tmp_path)
    line = error_line(run)
    assert line.startswith(f"fer-compare: error: {expected}"), line
    assert not (tmp_path / "formatted").exists() and not (tmp_path / "runs").exists()


@case("config", "an alignment template with no face")
def test_an_alignment_template_without_a_face(tmp_path: Path, raw: Path) -> None:
    import cv2
    import numpy as np

    template = tmp_path / "wall.png"
    cv2.imwrite(str(template), np.full((100, 100), 128, np.uint8))
    succeeded(run_cli(workspace(tmp_path, raw, format=True), tmp_path))
    run = run_cli(workspace(tmp_path, raw, align=True) | {"align_template": str(template)}, tmp_path)
    assert error_line(run) == (f"fer-compare: error: align_template: no face found in {template}; the template "
                               f"must be a face crop (like templates/template.png)")
    assert not (tmp_path / "aligned").exists()
