"""Runs one preprocessing step over records in worker processes: resumable, atomic, nothing lost."""

from __future__ import annotations

import atexit
import hashlib
import json
import multiprocessing as mp
import pickle
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..files import atomic_write_text, is_inside, probe_write
from ..progress import progress, say
from ..records import MANIFEST, Record, Reject, write_manifest, write_rejects

MARKER = ".fer_compare_stage"

# Worker-process state: each worker builds a stage's processor once, on its first photo of
# that stage (dlib's and OpenCV's models cannot be pickled and take 0.5 s to load).
_processors: dict[str, Any] = {}
_shared_pool: Any = None
_shared_workers = 0


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core; OpenCV's own threads would oversubscribe


def _work(task: tuple[str, Callable[[], Any], Record]) -> Record | Reject:
    name, factory, record = task
    processor = _processors.get(name)
    if processor is None:
        processor = _processors[name] = factory()
    return processor(record)


def worker_pool(workers: int) -> Any:
    """One pool of spawned workers for every stage of the invocation: start-up is paid once.

    Spawned, not forked: a forked child can deadlock on a lock that an OpenCV or TensorFlow
    thread of the parent held at fork time.
    """
    global _shared_pool, _shared_workers
    if _shared_pool is None or _shared_workers != workers:
        close_pool()
        _shared_pool = mp.get_context("spawn").Pool(workers, initializer=_init_worker)
        _shared_workers = workers
        atexit.register(close_pool)
    return _shared_pool


def close_pool() -> None:
    """Stop the shared workers (the pipeline calls this after the last preprocessing stage)."""
    global _shared_pool
    if _shared_pool is not None:
        _shared_pool.terminate()
        _shared_pool.join()
        _shared_pool = None


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
        probe_write(out)
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
    if not same_settings:
        # Until this run finishes, no earlier output may pass for one made with the new settings
        # (and, if it is killed, none of its outputs for one made with the old).
        settings_file.unlink(missing_ok=True)
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
            # Workers cache processors by stage and settings: a second run with other settings
            # in the same process must not reuse the first run's processor.
            key = f"{name}:{hashlib.sha1(pickle.dumps(factory)).hexdigest()}"
            tasks = [(key, factory, r) for r in todo]
            results = worker_pool(workers).imap_unordered(_work, tasks, chunksize=4)
            for result in progress(results, len(todo), name):
                (kept if isinstance(result, Record) else rejects).append(result)
        else:
            _init_worker()
            _processors.pop(name, None)  # settings may differ between runs in one process
            for r in progress(todo, len(todo), name):
                result = _work((name, factory, r))
                (kept if isinstance(result, Record) else rejects).append(result)
    atomic_write_text(settings_file, text)
    write_manifest(out, kept)
    write_rejects(out, rejects)
    result = StageResult(name, sorted(kept, key=lambda r: r.key), rejects, len(records) + len(earlier_rejects),
                         len(kept) - reused, reused)
    say("  " + result.summary())
    say(f"  wrote {out / MANIFEST} and {out / 'rejects.csv'}")
    return result
