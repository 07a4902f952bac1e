"""Training interrupted (Ctrl-C, kill -9) and diverging (NaN): a clean stop, a usable checkpoint, exact resume.

The photos: train_source holds 72 London subjects (neutral and happy), test_source 8 other subjects
whose two photos are filed under each other's label. The thesis's sources mode validates on
test_source, so the better a model learns smiles, the worse its validation loss: the best epoch
is epoch 0 whatever the machine, which the resume test needs (see there).

The signal runs send the signal from inside the CLI after a known epoch (faultkit.fault: the
training loop's test hook, fer_compare.files.fault_point), never after a guessed delay, so the
machine's speed cannot move the interruption. Models stay small: memory is shared.
"""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path
from typing import Any

import pytest
from faultkit import (
    case,
    error_line,
    fault,
    london_photo,
    london_subjects,
    london_tree,
    run_cli,
    run_folders,
    snapshot,
    succeeded,
    workspace,
)

pytestmark = pytest.mark.slow

# Resumed and uninterrupted runs compute the same float32 ops in the same order on the same batches
# (epoch order keyed by seed and epoch, dropout by seed + step); measured: identical to the printed digits.
LOSS_TOLERANCE = 1e-4
ACCURACY_TOLERANCE = 1e-6


def epoch_line(kind: str) -> re.Pattern[str]:
    return re.compile(rf"{kind} epoch +(\d+): train loss (\S+) +validation loss (\S+) +accuracy (\S+) +"
                      rf"learning rate \S+ +\((\S+) s\)")


def epochs(stdout: str, kind: str) -> dict[int, tuple[float, float, float]]:
    """Epoch -> (train loss, validation loss, validation accuracy) from the printed lines."""
    return {int(m[1]): (float(m[2]), float(m[3]), float(m[4])) for m in epoch_line(kind).finditer(stdout)}


def final_line(stdout: str, kind: str) -> tuple[str, int, float, float]:
    """(why it stopped, best epoch, best validation loss, its accuracy) from the run's last training line."""
    found = re.search(rf"  {kind}: (.*); best epoch (-?\d+), validation loss (\S+), accuracy (\S+);", stdout)
    assert found, stdout
    return found[1], int(found[2]), float(found[3]), float(found[4])


