"""RaFD (Radboud Faces Database): each photo's name carries its labels.

    Rafd090_01_Caucasian_female_angry_frontal.jpg
    Rafd<camera angle>_<model>_<ethnicity>_<gender>_<emotion>_<gaze>

The model number is the subject. Emotions are angry, contemptuous, disgusted, fearful, happy,
neutral, sad and surprised; gaze is frontal, left or right. Photos may lie anywhere below the root;
every camera angle (000, 045, 090, 135, 180) and every gaze is kept (filter on the key if needed).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from ..records import Record, Reject
from ._common import iter_images, key_of, lookup_emotion, reject

PATTERN = re.compile(r"^Rafd(\d{3})_(\d+)_([^_]+)_([^_]+)_([^_]+)_([^_]+)$", re.IGNORECASE)


class RafdName(NamedTuple):
    """The fields of a RaFD file name."""

    angle: str
    subject: str
    ethnicity: str
    gender: str
    emotion: str  # the word as written in the name
    gaze: str


def parse_name(name: str) -> RafdName | None:
    """Split a RaFD file name (with or without suffix) into its fields, or None if it is not one."""
    match = PATTERN.match(Path(name).stem)
    return RafdName(*match.groups()) if match else None


def read(root: Path) -> tuple[list[Record], list[Reject]]:
    """Every RaFD photo below `root` as a record; other names and unknown emotions as rejects."""
    root = Path(root).resolve()
    records: list[Record] = []
    rejects: list[Reject] = []
    for path in iter_images(root):
        key = key_of(path, root)
        fields = parse_name(path.name)
        if fields is None:
            rejects.append(reject(path, "name does not match the rafd pattern", key=key))
            continue
        emotion = lookup_emotion(fields.emotion)
        if emotion is None:
            rejects.append(reject(path, f"unknown emotion {fields.emotion!r} in file name",
                                  key=key, subject=fields.subject))
            continue
        records.append(Record(key=key, path=str(path), emotion=emotion, subject=fields.subject,
                              source=str(path)))
    return sorted(records, key=lambda r: r.key), rejects
