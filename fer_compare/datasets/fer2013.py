"""FER2013: one csv file, a row per 48x48 grayscale face.

    emotion,pixels,Usage
    0,70 80 82 72 ... (2304 values, row by row),Training

Emotion codes: 0 angry, 1 disgusted, 2 fearful, 3 happy, 4 sad, 5 surprised, 6 neutral. Usage is
Training, PublicTest or PrivateTest (the column may be missing). The dataset root is the csv itself
or a folder holding exactly one such csv. A row's record path is "<absolute csv path>#<row index>";
its key is "<Usage or 'all'>/<row index, 6 digits>"; FER2013 has no subject ids.
"""

from __future__ import annotations

import csv
import functools
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..files import ImageError
from ..records import Record, Reject
from ._common import reject

CODES = ("angry", "disgusted", "fearful", "happy", "sad", "surprised", "neutral")
SIDE = 48
REQUIRED = {"emotion", "pixels"}
ALLOWED = REQUIRED | {"usage"}
ROW_PATH = re.compile(r"^(.*\.csv)#(\d+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Table:
    """A parsed FER2013 csv: raw emotion and usage fields, the faces, and what is wrong with bad rows."""

    emotions: list[str]
    usages: list[str]
    pixels: np.ndarray  # (rows, 48, 48) uint8; zeros where the row is bad
    errors: dict[int, str] = field(default_factory=dict)


def _columns(path: Path) -> list[str] | None:
    try:
        with path.open(newline="", encoding="utf-8-sig", errors="replace") as f:
            header = next(csv.reader(f), None)
    except (OSError, csv.Error):
        return None
    return [c.strip().lower() for c in header] if header else None


def is_fer2013_csv(path: Path) -> bool:
    """True for a .csv whose header is emotion and pixels, optionally Usage, in any order."""
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    columns = _columns(path)
    return columns is not None and REQUIRED <= set(columns) <= ALLOWED


def csv_files(root: Path) -> list[Path]:
    """The FER2013 csv files directly inside the folder `root`."""
    return sorted(p for p in root.iterdir() if not p.name.startswith(".") and is_fer2013_csv(p))


def find_csv(root: Path) -> Path:
    """The csv to read: `root` itself or the one FER2013 csv in it."""
    if root.is_file():
        if not is_fer2013_csv(root):
            raise UserError(f"{root}: not a FER2013 csv (needs the columns emotion,pixels and optionally Usage)")
        return root
    if not root.is_dir():
        raise UserError(f"{root}: no such file or folder")
    found = csv_files(root)
    if not found:
        raise UserError(f"{root}: no FER2013 csv (columns emotion,pixels and optionally Usage) in this folder")
    if len(found) > 1:
        # Kaggle's download holds train.csv and icml_face_data.csv, which overlap: never read both.
        names = ", ".join(p.name for p in found)
        raise UserError(f"{root}: several FER2013 csv files ({names}); point the dataset at one of them")
    return found[0]


def _parse_pixels(text: str) -> np.ndarray | str:
    """The row's face, or why it is unusable."""
    with warnings.catch_warnings():
        # numpy signals a non-numeric value with a DeprecationWarning (a ValueError in later versions).
        warnings.simplefilter("error", DeprecationWarning)
        try:
            values = np.fromstring(text, dtype=np.int64, sep=" ")
        except (ValueError, DeprecationWarning):
            return "pixels are not all whole numbers"
    if values.size != SIDE * SIDE:
        return f"row has {values.size} pixel values, expected {SIDE * SIDE}"
    if values.min() < 0 or values.max() > 255:
        return "pixel values outside 0-255"
    return values.astype(np.uint8).reshape(SIDE, SIDE)


def _cell(row: list[str], index: int | None) -> str:
    return row[index].strip() if index is not None and index < len(row) else ""


@functools.lru_cache(maxsize=4)
def _parse(path: str, _mtime_ns: int, _size: int) -> Table:
    blank = np.zeros((SIDE, SIDE), np.uint8)
    emotions: list[str] = []
    usages: list[str] = []
    faces: list[np.ndarray] = []
    errors: dict[int, str] = {}
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
            reader = csv.reader(f)
            columns = [c.strip().lower() for c in next(reader, [])]
            if not REQUIRED <= set(columns):
                raise ImageError("not a FER2013 csv (needs the columns emotion,pixels and optionally Usage)")
            i_emotion, i_pixels = columns.index("emotion"), columns.index("pixels")
            i_usage = columns.index("usage") if "usage" in columns else None
            # Rows are parsed as they stream in: the whole file's text would need ~300 MB.
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue  # blank lines get no index, as in pandas, so row numbers agree with it
                i = len(emotions)
                emotions.append(_cell(row, i_emotion))
                usages.append(_cell(row, i_usage))
                face = _parse_pixels(_cell(row, i_pixels))
                if isinstance(face, str):
                    errors[i] = face
                    face = blank
                faces.append(face)
    except OSError as e:
        raise ImageError(f"unreadable FER2013 csv ({e.strerror})") from None
    except csv.Error as e:
        raise ImageError(f"malformed FER2013 csv ({e})") from None
    pixels = np.stack(faces) if faces else np.zeros((0, SIDE, SIDE), np.uint8)
    return Table(emotions, usages, pixels, errors)


def table(path: Path) -> Table:
    """The parsed csv, cached per file (and re-read when the file changes)."""
    path = Path(path).resolve()
    try:
        stat = path.stat()
    except OSError as e:
        raise ImageError(f"unreadable FER2013 csv ({e.strerror})") from None
    return _parse(str(path), stat.st_mtime_ns, stat.st_size)


def split_row_path(path: str) -> tuple[str, int] | None:
    """("/abs/file.csv", row) for a record path naming a csv row, else None."""
    match = ROW_PATH.match(path)
    return (match.group(1), int(match.group(2))) if match else None


def load_row(csv_path: str, row: int) -> np.ndarray:
    """One row's 48x48 uint8 face; ImageError when the row is missing or bad."""
    parsed = table(Path(csv_path))
    if not 0 <= row < len(parsed.emotions):
        raise ImageError(f"no row {row} in {Path(csv_path).name} ({len(parsed.emotions)} rows)")
    if row in parsed.errors:
        raise ImageError(parsed.errors[row])
    return parsed.pixels[row].copy()


def _usage_part(usage: str) -> str:
    # The key names output files, so it must be a safe path component.
    return re.sub(r"[^A-Za-z0-9_-]+", "_", usage) or "all"


def _emotion(code: str) -> str | None:
    try:
        number = int(code)
    except ValueError:
        return None
    return CODES[number] if 0 <= number < len(CODES) else None


def read(root: Path) -> tuple[list[Record], list[Reject]]:
    """Every usable row of the FER2013 csv at or in `root`; bad rows become rejects."""
    path = find_csv(Path(root)).resolve()
    try:
        parsed = table(path)
    except ImageError as e:
        raise UserError(f"{path}: {e}") from None
    records: list[Record] = []
    rejects: list[Reject] = []
    for i, (code, usage) in enumerate(zip(parsed.emotions, parsed.usages, strict=True)):
        source = f"{path}#{i}"
        key = f"{_usage_part(usage)}/{i:06d}"
        emotion = _emotion(code)
        if emotion is None:
            rejects.append(reject(source, f"unknown emotion code {code!r} (FER2013 uses 0-6)", key=key))
        elif i in parsed.errors:
            rejects.append(reject(source, parsed.errors[i], key=key, emotion=emotion))
        else:
            records.append(Record(key=key, path=source, emotion=emotion, subject="", source=source))
    return sorted(records, key=lambda r: r.key), rejects