@pytest.fixture(scope="module")
def photos(london: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """train_source and test_source (labels swapped) formatted and aligned once."""
    tmp = tmp_path_factory.mktemp("training")
    subjects = london_subjects(london)
    train = london_tree(london, tmp / "train", subjects[:72])
    test = tmp / "test"
    for folder, emotion in (("neutral", "happy"), ("happy", "neutral")):
        (test / folder).mkdir(parents=True)
        for s in subjects[72:80]:
            photo = london_photo(london, s, emotion)
            (test / folder / photo.name).write_bytes(photo.read_bytes())
    sources = {"train_source": str(train), "test_source": str(test)}
    succeeded(run_cli(workspace(tmp, format=True, align=True) | sources | {"workers": 2}, tmp))
    folders = (train, test, tmp / "formatted", tmp / "aligned")
    return {"sources": sources, "tmp": tmp, "folders": folders, "before": snapshot(*folders)}


def train_sets(photos: dict[str, Any], tmp: Path, kind: str, **more: Any) -> dict[str, Any]:
    """Train `kind` on the shared photos, outputs under `tmp`; no export."""
    sizes = {"cnn": {"nn.cnn.hidden": [64, 32], "nn.cnn.batch_size": 1, "learning_rate": 3e-4},
             "landmark_fnn": {"nn.landmark_fnn.hidden": [256, 256], "nn.landmark_fnn.subnet": [42, 32, 32],
                              "nn.landmark_fnn.batch_size": 1, "learning_rate": 1e-3}}[kind]
    return workspace(tmp, train=True, save=False) | photos["sources"] | sizes | {
        "formatted": str(photos["tmp"] / "formatted"), "aligned": str(photos["tmp"] / "aligned"),
        "models": [kind], "seed": 3} | more


def after_epoch(epoch: int, sig: str) -> dict[str, str]:
    """The CLI sends itself SIG<sig> right after epoch `epoch` (0-based) is printed."""
    return fault("train:epoch", epoch + 1, sig)


@case("training", "SIGINT mid-epoch")
@pytest.mark.parametrize("sig, code, said", [("INT", 130, "interrupted"), ("TERM", 143, "terminated \\(SIGTERM\\)")],
                         ids=["sigint", "sigterm"])
def test_ctrl_c_mid_epoch_saves_a_checkpoint_and_exits_cleanly(photos: dict[str, Any], tmp_path: Path, sig: str,
                                                                code: int, said: str) -> None:
    """Exit 130 (SIGTERM: 143), one line naming the checkpoint; a rerun with train_existing_model resumes from it."""
    run = run_cli(train_sets(photos, tmp_path, "cnn", **{"nn.cnn.max_epochs": 50}), tmp_path,
                  env=after_epoch(1, sig))
    line = error_line(run, code=code)
    (run_dir,) = run_folders(tmp_path / "runs")
    saved = re.fullmatch(rf"fer-compare: error: {said}: cnn checkpoint saved to (\S+); "
                         r"resume with train_existing_model: true", line)
    assert saved, line
    assert Path(saved[1] + ".index").is_file() and Path(saved[1]).parent == run_dir / "cnn" / "checkpoints"
    done = max(epochs(run.stdout, "cnn"))
    assert snapshot(*photos["folders"]) == photos["before"]
    # The saved checkpoint is one a rerun resumes from.
    again = run_cli(train_sets(photos, tmp_path, "cnn", **{
        "nn.cnn.max_epochs": done + 3, "train_existing_model": True, "model_to_load": str(run_dir)}), tmp_path)
    succeeded(again)
    assert f"cnn: resumed from {saved[1]} after epoch {done}" in again.stdout
    assert sorted(epochs(again.stdout, "cnn")) == [done + 1, done + 2]


@pytest.fixture(scope="module")
def killed_and_resumed(photos: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """landmark_fnn for 6 epochs with seed 3: uninterrupted; and killed with SIGKILL in epoch 2, then resumed."""
    tmp = tmp_path_factory.mktemp("kill9")
    sets = {"nn.landmark_fnn.max_epochs": 6, "checkpoint_seconds": 0}  # the whole state after every epoch
    whole = run_cli(train_sets(photos, tmp / "whole", "landmark_fnn", **sets), tmp)
    succeeded(whole)
    killed = run_cli(train_sets(photos, tmp / "part", "landmark_fnn", **sets), tmp, env=after_epoch(1, "KILL"))
    (killed_dir,) = run_folders(tmp / "part" / "runs")
    resumed = run_cli(train_sets(photos, tmp / "part", "landmark_fnn", train_existing_model=True,
                                 model_to_load=str(killed_dir), **sets), tmp)
    return {"whole": whole, "killed": killed, "killed_dir": killed_dir, "resumed": resumed}


@case("training", "kill -9 mid-epoch, then resume")
def test_kill_9_then_resume_gives_the_same_epochs(photos: dict[str, Any], killed_and_resumed: dict[str, Any]) -> None:
    """The rerun resumes from the last checkpoint and its epochs equal the uninterrupted run's."""
    whole, killed, resumed = (killed_and_resumed[k] for k in ("whole", "killed", "resumed"))
    assert killed.returncode == -signal.SIGKILL
    succeeded(resumed)
    checkpoints = killed_and_resumed["killed_dir"] / "landmark_fnn" / "checkpoints"
    last = max(checkpoints.glob("ckpt-*.index"), key=lambda p: int(p.stem.split("-")[1]))
    after = re.search(r"landmark_fnn: resumed from (\S+) after epoch (\d+)", resumed.stdout)
    assert after and after[1] == str(last.with_suffix("")), resumed.stdout
    start = int(after[2]) + 1
    assert start >= 2  # the kill came after epoch 1's line
    a, b = epochs(whole.stdout, "landmark_fnn"), epochs(resumed.stdout, "landmark_fnn")
    assert a and sorted(b) == [e for e in sorted(a) if e >= start]
    for epoch in b:
        assert b[epoch][:2] == pytest.approx(a[epoch][:2], abs=LOSS_TOLERANCE), f"epoch {epoch}"
        assert b[epoch][2] == pytest.approx(a[epoch][2], abs=ACCURACY_TOLERANCE), f"epoch {epoch}"
    # The stopping rule's memory came back too: both runs stop at the same epoch, for the same reason.
    assert final_line(resumed.stdout, "landmark_fnn")[0] == final_line(whole.stdout, "landmark_fnn")[0]
    assert snapshot(*photos["folders"]) == photos["before"]


@case("training", "kill -9 mid-epoch, then resume")
def test_kill_9_then_resume_gives_the_same_final_metrics(killed_and_resumed: dict[str, Any]) -> None:
    """Best epoch, best validation loss and its accuracy: the same as the uninterrupted run's."""
    _, epoch_a, loss_a, acc_a = final_line(killed_and_resumed["whole"].stdout, "landmark_fnn")
    _, epoch_b, loss_b, acc_b = final_line(killed_and_resumed["resumed"].stdout, "landmark_fnn")
    # the swapped validation labels make epoch 0 the best (module docstring)
    assert epoch_a == 0, killed_and_resumed["whole"].stdout
    assert (epoch_b, loss_b) == (epoch_a, pytest.approx(loss_a, abs=LOSS_TOLERANCE))
    assert acc_b == pytest.approx(acc_a, abs=ACCURACY_TOLERANCE)


def nan_sets(tmp: Path, raw: Path, **more: Any) -> dict[str, Any]:
    return workspace(tmp, raw, train=True, save=False) | {
        "models": ["landmark_fnn"], "nn.landmark_fnn.hidden": [64, 64], "nn.landmark_fnn.subnet": [42, 32, 32],
        "nn.landmark_fnn.max_epochs": 5, "split.test_fraction": 0.0, "split.validation_fraction": 0.25} | more


@pytest.fixture(scope="module")
def diverged(london: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """landmark_fnn with learning_rate 1e6 on 16 aligned London photos: the run, its folder and its inputs."""
    tmp = tmp_path_factory.mktemp("nan")
    raw = london_tree(london, tmp / "raw", london_subjects(london)[:8])
    succeeded(run_cli(workspace(tmp, raw, format=True, align=True), tmp))
    before = snapshot(raw, tmp / "formatted", tmp / "aligned")
    run = run_cli(nan_sets(tmp, raw, learning_rate=1e6), tmp)
    (run_dir,) = run_folders(tmp / "runs")
    return {"run": run, "run_dir": run_dir, "tmp": tmp, "raw": raw, "before": before}


@case("training", "a NaN loss")
def test_a_nan_loss_stops_clearly_and_keeps_the_last_good_checkpoint(diverged: dict[str, Any]) -> None:
    line = error_line(diverged["run"])
    kept = re.fullmatch(r"fer-compare: error: nn\.landmark_fnn: the loss became NaN or infinite in epoch (\d+) "
                        r"\(learning rate 1000000\.0 too high\?\); kept the last good checkpoint (\S+)", line)
    assert kept, line
    assert Path(kept[2] + ".index").is_file()
    assert Path(kept[2]).parent == diverged["run_dir"] / "landmark_fnn" / "checkpoints"
    tmp = diverged["tmp"]
    assert snapshot(diverged["raw"], tmp / "formatted", tmp / "aligned") == diverged["before"]


@case("training", "a NaN loss")
def test_the_kept_checkpoint_resumes_with_a_lower_learning_rate(diverged: dict[str, Any], tmp_path: Path) -> None:
    """The point of keeping the last good checkpoint: resume from it with a sane learning rate."""
    run = run_cli(nan_sets(diverged["tmp"], diverged["raw"], learning_rate=1e-4, train_existing_model=True,
                           model_to_load=str(diverged["run_dir"]), runs_dir=str(tmp_path / "runs")), tmp_path)
    succeeded(run)
    assert "landmark_fnn: resumed from" in run.stdout
    assert "landmark_fnn epoch   4:" in run.stdout


@case("training", "a full disk while saving a checkpoint")
def test_a_full_disk_while_checkpointing_is_one_line(diverged: dict[str, Any]) -> None:
    """Every file the run writes is capped at 64 KiB: the first checkpoint (~300 KB) cannot be written."""
    tmp, raw = diverged["tmp"], diverged["raw"]
    sets = nan_sets(tmp, raw, learning_rate=1e-3, runs_dir=str(tmp / "full-disk-runs"))
    run = run_cli(sets, tmp, max_file_bytes=64 * 1024)
    line = error_line(run)
    (run_dir,) = run_folders(tmp / "full-disk-runs")
    assert line == (f"fer-compare: error: cannot write a checkpoint to {run_dir / 'landmark_fnn' / 'checkpoints'} "
                    f"(File too large)"), line
    assert not list(run_dir.rglob("*_temp*")), "a failed save left its temporary checkpoint behind"
    assert snapshot(raw, tmp / "formatted", tmp / "aligned") == diverged["before"]


def kfold_sets(tmp: Path, raw: Path, out: Path, **more: Any) -> dict[str, Any]:
    """A 3-fold comparison of a small landmark FNN, exactly 5 epochs a fold (min_epochs = max_epochs)."""
    return workspace(tmp, raw, test=True) | {
        "runs_dir": str(out / "runs"), "models": ["landmark_fnn"], "evaluation.folds": 3,
        "evaluation.floors": False, "nn.landmark_fnn.hidden": [64, 64], "nn.landmark_fnn.subnet": [42, 32, 32],
        "nn.landmark_fnn.max_epochs": 5, "stopping.min_epochs": 5, "checkpoint_seconds": 0, "seed": 3} | more


def fold_accuracies(run_dir: Path) -> list[float]:
    comparison = json.loads((run_dir / "comparison.json").read_text())
    return [f["report"]["accuracy"] for f in comparison["models"]["landmark_fnn"]["fold_results"]]


@case("training", "Ctrl-C in a K-fold comparison, then resume")
def test_an_interrupted_k_fold_comparison_keeps_its_finished_folds(london: Path, tmp_path: Path) -> None:
    """Ctrl-C in fold 3 of 3; the rerun with train_existing_model keeps folds 1-2, resumes fold 3 from its
    checkpoint, and its per-fold accuracies equal an uninterrupted run's."""
    raw = london_tree(london, tmp_path / "raw", london_subjects(london)[:12])
    succeeded(run_cli(workspace(tmp_path, raw, format=True, align=True), tmp_path))
    whole = run_cli(kfold_sets(tmp_path, raw, tmp_path / "whole"), tmp_path)
    succeeded(whole)
    (whole_dir,) = run_folders(tmp_path / "whole" / "runs")
    # 5 epochs in each of folds 1 and 2, then 2 epochs of fold 3
    run = run_cli(kfold_sets(tmp_path, raw, tmp_path / "part"), tmp_path, env=after_epoch(5 + 5 + 1, "INT"))
    line = error_line(run, code=130)
    (part_dir,) = run_folders(tmp_path / "part" / "runs")
    checkpoints = part_dir / "cv" / "landmark_fnn" / "fold-2" / "checkpoints"
    assert line == (f"fer-compare: error: interrupted: landmark_fnn fold 3/3, checkpoint saved in {checkpoints}; "
                    f"run the same command with train_existing_model: true and the 2 finished fold(s) are kept "
                    f"and skipped, this fold resumes from its checkpoint"), line
    again = run_cli(kfold_sets(tmp_path, raw, tmp_path / "part", train_existing_model=True), tmp_path)
    succeeded(again)
    assert again.stdout.count("(kept from the earlier run)") == 2, again.stdout
    assert re.search(rf"landmark_fnn: resumed from {re.escape(str(checkpoints))}/ckpt-\d+ after epoch 1",
                     again.stdout), again.stdout
    resumed_dir = max(run_folders(tmp_path / "part" / "runs"), key=lambda p: p.stat().st_mtime)
    assert resumed_dir != part_dir
    assert fold_accuracies(resumed_dir) == pytest.approx(fold_accuracies(whole_dir), abs=ACCURACY_TOLERANCE)
    # Other settings are another comparison: nothing is reused then.
    other = run_cli(kfold_sets(tmp_path, raw, tmp_path / "part", train_existing_model=True,
                               **{"nn.landmark_fnn.dropout": 0.25}), tmp_path)
    succeeded(other)
    assert "kept from the earlier run" not in other.stdout and "resumed from" not in other.stdout
