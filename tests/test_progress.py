"""What a run shows: one line per model in a log, a live display on a terminal, epochs.csv, --verbose."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from conftest import ROOT
from rich.console import Console
from test_training import learnable, trainer

from fer_compare import progress
from fer_compare.__main__ import main
from fer_compare.progress import EPOCH_COLUMNS, live_display, read_epochs, set_fold, stage

EPOCH_LINE = re.compile(r"^\s+\w+ epoch +\d+: train loss")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(autouse=True)
def fresh_display():
    """Each test starts with the default console (stdout) and no --verbose, and leaves it so."""
    progress._state = progress._State()
    yield
    progress._state = progress._State()


def test_a_log_gets_one_line_per_model_and_every_epoch_goes_to_the_csv(tmp_path, capsys):
    t = trainer(tmp_path, learnable(), "a", nn__landmark_fnn__max_epochs=6, stopping__min_epochs=100)
    t.fit()
    lines = capsys.readouterr().out.splitlines()
    assert not [line for line in lines if EPOCH_LINE.match(line)]
    assert len([line for line in lines if line.startswith("  landmark_fnn:")]) == 1
    assert "\x1b[" not in "".join(lines)  # no terminal codes in a log
    rows = read_epochs(tmp_path / "a" / "epochs.csv")
    assert [int(r["epoch"]) for r in rows] == list(range(6))
    assert list(rows[0]) == list(EPOCH_COLUMNS)
    assert all(r["seconds"] > 0 and r["learning_rate"] == pytest.approx(0.003) for r in rows)

    # --verbose: the same rows printed as well; a resumed run appends to its CSV.
    progress.configure(verbose=True)
    resumed = trainer(tmp_path, learnable(), "b", nn__landmark_fnn__max_epochs=9, stopping__min_epochs=100)
    resumed.resume_from(tmp_path / "a" / "checkpoints", "model_to_load")
    resumed.fit()
    lines = capsys.readouterr().out.splitlines()
    printed = [line for line in lines if EPOCH_LINE.match(line)]
    assert [int(line.split("epoch")[1].split(":")[0]) for line in printed] == [6, 7, 8]
    assert "validation loss" in printed[0] and "accuracy" in printed[0] and "learning rate" in printed[0]
    rows_b = read_epochs(tmp_path / "b" / "epochs.csv")
    assert [int(r["epoch"]) for r in rows_b] == [6, 7, 8]


def test_the_live_display_shows_stage_model_fold_epochs_and_eta(tmp_path):
    screen = io.StringIO()
    progress.configure(console=Console(file=screen, force_terminal=True, width=150, color_system="standard"))
    with live_display():
        stage("test")
        set_fold(2, 3)
        trainer(tmp_path, learnable(), "a", nn__landmark_fnn__max_epochs=5, stopping__min_epochs=100).fit()
        shown = ANSI.sub("", screen.getvalue())
        set_fold(None)
    last = shown[shown.rindex("stage test"):]  # the display's last frame
    assert "stage test · model landmark_fnn · fold 2/3" in last
    assert re.search(r"landmark_fnn epochs .*5/5 .*0:00:\d\d ETA 0:00 +train loss \d\.\d{4}  validation loss "
                     r"\d\.\d{4}", last)
    assert "landmark_fnn: reached max_epochs (5)" in shown  # say() scrolls above the display
    assert re.search(r"landmark_fnn epochs .*[1-4]/5 .*ETA 0:0\d", shown)  # an ETA while it ran
    assert (tmp_path / "a" / "epochs.csv").exists()


def test_the_cli_log_has_a_line_per_stage_and_model_and_verbose_adds_the_epochs(london_subset, tmp_path, capsys):
    sets = [f"raw_source={london_subset}", f"formatted={tmp_path / 'formatted'}", f"aligned={tmp_path / 'aligned'}",
            f"runs_dir={tmp_path / 'runs'}", "demo_set=false", "workers=1", "gradient=false", "save=false",
            f"align_template={ROOT / 'templates' / 'template.png'}", 'models=["landmark_fnn"]',
            "nn.landmark_fnn.max_epochs=4", "nn.landmark_fnn.hidden=[32,32]", "stopping.min_epochs=100"]
    assert main([*(a for s in sets for a in ("--set", s))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if line.startswith("[")] == ["[format]", "[align]", "[train]", "[test]"]
    assert not [line for line in lines if EPOCH_LINE.match(line)]
    assert len([line for line in lines if line.startswith("  landmark_fnn: reached")]) == 1
    assert len(lines) < 30
    run = Path(next(line for line in lines if line.startswith("run folder:")).split(": ", 1)[1])
    assert len(read_epochs(run / "landmark_fnn" / "epochs.csv")) == 4

    assert main(["--verbose", *(a for s in sets for a in ("--set", s))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len([line for line in lines if EPOCH_LINE.match(line)]) == 4
