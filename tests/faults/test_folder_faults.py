"""Stage folders: whose they are, one writer at a time, up to date by content, made with the settings in force.

Every case runs the real CLI on a few London photos; all but the training ones take seconds.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from faultkit import (
    TINY_CNN,
    case,
    case_param,
    error_line,
    london_photo,
    london_subjects,
    london_tree,
    run_cli,
    run_folders,
    small_disk,
    snapshot,
    succeeded,
    workspace,
)

from fer_compare.stages.ownership import lock_folder, release_folder


@pytest.fixture(scope="module")
def raw(london: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight London photos (four subjects) in class folders."""
    return london_tree(london, tmp_path_factory.mktemp("folders") / "raw", london_subjects(london)[:4])


def fmt(tmp: Path, raw: Path, **more: Any) -> dict[str, Any]:
    return workspace(tmp, raw, format=True) | more


def visible(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


@case("preprocessing", "a user's folder that holds a manifest.csv")
def test_a_users_folder_with_a_manifest_is_not_taken_over(raw: Path, tmp_path: Path) -> None:
    """Only the marker the tool writes (naming its stage) proves a folder is the stage's own."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "manifest.csv").write_text("my,own,list\n")
    (mine / "thesis.docx").write_text("precious")
    before = snapshot(mine, raw)
    line = error_line(run_cli(fmt(tmp_path, raw, formatted=str(mine)), tmp_path))
    assert line == (f"fer-compare: error: formatted: {mine} already holds files that fer_compare did not write; "
                    f"choose an empty folder")
    assert snapshot(mine, raw) == before


@case("preprocessing", "one stage's folder given to another")
def test_two_stages_on_one_folder_are_refused_before_anything_runs(raw: Path, tmp_path: Path) -> None:
    """formatted = gradients: refused before the format stage writes anything; and a gradient run
    into a finished format folder is refused by that folder's marker."""
    out_s, out_a = tmp_path / "out-s", tmp_path / "out-a"
    sets = workspace(tmp_path, raw, format=True, align=True, gradient=True) | {
        "formatted": str(out_s), "aligned": str(out_a), "gradients": str(out_s)}
    line = error_line(run_cli(sets, tmp_path))
    assert line == f"fer-compare: error: formatted: {out_s} is also gradients; each stage needs its own folder"
    assert not out_s.exists() and not out_a.exists()
    # Done one stage at a time, the second finds the first's marker.
    succeeded(run_cli(workspace(tmp_path, raw, format=True, align=True) | {"formatted": str(out_s),
                                                                           "aligned": str(out_a)}, tmp_path))
    before = snapshot(out_s)
    line = error_line(run_cli(workspace(tmp_path, raw, gradient=True) | {
        "formatted": str(out_s), "aligned": str(out_a), "gradients": str(out_s)}, tmp_path))
    assert line == (f"fer-compare: error: gradients: {out_s} is also formatted; each stage needs its own folder")
    # Even where the config cannot see it (formatted elsewhere now), the marker says whose folder it is.
    line = error_line(run_cli(workspace(tmp_path, raw, gradient=True) | {
        "formatted": str(tmp_path / "other"), "aligned": str(out_a), "gradients": str(out_s)}, tmp_path))
    assert line == (f"fer-compare: error: gradients: {out_s} holds the format stage's output (formatted); "
                    f"each stage needs its own folder")
    assert snapshot(out_s) == before


@case("preprocessing", "two runs on the same folder at once")
def test_a_second_run_on_a_folder_being_written_stops_naming_the_holder(raw: Path, tmp_path: Path) -> None:
    """The folder's lock is held (here by this test process, as a first run would hold it): the CLI
    stops with one line naming the holder, and writes nothing."""
    out = tmp_path / "formatted"
    out.mkdir()
    lock_folder(out, "formatted")
    try:
        run = run_cli(fmt(tmp_path, raw), tmp_path)
    finally:
        release_folder(out)
    line = error_line(run)
    assert line.startswith(f"fer-compare: error: formatted: {out} is being written by another fer_compare run "
                           f"(pid {os.getpid()} on ")
    assert ", started " in line and line.endswith("; wait for it to finish or choose another folder")
    assert visible(out) == []
    succeeded(run_cli(fmt(tmp_path, raw), tmp_path))  # once the lock is free, the run goes ahead


@case("preprocessing", "inputs copied with their old times (cp -p, rsync -a)")
def test_up_to_date_is_judged_by_content_not_time(raw: Path, tmp_path: Path, london: Path) -> None:
    """A photo replaced by a copy that keeps an older time is redone; a newer time alone redoes nothing."""
    photos = tmp_path / "raw"
    shutil.copytree(raw, photos)
    succeeded(run_cli(fmt(tmp_path, photos), tmp_path))
    target = sorted((photos / "happy").glob("*.jpg"))[0]
    os.utime(target)  # touched: newer, same content
    run = run_cli(fmt(tmp_path, photos), tmp_path)
    succeeded(run)
    assert "wrote 0, up to date 8" in run.stdout
    other = london_photo(london, london_subjects(london)[10], "happy")
    subprocess.run(["cp", "-p", str(other), str(target)], check=True)  # another photo, its own (old) time
    os.utime(target, ns=(1, 1))  # older than every output, as a restored backup would be
    run = run_cli(fmt(tmp_path, photos), tmp_path)
    succeeded(run)
    assert "wrote 1, up to date 7" in run.stdout
    crop = cv2.imread(str(tmp_path / "formatted" / "happy" / f"{target.stem}.png"), cv2.IMREAD_GRAYSCALE)
    fresh = tmp_path / "fresh"
    succeeded(run_cli(fmt(tmp_path, photos, formatted=str(fresh)), tmp_path))
    assert np.array_equal(crop, cv2.imread(str(fresh / "happy" / f"{target.stem}.png"), cv2.IMREAD_GRAYSCALE))


@pytest.mark.parametrize("stage", [
    case_param("preprocessing", "a stage folder made with other settings", "align"),
    case_param("preprocessing", "a stage folder made with other settings", "train", marks=pytest.mark.slow),
])
def test_a_folder_made_with_another_image_size_is_refused(raw: Path, tmp_path: Path, stage: str) -> None:
    """Formatted at 60×60, then read with format: false and image.size 100: the folder's own stage.json
    says how it was made, and the run stops naming the setting (the run folder is not left behind)."""
    out = tmp_path / "formatted"
    succeeded(run_cli(fmt(tmp_path, raw, **{"image.size": [60, 60]}), tmp_path))
    before = snapshot(out)
    sets = workspace(tmp_path, raw, **{stage: True}) | (TINY_CNN if stage == "train" else {})
    line = error_line(run_cli(sets, tmp_path))
    assert line == (f"fer-compare: error: formatted: {out} was made with image.size = [60, 60], but the settings say "
                    f"[100, 100]; run the format stage again (format: true) or set image.size back")
    assert snapshot(out) == before
    assert run_folders(tmp_path / "runs") == []  # a refused run leaves no run folder holding only config.json


@case("config", "a refused run")
@pytest.mark.slow
def test_a_refused_run_leaves_no_run_folder(raw: Path, tmp_path: Path) -> None:
    """Refused after the run folder was named (here: a stage folder that was never made)."""
    line = error_line(run_cli(workspace(tmp_path, raw, train=True) | TINY_CNN, tmp_path))
    assert "has no manifest.csv" in line
    assert run_folders(tmp_path / "runs") == []


@case("preprocessing", "a full disk while writing stage outputs")
def test_a_full_disk_during_format_is_one_line_and_leaves_no_temporary_file(london: Path, tmp_path: Path) -> None:
    raw = london_tree(london, tmp_path / "raw", london_subjects(london)[:20])
    out = tmp_path / "disk" / "formatted"
    before = snapshot(raw)
    with small_disk(tmp_path / "disk", 96, 2048) as disk:
        run = run_cli(fmt(tmp_path, raw, formatted=str(out)), tmp_path, max_file_bytes=disk["limit"])
        line = error_line(run)
        assert line.startswith(f"fer-compare: error: cannot write {out}/") and line.endswith(f"({disk['reason']})")
        assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]  # the writer removed its temporary file
        assert not (out / "stage.json").exists()  # nothing claims the folder is complete
    assert snapshot(raw) == before


@case("video", "video_output is the video_source")
def test_video_output_never_replaces_the_input_clip(tmp_path: Path) -> None:
    """overwrite: true replaces earlier outputs, never the input: refused before any model is loaded."""
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not really a clip, and it must stay as it is")
    before = snapshot(clip)
    sets = workspace(tmp_path, video=True) | {"video_source": str(clip), "video_output": str(clip),
                                              "overwrite": True, "video_model": "cnn"}
    line = error_line(run_cli(sets, tmp_path))
    assert line == (f"fer-compare: error: video_output: {clip} is the input video_source; an input is never "
                    f"overwritten, choose another name")
    assert snapshot(clip) == before
    assert run_folders(tmp_path / "runs") == []


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
