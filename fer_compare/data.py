"""What each model reads from the stage folders, as arrays, with the labels and subjects kept alongside."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .emotions import EMOTIONS, resolve_classes
from .errors import UserError
from .files import ImageError, read_gray
from .progress import say
from .records import Record, read_manifest

# Which stage folder (config key) each model reads.
SOURCES = {"cnn": "formatted", "landmark_fnn": "aligned", "gradient_fnn": "gradients"}


@dataclass
class ModelData:
    """One model's examples: x (uint8 images [N, H, W] or float32 features [N, 4, 42]) and labels."""

    kind: str
    x: np.ndarray
    y: np.ndarray
    keys: list[str]
    subjects: np.ndarray
    parts: np.ndarray
    classes: list[str]
    source: str
    not_in_classes: int = 0

    def __len__(self) -> int:
        return len(self.y)

    def take(self, index: np.ndarray) -> ModelData:
        return ModelData(self.kind, self.x[index], self.y[index], [self.keys[i] for i in index],
                         self.subjects[index], self.parts[index], self.classes, self.source)


def source_key(config: dict[str, Any], kind: str) -> str:
    if kind == "gradient_fnn":
        return config["nn"]["gradient_fnn"]["source"]
    return SOURCES[kind]


def network_image(gray: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """A stored face image resized to the network's input size (width, height), uint8."""
    if gray.shape[1] == input_size[0] and gray.shape[0] == input_size[1]:
        return gray
    return cv2.resize(gray, tuple(input_size), interpolation=cv2.INTER_AREA)


def to_network_input(kind: str, x: np.ndarray) -> np.ndarray:
    """uint8 images / float features -> the float32 tensor the model takes (the pipeline's decode, in NumPy)."""
    if kind == "landmark_fnn":
        return x.astype(np.float32)
    x = x.astype(np.float32) / 255.0
    if kind == "cnn":
        return x[..., None]
    return x.reshape(len(x), -1)


def load_features(image_path: str | Path) -> np.ndarray:
    with np.load(Path(image_path).with_suffix(".npz")) as z:
        return z["features"]


def choose_classes(config: dict[str, Any], kind: str, records: list[Record]) -> list[str]:
    """The model's classes: nn.<kind>.emotions (or every emotion present), minus those with no photos."""
    present = {r.emotion for r in records}
    wanted = config["nn"][kind]["emotions"]
    if wanted is None:
        classes = [e for e in EMOTIONS if e in present]
        if len(classes) < 2:
            kept = config["dataset"]["emotions"]
            why = f" (dataset.emotions keeps only {kept})" if kept else ""
            raise UserError(f"nn.{kind}.emotions: the data has photos of {classes} only{why}; a classifier needs "
                            f"two emotions or more")
        return classes
    wanted = resolve_classes(wanted, f"nn.{kind}.emotions")
    empty = [e for e in wanted if e not in present]
    if empty:
        say(f"  warning: nn.{kind}.emotions: no photos of {', '.join(empty)}; that class is left out")
    classes = [e for e in wanted if e in present]
    if len(classes) < 2:
        raise UserError(f"nn.{kind}.emotions: fewer than two of {list(wanted)} have photos ({classes})")
    return classes


def load_model_data(config: dict[str, Any], kind: str) -> ModelData:
    """Read the model's stage folder (manifest + files) into arrays."""
    key = source_key(config, kind)
    folder = Path(config[key])
    records = read_manifest(folder, key)
    from .stages.ownership import check_made_with

    check_made_with(folder, key, config)  # the folder's own record, not the switches, says how it was made
    if not records:
        raise UserError(f"{key}: {folder} has no photos left to train on")
    classes = choose_classes(config, kind, records)
    index = {c: i for i, c in enumerate(classes)}
    kept = [r for r in records if r.emotion in index]
    size = tuple(config["nn"]["input"])
    xs = []
    good = []
    problems = []
    for r in kept:
        try:
            xs.append(load_features(r.path) if kind == "landmark_fnn" else network_image(read_gray(r.path), size))
            good.append(r)
        except (ImageError, OSError, KeyError) as e:
            say(f"  warning: {r.path}: skipped ({e})")
            problems.append(f"{r.path}: {e}")
    if not xs:
        raise UserError(f"{key}: none of the {len(kept)} photos in {folder} could be read (first: {problems[0]})")
    x = np.stack(xs)
    return ModelData(
        kind=kind, x=x, y=np.array([index[r.emotion] for r in good], np.int32), keys=[r.key for r in good],
        subjects=np.array([r.subject or r.key for r in good]), parts=np.array([r.part for r in good]),
        classes=classes, source=str(folder), not_in_classes=len(records) - len(kept),
    )
