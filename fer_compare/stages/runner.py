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
from ..files import (
    DISK_ERRORS,
    WriteError,
    fault_point,
    is_inside,
    probe_write,
    reason,
    sweep_temporaries,
    write_failed,
)
from ..progress import progress, say
from ..records import MANIFEST, Record, Reject, write_manifest, write_rejects
from .ownership import (
    MARKER,
    STAGE_FILE,
    check_owner,
    fingerprint,
    flat,
    lock_folder,
    made_with,
    read_stage_file,
    record_stage,
    release_folder,
    write_marker,
)

__all__ = ["MARKER", "StageResult", "prepare_output", "probe_write", "run_stage", "worker_pool"]

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
    """Refuse an output folder that overlaps an input, belongs to another stage or to the user, or that
    another run is writing; then create it, mark it as this stage's and lock it (ownership.py)."""
    for in_key, folder in inputs:
        if not str(folder):
            continue
        if is_inside(out, folder):
            raise UserError(f"{key}: output folder {out} is inside the input folder {in_key} ({folder})")
        if is_inside(folder, out):
            raise UserError(f"{key}: output folder {out} contains the input folder {in_key} ({folder})")
    check_owner(out, key)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe_write(out)
        lock_folder(out, key)
        check_owner(out, key)  # again, under the lock: another run may have made it meanwhile
        write_marker(out, key)
    except (OSError, WriteError) as e:
        raise UserError(f"{key}: cannot write to {out} ({reason(e)})") from None
    sweep_temporaries(out)  # a killed run's half-written files; ours are locked, so none is in use


def _process(task: tuple[str, Callable[[], Any], Record]) -> Record | Reject:
    """One photo; any failure of the photo itself is a reject, while a failing disk (WriteError) stops the stage."""
    try:
        return _work(task)
    except (WriteError, UserError):  # the disk, or the stage's own settings (its processor could not be built)
        raise
    except OSError as e:
        if e.errno in DISK_ERRORS:
            raise write_failed(e.filename or task[2].key, e) from None
        return _failed(task[2], e)
    except Exception as e:  # a photo that breaks a library is a reject, not a crash
        return _failed(task[2], e)


def _failed(record: Record, e: BaseException) -> Reject:
    return Reject(record.source or record.path, f"could not be processed ({type(e).__name__}: {reason(e)})",
                  record.key, record.emotion, record.subject)


def run_stage(
    name: str,
    records: list[Record],
    out: Path,
    factory: Callable[[], Callable[[Record], Record | Reject]],
    outputs: Callable[[Record], tuple[list[Path], list[Path]]],
    workers: int,
    settings: dict[str, Any],
    earlier_rejects: list[Reject] = (),
    source: Path | None = None,
) -> StageResult:
    """Process every record not already up to date; write the manifest and the rejects list.

    `outputs(record)` gives (files this step writes, files it reads); `factory()` builds the
    per-process callable that turns a record into its output record or a Reject. `settings`
    are the config values the outputs depend on (nested as in the config); with those of the
    `source` stage folder they are recorded in stage.json, and when they change everything is
    redone. A record is reused only when its input and output files still have the size and
    SHA-256 recorded (copies with `cp -p` or `rsync -a` keep old times, so times prove nothing).
    """
    kept: list[Record] = []
    todo: list[Record] = []
    settings_file = out / STAGE_FILE
    own = flat(settings)
    upstream = made_with(source)
    made = {**upstream, **own}
    previous = read_stage_file(out)
    same_settings = previous is not None and previous.get("made_with") == json.loads(json.dumps(made))
    if not same_settings:
        # Until this run finishes, no earlier output may pass for one made with the new settings
        # (and, if it is killed, none of its outputs for one made with the old).
        settings_file.unlink(missing_ok=True)
    recorded = previous.get("files", {}) if same_settings else {}
    cache: dict[str, list[Any]] = {}
    files: dict[str, dict[str, Any]] = {}

    def prints(r: Record) -> dict[str, Any]:
        made_files, used = outputs(r)
        return {"in": [fingerprint(p, cache) for p in used],
                "out": [fingerprint(m) for m in made_files]}

    for r in records:
        made_files, _ = outputs(r)
        before = recorded.get(r.key)
        now = prints(r) if before is not None else None
        if before is not None and now == before and None not in now["out"]:
            kept.append(r.at(made_files[0]))
            files[r.key] = now
        else:
            todo.append(r)
    reused = len(kept)
    rejects: list[Reject] = list(earlier_rejects)
    try:
        if todo:
            done: list[Record] = []
            if workers > 1 and len(todo) > 8:
                # Workers cache processors by stage and settings: a second run with other settings
                # in the same process must not reuse the first run's processor.
                key = f"{name}:{hashlib.sha1(pickle.dumps(factory)).hexdigest()}"
                tasks = [(key, factory, r) for r in todo]
                results = worker_pool(workers).imap_unordered(_process, tasks, chunksize=4)
                for result in progress(results, len(todo), name):
                    (done if isinstance(result, Record) else rejects).append(result)
            else:
                _init_worker()
                _processors.pop(name, None)  # settings may differ between runs in one process
                for r in progress(todo, len(todo), name):
                    result = _process((name, factory, r))
                    (done if isinstance(result, Record) else rejects).append(result)
                    fault_point(f"{name}:photo")
            by_key = {r.key: r for r in todo}
            for r in done:
                files[r.key] = prints(by_key[r.key])
            kept += done
        write_manifest(out, kept)
        write_rejects(out, rejects)
        # Last: the stage file says the folder is complete, made with these settings from these files.
        record_stage(out, name, made, files)
    except WriteError as e:
        raise UserError(str(e)) from None
    finally:
        release_folder(out)
    result = StageResult(name, sorted(kept, key=lambda r: r.key), rejects, len(records) + len(earlier_rejects),
                         len(kept) - reused, reused)
    say("  " + result.summary())
    say(f"  wrote {out / MANIFEST} and {out / 'rejects.csv'}")
    return result
