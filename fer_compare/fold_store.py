"""K-fold resume: each finished fold's result on disk, so that an interrupted comparison run again
with `train_existing_model: true` keeps its finished folds and resumes the interrupted one.

A fold folder gets `fold-started.json` before training and `fold.json` once its test photos are
scored, both carrying a fingerprint of everything the fold's result depends on (the model's
settings, its input settings and data, the fold's photos). A later run reuses an earlier fold only
when the fingerprints are equal; otherwise it trains that fold again and says why.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from .data import ModelData
from .errors import UserError
from .files import atomic_write_text
from .kinds import kind as kind_of
from .protocol import FoldPlan
from .results import FoldResult
from .settings import Settings

FINISHED, STARTED = "fold.json", "fold-started.json"


def data_digest(data: ModelData) -> str:
    """A hash of one model's inputs, labels and photo keys (the same data gives the same digest)."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(data.x).tobytes())
    h.update(np.ascontiguousarray(data.y).tobytes())
    h.update("\n".join(data.keys).encode())
    h.update(json.dumps(data.classes).encode())
    return h.hexdigest()


def fold_fingerprint(config: Settings, kind: str, digest: str, plan: FoldPlan) -> str:
    """What one fold's result depends on, as one hash."""
    settings: dict[str, Any] = {
        "kind": kind, "data": digest, "test": sorted(plan.test), "validation": sorted(plan.validation),
        "input": config.input_record(kind), "seed": config.seed, "loss": config.loss,
        "floor": dataclasses.asdict(config.evaluation.floor), "augment": config.augments(kind),
        "augment_options": dataclasses.asdict(config.augment), "stopping": dataclasses.asdict(config.stopping),
        "subject_normalization": config.subject_normalization,
    }
    if not kind_of(kind).is_floor:
        settings["model"] = config.model_record(kind)
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def earlier_comparison(config: Settings, run_dir: Path) -> Path | None:
    """The run folder whose folds a resumed comparison reuses: model_to_load when it holds cv/ folds,
    else the newest earlier run under runs_dir that does."""
    def has_folds(run: Path) -> bool:
        return (run / "cv").is_dir()

    if config.model_to_load and has_folds(Path(config.model_to_load)):
        return Path(config.model_to_load)
    runs = sorted((p for p in Path(config.runs_dir).glob("*") if p.is_dir() and p != run_dir and has_folds(p)),
                  key=lambda p: p.stat().st_mtime)
    if not runs:
        raise UserError(f"train_existing_model: no earlier comparison under {config.runs_dir} to resume; "
                        f"set model_to_load to its run folder")
    return runs[-1]


def mark_started(folder: Path, fingerprint: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / STARTED, json.dumps({"fingerprint": fingerprint}) + "\n")


def save_fold(folder: Path, fold: FoldResult, parameters: int, fingerprint: str) -> None:
    """The scored fold, written atomically: a file that exists is whole."""
    record = {
        "fingerprint": fingerprint, "parameters": parameters, "fold": fold.fold, "repeat": fold.repeat,
        "y_true": fold.y_true.tolist(), "y_pred": fold.y_pred.tolist(), "probabilities": fold.probabilities.tolist(),
        "n_train": fold.n_train, "n_validation": fold.n_validation, "n_test": fold.n_test,
        "test_subjects": fold.test_subjects, "history": fold.history, "best_epoch": fold.best_epoch,
        "seconds": fold.seconds, "keys": fold.keys,
    }
    atomic_write_text(folder / FINISHED, json.dumps(record) + "\n")


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def finished_fold(folder: Path, fingerprint: str) -> tuple[FoldResult, int] | None:
    """The earlier fold's result when it was made by the same fold of the same settings and data."""
    r = _read(folder / FINISHED)
    if r is None or r.get("fingerprint") != fingerprint:
        return None
    probabilities = np.asarray(r["probabilities"], np.float32).reshape(len(r["y_true"]), -1)
    fold = FoldResult(
        fold=r["fold"], y_true=np.asarray(r["y_true"], int), y_pred=np.asarray(r["y_pred"], int),
        probabilities=probabilities, n_train=r["n_train"], n_validation=r["n_validation"], n_test=r["n_test"],
        test_subjects=r["test_subjects"], history=r["history"], best_epoch=r["best_epoch"], seconds=r["seconds"],
        keys=r["keys"], repeat=r["repeat"])
    return fold, int(r["parameters"])


def interrupted_checkpoints(folder: Path, fingerprint: str) -> Path | None:
    """The earlier fold's checkpoint folder when that fold started with the same settings and data."""
    r = _read(folder / STARTED)
    checkpoints = folder / "checkpoints"
    if r is None or r.get("fingerprint") != fingerprint or not any(checkpoints.glob("*.index")):
        return None
    return checkpoints


def keep_earlier(earlier: Path, folder: Path) -> None:
    """Copy a reused fold's folder (its result and TensorBoard logs) into this run."""
    shutil.copytree(earlier, folder, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("checkpoints", "best", STARTED))
