"""Dataset readers: turn a folder (or FER2013 csv) of labelled faces into records and rejects.

Layouts: rafd, ckplus, jaffe, fer2013 and class folders; see each reader's module for its layout.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..emotions import canonical
from ..errors import UserError
from ..files import read_gray
from ..records import Record, Reject
from . import ckplus, fer2013, folders, jaffe, rafd
from ._common import LOOKED_FOR, has_images, iter_images, reject

__all__ = ["LAYOUTS", "detect_layout", "load_gray", "read_dataset"]

LAYOUTS = ("rafd", "ckplus", "jaffe", "fer2013", "folders")

_UNDERSTOOD = (
    "rafd (names like Rafd090_01_Caucasian_female_angry_frontal.jpg), "
    "ckplus (cohn-kanade-images and Emotion folders), "
    "jaffe (names like KA.AN1.39.tiff), "
    "fer2013 (a csv with columns emotion,pixels,Usage), "
    "folders (one sub-folder per emotion, e.g. happy/ and neutral/)"
)


def _check_exists(root: Path) -> None:
    if not root.exists():
        raise UserError(f"{root}: no such file or folder")


def _check_has_images(root: Path) -> None:
    if not root.is_dir():
        raise UserError(f"{root}: not a folder (only a fer2013 dataset may be a csv file)")
    if not has_images(root):
        raise UserError(f"{root}: no images found (looked for {LOOKED_FOR})")


def _mostly(names: list[str], matches: Callable[[str], object]) -> bool:
    """True when more than half of the names fit a layout's name pattern."""
    hits = sum(1 for name in names if matches(name))
    return hits * 2 > len(names)


def detect_layout(root: Path) -> str:
    """The layout of the dataset at `root`, decided by looking at its files; UserError if none fits."""
    root = Path(root)
    _check_exists(root)
    if root.is_file():
        if fer2013.is_fer2013_csv(root):
            return "fer2013"
        raise UserError(f"{root}: a file, but not a FER2013 csv (columns emotion,pixels,Usage); "
                        f"a dataset is a folder or such a csv")
    if fer2013.csv_files(root):
        return "fer2013"
    if ckplus.find_folders(root) is not None:
        return "ckplus"
    _check_has_images(root)
    names = [p.name for p in iter_images(root)]
    # A majority, not any: a stray RaFD-named photo must not turn a class-folder dataset into RaFD.
    if _mostly(names, rafd.parse_name):
        return "rafd"
    if _mostly(names, lambda name: jaffe.PATTERN.match(Path(name).stem)):
        return "jaffe"
    if folders.emotion_folders(root):
        return "folders"
    raise UserError(f"{root}: cannot tell the dataset layout; understood are {_UNDERSTOOD} "
                    f"(set dataset.layout to choose one)")


def _emotion_filter(emotions: list[str] | None) -> set[str] | None:
    if emotions is None:
        return None
    return {canonical(str(e), where="dataset.emotions") for e in emotions}


def _unique_keys(records: list[Record]) -> tuple[list[Record], list[Reject]]:
    """Keep the first record of each key; the key names output files, so later ones are rejects."""
    kept: dict[str, Record] = {}
    dropped: list[Reject] = []
    for r in sorted(records, key=lambda r: (r.key, r.path)):
        if r.key in kept:
            dropped.append(reject(r.source, f"same key as {kept[r.key].source} (names differ only in suffix)",
                                  key=r.key, emotion=r.emotion, subject=r.subject))
        else:
            kept[r.key] = r
    return list(kept.values()), dropped


def read_dataset(
    root: Path,
    layout: str = "auto",
    subject_pattern: str = folders.DEFAULT_SUBJECT_PATTERN,
    emotions: list[str] | None = None,
) -> tuple[list[Record], list[Reject]]:
    """Records (sorted by key) and rejects of the dataset at `root`; `emotions` keeps only those emotions."""
    root = Path(root)
    if layout not in (*LAYOUTS, "auto"):
        raise UserError(f"dataset.layout: {layout!r} is not one of auto, {', '.join(LAYOUTS)}")
    keep = _emotion_filter(emotions)
    folders.compile_subject_pattern(subject_pattern)  # a config mistake shows even when the layout ignores it
    if layout == "auto":
        layout = detect_layout(root)
    else:
        _check_exists(root)
        if layout != "fer2013":
            _check_has_images(root)
    if layout == "rafd":
        records, rejects = rafd.read(root)
    elif layout == "ckplus":
        records, rejects = ckplus.read(root)
    elif layout == "jaffe":
        records, rejects = jaffe.read(root)
    elif layout == "fer2013":
        records, rejects = fer2013.read(root)
    else:
        records, rejects = folders.read(root, subject_pattern)
    if keep is not None:
        # A filter, not an error: photos of other emotions are dropped without a reject.
        records = [r for r in records if r.emotion in keep]
        rejects = [r for r in rejects if not r.emotion or r.emotion in keep]
    records, duplicates = _unique_keys(records)
    rejects = sorted([*rejects, *duplicates], key=lambda r: (r.source, r.reason))
    return records, rejects


def load_gray(path: str) -> np.ndarray:
    """A record's face as uint8 grayscale: a FER2013 csv row ("file.csv#row") or a photo file."""
    row = fer2013.split_row_path(str(path))
    if row is not None:
        return fer2013.load_row(*row)
    return read_gray(path)
