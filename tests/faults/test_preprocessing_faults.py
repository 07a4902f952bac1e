"""kill -9 during the format stage: the rerun completes and never takes a half-done output for a valid one."""

from __future__ import annotations

import csv
import signal
import time
from pathlib import Path
from typing import Any

import cv2
import pytest
from faultkit import LiveCli, case, london_subjects, london_tree, run_cli, snapshot, succeeded, workspace

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def raw(london: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 London photos (60 subjects): a format run of a few seconds with two workers."""
    return london_tree(london, tmp_path_factory.mktemp("kill_format") / "raw", london_subjects(london)[:60])


def format_sets(tmp: Path, raw: Path, out: Path, size: int = 100) -> dict[str, Any]:
    return workspace(tmp, raw, format=True) | {"formatted": str(out), "workers": 2, "image.size": [size, size]}


def png_width(path: Path) -> int | None:
    """Width from a PNG header (None while the file is not yet a whole header)."""
    head = path.read_bytes()[:24]
    return int.from_bytes(head[16:20], "big") if len(head) == 24 and head[:4] == b"\x89PNG" else None


def kill_when(live: LiveCli, out: Path, count: int, width: int, timeout: float = 120.0) -> int:
    """SIGKILL the run's process group once `count` outputs of `width` exist; how many there were."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in out.rglob("*.png") if not p.name.startswith(".") and png_width(p) == width]
        if len(done) >= count:
            live.send(signal.SIGKILL)
            return len(done)
        if live.proc.poll() is not None:
            break
        time.sleep(0.02)
    raise AssertionError(f"the format run ended or stalled before writing {count} outputs:\n" + "\n".join(live.lines))


def manifest(out: Path) -> dict[str, str]:
    with open(out / "manifest.csv", newline="") as f:
        return {row["key"]: row["path"] for row in csv.DictReader(f)}


def check_outputs(out: Path, size: int) -> dict[str, str]:
    """Every manifest entry is a whole, visible PNG of the stage's size; returns the manifest."""
    entries = manifest(out)
    for key, rel in entries.items():
        assert not Path(rel).name.startswith(".") and not rel.endswith(".tmp"), rel
        image = cv2.imread(str(out / rel), cv2.IMREAD_UNCHANGED)
        assert image is not None and image.shape == (size, size), f"{key}: {None if image is None else image.shape}"
    return entries


@case("preprocessing", "kill -9 during format, then rerun")
def test_kill_9_during_format_then_a_rerun_completes(raw: Path, tmp_path: Path) -> None:
    """The rerun gives byte for byte what an uninterrupted run gives; the user's photos untouched."""
    before = snapshot(raw)
    clean = tmp_path / "clean"
    succeeded(run_cli(format_sets(tmp_path, raw, clean), tmp_path))
    out = tmp_path / "formatted"
    live = LiveCli(format_sets(tmp_path, raw, out), tmp_path)
    kill_when(live, out, 20, 100)
    killed = live.finish()
    assert killed.returncode == -signal.SIGKILL
    assert not (out / "manifest.csv").exists()  # the killed run never claimed to be complete
    rerun = run_cli(format_sets(tmp_path, raw, out), tmp_path)
    succeeded(rerun)
    entries = check_outputs(out, 100)
    assert entries == manifest(clean)
    for rel in entries.values():
        assert (out / rel).read_bytes() == (clean / rel).read_bytes(), rel
    assert snapshot(raw) == before


@case("preprocessing", "kill -9 during format, then rerun")
def test_a_killed_run_with_other_settings_leaves_nothing_taken_for_valid(raw: Path, tmp_path: Path) -> None:
    """Complete at 100×100, killed while redoing at 64×64, rerun at 100×100: only 100×100 crops."""
    out = tmp_path / "formatted"
    succeeded(run_cli(format_sets(tmp_path, raw, out), tmp_path))
    live = LiveCli(format_sets(tmp_path, raw, out, size=64), tmp_path)
    kill_when(live, out, 20, 64)
    assert live.finish().returncode == -signal.SIGKILL
    rerun = run_cli(format_sets(tmp_path, raw, out), tmp_path)
    succeeded(rerun)
    check_outputs(out, 100)
