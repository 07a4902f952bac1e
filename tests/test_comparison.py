"""The test stage's comparison end to end on real photos: floors, paired statistics, the resolved winner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

TINY = ["nn.cnn.filters=[4,8,8]", "nn.cnn.hidden=[16,16]", "nn.cnn.max_epochs=4",
        "nn.landmark_fnn.subnet=[42,16,16]", "nn.landmark_fnn.hidden=[32,32]", "nn.landmark_fnn.max_epochs=6",
        "nn.gradient_fnn.hidden=[64,32]", "nn.gradient_fnn.max_epochs=3", "nn.gradient_fnn.emotions=null",
        "evaluation.floor.l2=[1.0,0.01]", "evaluation.floor.max_steps=500"]


def run_comparison(config: dict, tmp: Path, *sets: str) -> tuple[dict, Path]:
    stage_sets = [f"{key}={config.path(key)}" for key in ("raw_source", "formatted", "aligned", "gradients", "blurred")]
    args = ["--set", "demo_set=false", "--set", "format=false", "--set", "align=false", "--set", "gradient=false",
            "--set", "train=false", "--set", "save=false", "--set", f"runs_dir={tmp / 'runs'}"]
    for s in [*stage_sets, *TINY, *sets]:
        args += ["--set", s]
    out = subprocess.run([sys.executable, "-m", "fer_compare", *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=1200)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    run_dir = next((tmp / "runs").iterdir())
    return json.loads((run_dir / "comparison.json").read_text()), run_dir


@pytest.mark.slow
def test_floors_and_pairs_appear_in_every_report_file(london_stages, tmp_path):
    comparison, run_dir = run_comparison(london_stages, tmp_path, "evaluation.folds=3")
    models = comparison["models"]
    floors = {"linear_crop": "cnn", "linear_landmarks": "landmark_fnn", "linear_laplacian": "gradient_fnn"}
    for floor, network in floors.items():
        assert models[floor]["floor_of"] == network and models[network]["floor_of"] is None
        assert comparison["floors"][network]["floor"] == floor
        assert comparison["floors"][network]["verdict"] in (
            "beats its floor", "is below its floor", "is not distinguishable from its floor")
    assert len(comparison["pairs"]) == 15  # every pair of six models
    for p in comparison["pairs"]:
        assert {"a", "b", "mean_difference", "ci95", "p_value"} <= set(p) and p["folds"] == 3
        lo, hi = p["ci95"]
        assert lo <= p["mean_difference"] <= hi and 0 <= p["p_value"] <= 1
    winner = comparison["winner"]
    assert winner["model"] in floors.values() and isinstance(winner["resolved"], bool)
    assert winner["resolution"].startswith("resolved" if winner["resolved"] else "not resolved")
    assert comparison["protocol"]["subject_normalization"] == "none"
    text = (run_dir / "comparison.md").read_text()
    assert "## Against the floors" in text and "## Paired differences" in text and "Is the lead real?" in text
    for floor in floors:
        assert floor in text
    # The floors' TensorBoard summaries: each fold's L2 sweep, and the comparison's mean accuracies.
    assert list((run_dir / "cv" / "linear_crop" / "fold-0" / "validation").glob("events.out.tfevents.*"))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "comparison"), size_guidance={"tensors": 0})
    events.Reload()
    assert {f"test_accuracy_mean/{k}" for k in models} <= set(events.Tags()["tensors"])


@pytest.mark.slow
def test_floors_can_be_switched_off_and_repeats_report_their_spread(london_stages, tmp_path):
    comparison, run_dir = run_comparison(london_stages, tmp_path, "evaluation.folds=2", "evaluation.repeats=2",
                                   "evaluation.floors=false", 'models=["landmark_fnn","gradient_fnn"]')
    assert set(comparison["models"]) == {"landmark_fnn", "gradient_fnn"} and comparison["floors"] == {}
    (p,) = comparison["pairs"]
    assert p["folds"] == 4 and p["test"].startswith("corrected resampled t-test")
    assert len(comparison["models"]["landmark_fnn"]["repeat_accuracy_means"]) == 2
    assert comparison["protocol"]["repeats"] == 2
    assert "mean accuracy of each repeat (std across repeats)" in (run_dir / "comparison.md").read_text()
