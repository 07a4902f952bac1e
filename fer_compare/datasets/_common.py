"""Helpers the dataset readers share: walking a tree for photos and naming what was found."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ..emotions import canonical
from ..errors import UserError
from ..files import IMAGE_SUFFIXES, is_image
from ..progress import say
from ..records import Reject

LOOKED_FOR = ", ".join(sorted(IMAGE_SUFFIXES))


def walk_files(root: Path) -> Iterator[Path]:
    """Every visible file below `root`, folder by folder in name order; hidden files and folders skipped.

    Linked folders that lead outside `root` are followed (datasets are often linked in). A link to a
    folder inside `root` is not: its photos are read where they really are, under their own folder's
    label; followed, it would file them under the link's folder (a happy/ link to neutral/ would
    relabel every neutral photo happy). Each such link is named in a warning.
    """
    seen: set[str] = set()
    top = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        kept = []
        for d in sorted(d for d in dirnames if not d.startswith(".")):
            link = os.path.join(dirpath, d)
            target = os.path.realpath(link)
            if os.path.islink(link) and (target == top or target.startswith(top + os.sep)):
                say(f"  warning: {link} is a link to {target}, inside the same dataset; not followed "
                    f"(its photos keep the label of the folder they are in)")
                continue
            kept.append(d)
        dirnames[:] = kept
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath, name)


def iter_images(root: Path) -> Iterator[Path]:
    """Every visible photo below `root` (by suffix), folder by folder in name order."""
    return (p for p in walk_files(root) if is_image(p))


def has_images(root: Path) -> bool:
    return next(iter_images(root), None) is not None


def key_of(path: Path, root: Path) -> str:
    """A photo's record key: its path relative to the dataset root, without suffix, with forward slashes."""
    return path.relative_to(root).with_suffix("").as_posix()


def subfolders(root: Path) -> list[Path]:
    """The visible folders directly inside `root`, by name."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def reject(path: Path | str, reason: str, key: str = "", emotion: str = "", subject: str = "") -> Reject:
    return Reject(source=str(path), reason=reason, key=key, emotion=emotion, subject=subject)


def lookup_emotion(word: str) -> str | None:
    """The canonical emotion for a dataset's word, or None when the word is unknown."""
    try:
        return canonical(word)
    except UserError:
        return None
