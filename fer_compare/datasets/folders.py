"""Class folders: one folder per emotion directly below the root, photos anywhere inside it.

    <root>/happy/001_08.jpg
    <root>/neutral/session2/001_03.jpg

Folder names may be any word the vocabulary knows (happy, happiness, joy, anger, ...). The subject
is group 1 of `subject_pattern` searched in the file name (folders excluded): the default
^([^_.]+) takes everything before the first "_" or ".", so 001_08.jpg belongs to subject 001.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import UserError
from ..records import Record, Reject
from ._common import iter_images, key_of, lookup_emotion, reject, subfolders

DEFAULT_SUBJECT_PATTERN = r"^([^_.]+)"


def compile_subject_pattern(pattern: str) -> re.Pattern[str]:
    """The subject regex, checked: it must compile and have a group 1."""
    try:
        compiled = re.compile(pattern)
    except re.error as e:
        raise UserError(f"dataset.subject_pattern: {pattern!r} is not a valid regular expression ({e})") from None
    if compiled.groups < 1:
        raise UserError(f"dataset.subject_pattern: {pattern!r} needs a group, e.g. ^([^_.]+), for the subject id")
    return compiled


def emotion_folders(root: Path) -> list[Path]:
    """The folders directly inside `root` whose names are emotions."""
    return [p for p in subfolders(root) if lookup_emotion(p.name) is not None]


def read(root: Path, subject_pattern: str = DEFAULT_SUBJECT_PATTERN) -> tuple[list[Record], list[Reject]]:
    """Every photo in the emotion folders below `root`; photos elsewhere or without a subject are rejects."""
    root = Path(root).resolve()
    pattern = compile_subject_pattern(subject_pattern)
    records: list[Record] = []
    rejects: list[Reject] = []
    for path in iter_images(root):
        key = key_of(path, root)
        top = path.relative_to(root).parts[0]
        if path.parent == root:
            rejects.append(reject(path, "not inside an emotion folder", key=key))
            continue
        emotion = lookup_emotion(top)
        if emotion is None:
            rejects.append(reject(path, f"unknown emotion folder {top!r}", key=key))
            continue
        match = pattern.search(path.name)
        subject = (match.group(1) or "") if match else ""
        if not subject:
            rejects.append(reject(path, f"file name does not match subject_pattern {subject_pattern!r}",
                                  key=key, emotion=emotion))
            continue
        records.append(Record(key=key, path=str(path), emotion=emotion, subject=subject, source=str(path)))
    return sorted(records, key=lambda r: r.key), rejects
