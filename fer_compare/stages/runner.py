"""Runs one preprocessing step over records in worker processes: resumable, atomic, nothing lost."""

from __future__ import annotations

import json
import multiprocessing as mp
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..files import atomic_write_text, is_inside
from ..progress import progress, say
from ..records import MANIFEST, Record, Reject, write_manifest, write_rejects

MARKER = ".fer_compare_stage"

# Worker-process state: each worker builds its processor once (dlib and Haar models are not picklable).
_processor: Any = None


def _init_worker(factory: Callable[[], Any]) -> None:
    global _processor
    import cv2

    cv2.setNumThreads(1)  # one process per core; OpenCV's own threads would oversubscribe
    _processor = factory()


def _work(record: Record) -> Record | Reject:
    return _processor(record)


@dataclass
class StageResult:
    """What a stage read, wrote, reused and rejected."""

    name: str
    records: list[Record]
    rejects: list[Reject]
    read: int
    written: int
    reused: int
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        reasons = Counter(r.reason.split(" (")[0] for r in self.rejects)
        why = "; ".join(f"{n} {reason}" for reason, n in reasons.most_common())
        return (
            f"{self.name}: read {self.read}, wrote {self.written}, up to date {self.reused}, "
            f"rejected {len(self.rejects)}" + (f" ({why})" if why else "")
        )


def prepare_output(out: Path, key: str, inputs: list[tuple[str, Path]]) -> None:
    """Refuse an output folder that overlaps an input or holds someone else's files; then create it."""
    for in_key, folder in inputs:
        if not str(folder):
            continue
        if is_inside(out, folder):
            raise UserError(f"{key}: output folder {out} is inside the input folder {in_key} ({folder})")
        if is_inside(folder, out):
            raise UserError(f"{key}: output folder {out} contains the input folder {in_key} ({folder})")
    if out.exists():
        if not out.is_dir():
            raise UserError(f"{key}: {out} exists and is not a folder")
        ours = (out / MARKER).exists() or (out / MANIFEST).exists()
        if not ours and any(out.iterdir()):
            raise UserError(f"{key}: {out} already holds files that fer_compare did not write; choose an empty folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).touch()
    except OSError as e:
        raise UserError(f"{key}: cannot write to {out} ({e.strerror})") from None


def up_to_date(output: Path, inputs: list[Path]) -> bool:
    """An output is reusable when it exists and is newer than every input it was made from."""
    try:
        t = output.stat().st_mtime_ns
    except FileNotFoundError:
        return False
    return all(p.stat().st_mtime_ns <= t for p in inputs if p.exists())


def run_stage(
    name: str,
    records: list[Record],
    out: Path,
    factory: Callable[[], Callable[[Record], Record | Reject]],
    outputs: Callable[[Record], tuple[list[Path], list[Path]]],
    workers: int,
    settings: dict[str, Any],
    earlier_rejects: list[Reject] = (),
) -> StageResult:
    """Process every record not already up to date; write the manifest and the rejects list.

    `outputs(record)` gives (files this step writes, files it reads); `factory()` builds the
    per-process callable that turns a record into its output record or a Reject. `settings`
    are the config values the outputs depend on: when they change, everything is redone.
    """
    kept: list[Record] = []
    todo: list[Record] = []
    settings_file = out / "stage.json"
    text = json.dumps(settings, sort_keys=True)
    same_settings = settings_file.exists() and settings_file.read_text() == text
    for r in records:
        made, used = outputs(r)
        if same_settings and all(up_to_date(m, used) for m in made):
            kept.append(r.at(made[0]))
        else:
            todo.append(r)
    reused = len(kept)
    rejects: list[Reject] = list(earlier_rejects)
    if todo:
        if workers > 1 and len(todo) > 8:
            ctx = mp.get_context("spawn")  # fork after TensorFlow/OpenCV threads start is unsafe
            with ctx.Pool(workers, initializer=_init_worker, initargs=(factory,)) as pool:
                results = pool.imap_unordered(_work, todo, chunksize=4)
                for result in progress(results, len(todo), name):
                    (kept if isinstance(result, Record) else rejects).append(result)
        else:
            _init_worker(factory)
            for r in progress(todo, len(todo), name):
                result = _work(r)
                (kept if isinstance(result, Record) else rejects).append(result)
    atomic_write_text(settings_file, text)
    write_manifest(out, kept)
    write_rejects(out, rejects)
    result = StageResult(name, sorted(kept, key=lambda r: r.key), rejects, len(records) + len(earlier_rejects),
                         len(kept) - reused, reused)
    say("  " + result.summary())
    say(f"  wrote {out / MANIFEST} and {out / 'rejects.csv'}")
    return result
