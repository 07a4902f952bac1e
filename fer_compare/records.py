"""Records (one photo: where it is, its emotion, its subject) and the manifests that carry them between stages."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from pathlib import Path

from .files import atomic_write_text

MANIFEST = "manifest.csv"
REJECTS = "rejects.csv"
_FIELDS = ("key", "path", "emotion", "subject", "part", "source")


@dataclass(frozen=True)
class Record:
    """One labelled photo as it moves through the stages.

    `key` is the photo's relative path in its dataset without extension (plus the part
    prefix when train and test sources are separate); it names the photo's file in every
    stage's output folder, so a record can be joined across stages.
    """

    key: str
    path: str  # the file of this stage (absolute, or relative to the manifest's folder)
    emotion: str
    subject: str
    part: str = ""  # "", "train" or "test"
    source: str = ""  # the original photo

    def at(self, path: str | Path) -> Record:
        return replace(self, path=str(path))


@dataclass(frozen=True)
class Reject:
    """A photo a stage could not use, and why."""

    source: str
    reason: str
    key: str = ""
    emotion: str = ""
    subject: str = ""


def write_manifest(folder: Path, records: list[Record]) -> Path:
    """Write the stage's manifest; paths are stored relative to the folder."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(_FIELDS)
    for r in sorted(records, key=lambda r: r.key):
        path = Path(r.path)
        try:
            path = path.relative_to(folder)
        except ValueError:
            pass
        writer.writerow((r.key, path.as_posix(), r.emotion, r.subject, r.part, r.source))
    out = folder / MANIFEST
    atomic_write_text(out, buf.getvalue())
    return out


def read_manifest(folder: Path, key: str) -> list[Record]:
    """Read a stage's manifest; `key` names the config key of the folder for error messages."""
    from .errors import UserError

    path = folder / MANIFEST
    if not path.is_file():
        raise UserError(
            f"{key}: {folder} has no {MANIFEST}; run the stage that writes it first"
        )
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and set(_FIELDS) - set(rows[0]):
        raise UserError(f"{key}: {path} is not a fer_compare manifest")
    return [
        Record(
            key=row["key"],
            path=str(folder / row["path"]),
            emotion=row["emotion"],
            subject=row["subject"],
            part=row["part"],
            source=row["source"],
        )
        for row in rows
    ]


def write_rejects(folder: Path, rejects: list[Reject]) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(("source", "reason", "key", "emotion", "subject"))
    for r in rejects:
        writer.writerow((r.source, r.reason, r.key, r.emotion, r.subject))
    out = folder / REJECTS
    atomic_write_text(out, buf.getvalue())
    return out


def read_rejects(folder: Path) -> list[Reject]:
    path = folder / REJECTS
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return [Reject(**row) for row in csv.DictReader(f)]
