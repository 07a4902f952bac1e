"""Whose folder is this, who is writing it, and what made it.

- **Ownership**: a stage writes into a folder only when it is empty or holds the marker file
  `.fer_compare_stage` naming that same stage (written by the tool only; a `manifest.csv` proves
  nothing: users keep manifests too).
- **One writer**: a stage holds an exclusive `fcntl.flock` on `.fer_compare.lock` in its output
  folder while it writes; a second run stops with one line naming the holder (pid, host, start).
- **Separate folders**: before anything runs, every output folder is checked against every other
  stage's folder and every input (`check_folders`).
- **Provenance**: `stage.json` records the settings that made the folder, its own and those of the
  folders it was made from (`made_with`); reading a stage folder checks them against the settings
  in force (`check_made_with`), so `format: false` with another `image.size` stops with one line.
- **Content**: outputs are up to date when the size and SHA-256 of every file they were made
  from, and of the outputs themselves, are the ones recorded (`fingerprint`), never by time.
"""

from __future__ import annotations

import dataclasses
import datetime
import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..files import HOST, is_inside
from ..pipeline import stage_folders
from ..settings import Settings
from ..settings.recipes import flatten

MARKER = ".fer_compare_stage"
LOCK = ".fer_compare.lock"
STAGE_FILE = "stage.json"
# The config key of each preprocessing stage's folder, and the stage that writes it.
STAGE_OF_KEY = {folder: stage for stage, folder in stage_folders()}
INPUT_KEYS = ("raw_source", "train_source", "test_source")

# --- ownership -------------------------------------------------------------------------------------------


def marker_stage(folder: Path) -> str | None:
    """The stage named in the folder's marker; "" for an older tool's empty marker; None without one."""
    try:
        text = (folder / MARKER).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError):
        return "?"
    if not text:
        return ""
    try:
        return str(json.loads(text)["stage"])
    except (ValueError, KeyError, TypeError):
        return "?"


def check_owner(out: Path, key: str) -> None:
    """Refuse a folder that holds files and no marker of this stage."""
    stage = STAGE_OF_KEY.get(key, key)
    if not out.exists():
        return
    if not out.is_dir():
        raise UserError(f"{key}: {out} exists and is not a folder")
    found = marker_stage(out)
    visible = [p for p in out.iterdir() if p.name not in (MARKER, LOCK)]
    if found is None:
        if visible:
            raise UserError(f"{key}: {out} already holds files that fer_compare did not write; choose an empty folder")
        return
    if found not in ("", stage):
        owner = next((k for k, s in STAGE_OF_KEY.items() if s == found), found)
        raise UserError(f"{key}: {out} holds the {found} stage's output ({owner}); each stage needs its own folder")


def write_marker(out: Path, key: str) -> None:
    from ..files import atomic_write_text

    atomic_write_text(out / MARKER, json.dumps({"tool": "fer_compare", "stage": STAGE_OF_KEY.get(key, key)}) + "\n")


# --- one writer at a time -------------------------------------------------------------------------------

_held: dict[str, int] = {}


def lock_folder(folder: Path, key: str) -> None:
    """Hold an exclusive lock on `folder` (until release_folder or the process ends); refuse if another run has it."""
    real = os.path.realpath(folder)
    if real in _held:
        return
    path = Path(real) / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 500, 0).decode("utf-8", "replace").strip() or "another process"
        os.close(fd)
        raise UserError(f"{key}: {folder} is being written by another fer_compare run ({holder}); "
                        f"wait for it to finish or choose another folder") from None
    except OSError:
        os.close(fd)
        raise
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {HOST}, started {started}\n".encode(), 0)
    _held[real] = fd


def release_folder(folder: Path) -> None:
    fd = _held.pop(os.path.realpath(folder), None)
    if fd is not None:
        os.close(fd)  # closing the last descriptor releases the flock


# --- separate folders ------------------------------------------------------------------------------------


def _path(config: Settings, key: str) -> Path | None:
    value = config.video_source if key == "video_source" else config.path(key)
    return Path(value) if isinstance(value, str) and value else None


def check_folders(config: Settings) -> None:
    """Every output folder of the switched-on stages against every other stage's folder and every input."""
    outputs = [k for k, stage in STAGE_OF_KEY.items() if config.runs_stage(stage)]
    if config.train or config.test or config.video:
        outputs.append("runs_dir")
    if config.train and config.save:
        outputs.append("model_to_save")
    others = [*STAGE_OF_KEY, *INPUT_KEYS, "runs_dir", "model_to_save", "model_to_load"]
    if isinstance(config.video_source, str):
        others.append("video_source")
    for key in outputs:
        out = _path(config, key)
        if out is None:
            continue
        for other in others:
            if other == key or {key, other} <= {"runs_dir", "model_to_save", "model_to_load"}:
                continue
            folder = _path(config, other)
            if folder is None:
                continue
            what = "input folder" if other in (*INPUT_KEYS, "model_to_load", "video_source") else "folder"
            if is_inside(out, folder) and is_inside(folder, out):
                raise UserError(f"{key}: {out} is also {other}; each stage needs its own folder")
            if is_inside(out, folder):
                raise UserError(f"{key}: output folder {out} is inside the {what} {other} ({folder})")
            if is_inside(folder, out):
                raise UserError(f"{key}: output folder {out} contains the {what} {other} ({folder})")


# --- provenance -------------------------------------------------------------------------------------------


def flat(settings: Settings | dict[str, Any]) -> dict[str, Any]:
    """Settings (or a dict of setting sections) as flat dotted keys, as stage.json records them."""
    if isinstance(settings, Settings):
        return flatten(settings.to_dict())
    return flatten({k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in settings.items()})


def read_stage_file(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / STAGE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "made_with" in data else None


def record_stage(folder: Path, stage: str, made: dict[str, Any], files: dict[str, Any] | None = None) -> None:
    """Write stage.json: the folder is complete, made by `stage` with the settings `made` (flat keys) from `files`."""
    from ..files import atomic_write_text

    atomic_write_text(folder / STAGE_FILE, json.dumps({"stage": stage, "made_with": made, "files": files or {}},
                                                      sort_keys=True) + "\n")


def made_with(folder: Path | None) -> dict[str, Any]:
    """The settings recorded for a finished stage folder ({} for none)."""
    if folder is None:
        return {}
    data = read_stage_file(folder)
    return dict(data["made_with"]) if data else {}


def check_made_with(folder: Path, key: str, config: Settings) -> None:
    """Refuse a stage folder made with other settings than those in force, naming the first that differs."""
    data = read_stage_file(folder)
    stage = STAGE_OF_KEY.get(key, "its")
    if data is None:
        raise UserError(f"{key}: {folder} has no complete {STAGE_FILE} (its {stage} stage was interrupted, is still "
                        f"running, or was made by an older fer_compare); run the {stage} stage again")
    current = flat(config)
    for name, value in data["made_with"].items():
        if name in current and current[name] != value:
            raise UserError(f"{key}: {folder} was made with {name} = {json.dumps(value)}, but the settings say "
                            f"{json.dumps(current[name])}; run the {data.get('stage', stage)} stage again "
                            f"({data.get('stage', stage)}: true) or set {name} back")


# --- content ------------------------------------------------------------------------------------------------


def fingerprint(path: Path, cache: dict[str, list[Any]] | None = None) -> list[Any] | None:
    """[size, sha256] of a file's content, or None when it cannot be read."""
    key = str(path)
    if cache is not None and key in cache:
        return cache[key]
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        value: list[Any] | None = [size, digest]
    except OSError:
        value = None
    if cache is not None:
        cache[key] = value
    return value
