"""gradient: Laplacian of each aligned face, masked to the face polygon; writes a preprocessing montage."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import cv2
import numpy as np

from ..face.chain import FaceChain
from ..face.gradient import laplacian_image
from ..files import ImageError, read_gray, write_image
from ..records import Record, Reject, read_manifest
from ..settings import Settings
from .ownership import check_made_with
from .runner import StageResult, prepare_output, run_stage


def load_landmarks(image_path: str | Path) -> np.ndarray:
    """The aligned landmarks stored beside an aligned image."""
    with np.load(Path(image_path).with_suffix(".npz")) as z:
        return z["landmarks"]


class GradientStep:
    """Aligned face + its landmarks -> the chain's masked Laplacian `<key>.png`."""

    def __init__(self, config: Settings, out: Path) -> None:
        self.chain = FaceChain.from_config(config)
        self.out = out

    def __call__(self, record: Record) -> Record | Reject:
        try:
            gray = read_gray(record.path)
            landmarks = load_landmarks(record.path)
        except (ImageError, OSError, KeyError) as e:
            return Reject(record.source, f"aligned face unreadable ({e})", record.key, record.emotion, record.subject)
        path = self.out / f"{record.key}.png"
        write_image(path, self.chain.gradient(gray, landmarks))
        return record.at(path)


def write_montage(config: Settings, records: list[Record], out: Path, n: int = 4) -> Path | None:
    """Like the thesis's Images 17-21: original -> gray crop -> aligned -> Laplacian -> masked, per row."""
    from ..datasets import load_gray

    rows = []
    size = tuple(config.image.size)
    picks = _spread(records, n)
    for r in picks:
        try:
            original = load_gray(r.source)
            crop = read_gray(Path(config.formatted) / f"{r.key}.png")
            aligned = read_gray(Path(config.aligned) / f"{r.key}.png")
            masked = read_gray(r.path)
        except (ImageError, OSError):
            continue
        lap = laplacian_image(aligned, config.gradient_options.ksize, config.gradient_options.negative)
        h = size[1]
        orig = cv2.resize(original, (int(original.shape[1] * h / original.shape[0]), h), interpolation=cv2.INTER_AREA)
        rows.append(np.hstack([orig] + [cv2.resize(x, size) for x in (crop, aligned, lap, masked)]))
    if not rows:
        return None
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]))) for r in rows]
    path = out / "montage.png"
    write_image(path, np.vstack(rows))
    return path


def _spread(records: list[Record], n: int) -> list[Record]:
    """Up to n records with different emotions first."""
    by_emotion: dict[str, Record] = {}
    for r in records:
        by_emotion.setdefault(r.emotion, r)
    picks = list(by_emotion.values())[:n]
    return picks + [r for r in records if r not in picks][: n - len(picks)]


def run(config: Settings) -> StageResult:
    from ..progress import say

    src, out = Path(config.aligned), Path(config.gradients)
    records = read_manifest(src, "aligned")
    check_made_with(src, "aligned", config)
    prepare_output(out, "gradients", [("aligned", src)])  # only once the inputs are known good
    result = run_stage(
        "gradient", records, out, partial(GradientStep, config, out),
        outputs=lambda r: ([out / f"{r.key}.png"], [Path(r.path), Path(r.path).with_suffix(".npz")]),
        workers=config.workers, settings={"gradient_options": config.gradient_options}, source=src,
    )
    montage = write_montage(config, result.records, out)
    if montage:
        say(f"  montage: {montage}")
    return result
