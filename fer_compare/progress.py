"""A small progress bar on stderr (only drawn on a terminal) and the stage's printed summary."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], total: int, label: str) -> Iterator[T]:
    """Yield items while drawing `label [#####     ] 12/40 3.1/s` when stderr is a terminal."""
    tty = sys.stderr.isatty()
    start = time.perf_counter()
    last = 0.0
    done = 0
    for item in items:
        done += 1
        now = time.perf_counter()
        if tty and (now - last > 0.1 or done == total):
            last = now
            width = 30
            filled = int(width * done / max(total, 1))
            rate = done / max(now - start, 1e-9)
            sys.stderr.write(f"\r  {label} [{'#' * filled}{' ' * (width - filled)}] {done}/{total} {rate:.1f}/s")
            sys.stderr.flush()
        yield item
    if tty and total:
        sys.stderr.write("\n")


def say(text: str) -> None:
    """One line of the run's narrative on stdout."""
    print(text, flush=True)
