"""What each model reads from the stage folders, as arrays, with the labels and subjects kept alongside."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .emotions import EMOTIONS, resolve_classes
from .errors import UserError
from .files import ImageError, read_gray
from .kinds import kind as kind_of
from .progress import say
from .records import read_manifest
from .settings import Settings


@dataclass
class PhotoSet:
    """Every readable example of one stage folder, all emotions, with labels and subjects alongside.

    x: uint8 images [N, H, W] (resized to nn.input) or float32 landmark features [N, 4, 42];
    float32 images in 0..1 units after subject normalisation.
    """

    x: np.ndarray
    emotions: np.ndarray
    keys: list[str]
    subjects: np.ndarray
    parts: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.keys)

    def select(self, keep: np.ndarray) -> PhotoSet:
        """The examples where `keep` (a boolean mask) is true."""
        return self.take(np.flatnonzero(keep))

    def take(self, index: np.ndarray) -> PhotoSet:
        """The examples at `index`, in that order."""
        return PhotoSet(self.x[index], self.emotions[index], [self.keys[i] for i in index], self.subjects[index],
                        self.parts[index], self.source)


@dataclass
class ModelData:
    """One model's examples: x (uint8 images [N, H, W], float32 features [N, 4, 42], or float32 after
    subject normalisation) and labels y indexing `classes`."""

    kind: str
    x: np.ndarray
    y: np.ndarray
    keys: list[str]
    subjects: np.ndarray
    parts: np.ndarray
    classes: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.y)


def source_key(config: Settings, kind: str) -> str:
    """The config key of the stage folder a model kind reads."""
    return kind_of(kind).source(config)


def network_image(gray: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """A stored face image resized to the network's input size (width, height), uint8."""
    if gray.shape[1] == input_size[0] and gray.shape[0] == input_size[1]:
        return gray
    return cv2.resize(gray, tuple(input_size), interpolation=cv2.INTER_AREA)


def to_network_input(kind: str, x: np.ndarray) -> np.ndarray:
    """Stored examples -> the float32 tensor the model takes (the pipeline's decode, in NumPy)."""
    return kind_of(kind).to_input(x)


def load_features(image_path: str | Path) -> np.ndarray:
    with np.load(Path(image_path).with_suffix(".npz")) as z:
        return z["features"]


def choose_classes(config: Settings, kind: str, emotions: list[str] | np.ndarray) -> list[str]:
    """The model's classes: nn.<kind>.emotions (or every emotion present), minus those with no photos."""
    present = set(map(str, emotions))
    wanted = config.nn.of(kind).emotions
    if wanted is None:
        classes = [e for e in EMOTIONS if e in present]
        if len(classes) < 2:
            kept = config.dataset.emotions
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


def load_photos(config: Settings, key: str, features: bool) -> PhotoSet:
    """Read a stage folder (manifest + files) into arrays: landmark features or network-sized images."""
    folder = Path(config.path(key))
    records = read_manifest(folder, key)
    from .stages.ownership import check_made_with

    check_made_with(folder, key, config)  # the folder's own record, not the switches, says how it was made
    if not records:
        raise UserError(f"{key}: {folder} has no photos left to train on")
    size = tuple(config.nn.input)
    xs, good, problems = [], [], []
    for r in records:
        try:
            xs.append(load_features(r.path) if features else network_image(read_gray(r.path), size))
            good.append(r)
        except (ImageError, OSError, KeyError) as e:
            say(f"  warning: {r.path}: skipped ({e})")
            problems.append(f"{r.path}: {e}")
    if not xs:
        raise UserError(f"{key}: none of the {len(records)} photos in {folder} could be read (first: {problems[0]})")
    return PhotoSet(np.stack(xs), np.array([r.emotion for r in good]), [r.key for r in good],
                    np.array([r.subject or r.key for r in good]), np.array([r.part for r in good]), str(folder))


def model_data(photos: PhotoSet, kind: str, classes: list[str]) -> ModelData:
    """The photos of `classes`, labelled by their index in it."""
    index = {c: i for i, c in enumerate(classes)}
    mine = photos.select(np.isin(photos.emotions, classes))
    return ModelData(kind=kind, x=mine.x, y=np.array([index[e] for e in mine.emotions], np.int32), keys=mine.keys,
                     subjects=mine.subjects, parts=mine.parts, classes=list(classes), source=photos.source)


def reads_features(kind: str) -> bool:
    """Whether a kind reads the landmark features (not the images) of its stage folder."""
    from .kinds import FEATURES

    return kind_of(kind).layout == FEATURES or (kind_of(kind).floor_of is not None
                                                 and kind_of(kind_of(kind).floor_of).layout == FEATURES)


def load_model_data(config: Settings, kind: str) -> ModelData:
    """Read one model's stage folder into arrays, keeping the photos of its classes."""
    photos = load_photos(config, source_key(config, kind), reads_features(kind))
    return model_data(photos, kind, choose_classes(config, kind, photos.emotions))
