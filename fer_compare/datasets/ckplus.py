"""CK+ (Extended Cohn-Kanade): image sequences from neutral to a peak expression, and label files.

    cohn-kanade-images/S005/001/S005_001_00000001.png ... S005_001_00000011.png
    Emotion/S005/001/S005_001_00000011_emotion.txt      (holds a float code, e.g. 3.0000000e+00)

Codes: 0 neutral, 1 angry, 2 contemptuous, 3 disgusted, 4 fearful, 5 happy, 6 sad, 7 surprised.
The two folders may sit at most two levels below the root (e.g. Emotion_labels/Emotion). Of each
labelled sequence we use the labelled peak frame (the file the label names) with its emotion and
the first frame as neutral; sequences without a label file and the frames between are not used.
The subject is the S-number.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import UserError
from ..files import is_image
from ..records import Record, Reject
from ._common import key_of, reject, subfolders, walk_files

CODES = ("neutral", "angry", "contemptuous", "disgusted", "fearful", "happy", "sad", "surprised")
IMAGES_FOLDER = "cohn-kanade-images"
LABELS_FOLDER = "emotion"
LABEL_SUFFIX = "_emotion.txt"


def find_folders(root: Path) -> tuple[Path, Path] | None:
    """The images and label folders at most two levels below `root` (shallowest first), or None."""
    if not root.is_dir():
        return None
    found: dict[str, Path] = {}
    level = [root]
    for _depth in (1, 2):
        below: list[Path] = []
        for folder in level:
            for sub in subfolders(folder):
                name = sub.name.lower()
                if name in (IMAGES_FOLDER, LABELS_FOLDER):
                    found.setdefault(name, sub)
                below.append(sub)
        level = below
    if IMAGES_FOLDER in found and LABELS_FOLDER in found:
        return found[IMAGES_FOLDER], found[LABELS_FOLDER]
    return None


def _label_code(path: Path) -> int | None:
    try:
        value = float(path.read_text(errors="replace").strip())
    except (OSError, ValueError):
        return None
    if not math.isfinite(value) or not value.is_integer() or not 0 <= value < len(CODES):
        return None
    return int(value)


def _record(path: Path, root: Path, emotion: str, subject: str) -> Record:
    return Record(key=key_of(path, root), path=str(path), emotion=emotion, subject=subject, source=str(path))


def read(root: Path) -> tuple[list[Record], list[Reject]]:
    """The peak and first frame of every labelled CK+ sequence; unreadable labels become rejects."""
    root = Path(root).resolve()
    folders = find_folders(root)
    if folders is None:
        raise UserError(f"{root}: no {IMAGES_FOLDER} and Emotion folders (looked two levels down) for ckplus")
    images_dir, labels_dir = folders
    records: dict[str, Record] = {}
    rejects: list[Reject] = []
    for label in walk_files(labels_dir):
        if not label.name.endswith(LABEL_SUFFIX):
            continue
        frame = label.name[: -len(LABEL_SUFFIX)]
        subject = frame.split("_")[0]
        code = _label_code(label)
        if code is None:
            rejects.append(reject(label, f"label file does not hold an emotion code 0-{len(CODES) - 1}",
                                  subject=subject))
            continue
        sequence = images_dir / label.parent.relative_to(labels_dir)
        frames = sorted(p for p in sequence.iterdir() if p.is_file() and is_image(p)) if sequence.is_dir() else []
        peaks = [p for p in frames if p.stem == frame]
        if not peaks:
            rejects.append(reject(label, f"labelled frame {frame} not found in {sequence}", subject=subject,
                                  emotion=CODES[code]))
            continue
        first, peak = frames[0], peaks[0]
        # setdefault: a first frame that is also a labelled peak keeps its label.
        records.setdefault(key_of(first, root), _record(first, root, "neutral", subject))
        records[key_of(peak, root)] = _record(peak, root, CODES[code], subject)
    return sorted(records.values(), key=lambda r: r.key), rejects
