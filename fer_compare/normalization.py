"""Identity normalisation: subtract from each photo's input a reference input of the same person.

Identity is the largest nuisance on posed sets: two people differ more than one person's two
expressions. Three modes, declared in the report's protocol line:

- ``none``: the thesis's protocol; inputs as the stages made them.
- ``neutral``: subtract the mean input of the person's *other* neutral photos. It uses the
  neutral labels of the test person's photos, so it assumes a labelled neutral photo of every
  person (as a live system would ask for one).
- ``mean``: subtract the mean input of all the person's photos. It uses the test person's
  unlabelled photos; where each person has exactly one photo per class (the London set) it
  leaks their class balance, and its figures mean nothing there.

A reference depends only on the person's own photos, never on other people or on folds, so
computing it once is the same as computing it inside each fold. A photo without a reference (a
person with no other neutral photo) is left out of every model, and the count is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import PhotoSet

MODES = ("none", "neutral", "mean")
NEUTRAL = "neutral"


@dataclass(frozen=True)
class Normalisation:
    """What the normalisation did: the mode, and the photos left out because they had no reference."""

    mode: str
    without_reference: tuple[str, ...] = ()
    subjects_without_reference: tuple[str, ...] = ()

    def describe(self) -> str:
        """One clause for the report's protocol line."""
        if self.mode == "none":
            return "no identity normalisation (the thesis's protocol)"
        text = {"neutral": "each photo's input minus the mean input of the same person's other neutral photos "
                           "(uses the neutral labels of test persons)",
                "mean": "each photo's input minus the mean input of all the same person's photos (uses the test "
                        "persons' unlabelled photos)"}[self.mode]
        if self.without_reference:
            text += (f"; {len(self.without_reference)} photos of {len(self.subjects_without_reference)} persons "
                     f"had no reference and were left out of every model")
        return text


def references(subjects: np.ndarray, emotions: np.ndarray, mode: str) -> list[np.ndarray]:
    """Per photo, the indices of the photos whose mean is its reference (empty: none)."""
    out: list[np.ndarray] = []
    by_subject: dict[str, np.ndarray] = {}
    for s in np.unique(subjects):
        by_subject[str(s)] = np.flatnonzero(subjects == s)
    for i, s in enumerate(subjects):
        same = by_subject[str(s)]
        if mode == "mean":
            out.append(same)
        elif mode == NEUTRAL:
            out.append(same[(emotions[same] == NEUTRAL) & (same != i)])
        else:
            raise ValueError(f"no references in mode {mode!r}")
    return out


def as_units(x: np.ndarray) -> np.ndarray:
    """Stored examples in the units the networks see: uint8 images in 0..1, features as they are."""
    return x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)


def normalise(photos: PhotoSet, mode: str) -> tuple[PhotoSet, list[str]]:
    """The photo set with each input minus its reference (float32), and the keys that had none.

    Photos without a reference are kept in the returned set (with their input unchanged) so that
    the caller can leave the same keys out of every model.
    """
    if mode == "none":
        return photos, []
    x = as_units(photos.x)
    out = np.empty_like(x)
    missing = []
    for i, ref in enumerate(references(photos.subjects, photos.emotions, mode)):
        if len(ref) == 0:
            missing.append(photos.keys[i])
            out[i] = x[i]
        else:
            out[i] = x[i] - x[ref].mean(axis=0)
    return PhotoSet(out, photos.emotions, photos.keys, photos.subjects, photos.parts, photos.source), missing


class RunningBaseline:
    """A live face's reference input: the mean of its inputs so far (mode ``mean``), or of its first
    `warmup` frames, taken as its neutral face (mode ``neutral``).

    Until `warmup` frames are seen, `ready` is false and the overlay says it is calibrating.
    """

    def __init__(self, mode: str, warmup: int) -> None:
        self.mode = mode
        self.warmup = max(1, int(warmup))
        self.count = 0
        self.total: np.ndarray | None = None

    @property
    def ready(self) -> bool:
        return self.count >= self.warmup

    def update(self, x: np.ndarray) -> np.ndarray:
        """Take one frame's input (stored-example units) and return it minus the current reference."""
        x = as_units(x)
        if self.mode == "mean" or self.count < self.warmup:
            self.total = x.astype(np.float64) if self.total is None else self.total + x
            self.count += 1
        return (x - self.total / self.count).astype(np.float32)
