"""JAFFE (Japanese Female Facial Expression): each photo's name carries its labels.

    KA.AN1.39.tiff
    <subject>.<emotion code><take>.<image number>.tiff

Emotion codes: AN angry, DI disgusted, FE fearful, HA happy, NE neutral, SA sad, SU surprised.
Photos may lie anywhere below the root.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..records import Record, Reject
from ._common import iter_images, key_of, lookup_emotion, reject

PATTERN = re.compile(r"^([A-Za-z]{2,})\.([A-Za-z]{2})(\d+)\.(\d+)$")


def read(root: Path) -> tuple[list[Record], list[Reject]]:
    """Every JAFFE photo below `root` as a record; other names and unknown codes as rejects."""
    root = Path(root).resolve()
    records: list[Record] = []
    rejects: list[Reject] = []
    for path in iter_images(root):
        key = key_of(path, root)
        match = PATTERN.match(path.stem)
        if match is None:
            rejects.append(reject(path, "name does not match the jaffe pattern", key=key))
            continue
        subject, code = match.group(1), match.group(2)
        emotion = lookup_emotion(code)
        if emotion is None:
            rejects.append(reject(path, f"unknown emotion {code!r} in file name", key=key, subject=subject))
            continue
        records.append(Record(key=key, path=str(path), emotion=emotion, subject=subject, source=str(path)))
    return sorted(records, key=lambda r: r.key), rejects
