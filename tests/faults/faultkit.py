"""Helpers for the fault suite: the CLI in real subprocesses, one-line errors, file snapshots, photo trees.

Every case of docs/RELIABILITY.md is tagged on its test with `case(category, name)` (or
`case_param(...)` inside a parametrize list); test_reliability_doc.py reads those tags from the
source and checks them against the table.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "templates" / "template.png"
ERROR_PREFIX = "fer-compare: error: "
F = TypeVar("F", bound=Callable[..., Any])

# A small CNN: seconds per run on 2 cores (the thesis's sizes are not needed to show behaviour).
TINY_CNN: dict[str, Any] = {
    "models": ["cnn"], "nn.cnn.filters": [4, 8, 8], "nn.cnn.hidden": [16, 16], "nn.cnn.max_epochs": 1,
    "nn.cnn.batch_size": 4, "learning_rate": 0.003,
}
STAGES_OFF: dict[str, Any] = {"format": False, "align": False, "gradient": False, "blur": False, "train": False,
                              "test": False, "video": False}


# --- the case registry -------------------------------------------------------------------------------


def case(category: str, name: str) -> Callable[[F], F]:
    """Tag a test with the docs/RELIABILITY.md row (category, case) it shows."""

    def tag(fn: F) -> F:
        fn.__dict__.setdefault("fault_cases", []).append((category, name))
        return fn

    return tag


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def case_param(category: str, name: str, *values: Any, marks: Any = ()) -> Any:
    """A pytest.param for one case of a parametrized test; its id is the case name."""
    return pytest.param(*values, id=slug(name), marks=marks)


# --- running the CLI -----------------------------------------------------------------------------------


@dataclass
class CliRun:
    """A finished CLI subprocess."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    max_rss_mb: float  # exact with run_cli(measure_rss=True); otherwise an upper bound (see run_cli)
    seconds: float

    def describe(self) -> str:
        return (f"exit {self.returncode} after {self.seconds:.1f} s\n--- stdout (tail) ---\n{self.stdout[-3000:]}"
                f"\n--- stderr (tail) ---\n{self.stderr[-3000:]}")


def as_args(sets: dict[str, Any]) -> list[str]:
    """--set key=VALUE pairs; strings are passed as they are, everything else as JSON."""
    out: list[str] = []
    for key, value in sets.items():
        out += ["--set", f"{key}={value if isinstance(value, str) else json.dumps(value)}"]
    return out


def cli_command(sets: dict[str, Any], config: Path | None = None, drop_root: bool = False) -> list[str]:
    # --verbose: the per-epoch lines the training fault tests read (a log gets none otherwise)
    cmd = [sys.executable, "-m", "fer_compare", "--verbose", *([str(config)] if config else []), *as_args(sets)]
    if drop_root:
        cmd = [*root_drop_prefix(), *cmd]
    return cmd


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DISPLAY", None)  # the video stage writes a file instead of opening a window
    env.pop(FAULT_ENV, None)
    # The CLI of this checkout (a worktree, say), not whichever one the virtual environment installed.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.update(extra or {})
    return env


FAULT_ENV = "FER_COMPARE_FAULT"


def fault(point: str, count: int, sig: str = "KILL") -> dict[str, str]:
    """The environment that makes the CLI send itself SIG<sig> the `count`-th time it passes `point`
    (fer_compare.files.fault_point): an interruption at a known place, not after a guessed delay."""
    return {FAULT_ENV: f"{point}:{count}:{sig}"}


def root_drop_prefix() -> list[str]:
    """As root, permissions do not apply; run the CLI without the capabilities that bypass them."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a read-only folder cannot be made read-only for the CLI")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


def _wait(proc: subprocess.Popen, timeout: float) -> tuple[int, float]:
    """Wait for the child with wait4 (its own peak RSS, in MB); kill its process group on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_maxrss / 1024.0
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            os.wait4(proc.pid, 0)
            raise AssertionError(f"the CLI did not finish within {timeout} s: {proc.args}")
        time.sleep(0.05)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class LiveCli:
    """The CLI running in its own process group; stdout read line by line as it comes."""

    def __init__(self, sets: dict[str, Any], cwd: Path, config: Path | None = None, drop_root: bool = False,
                 env: dict[str, str] | None = None) -> None:
        self.args = cli_command(sets, config, drop_root)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._stderr = open(cwd / f".stderr-{time.monotonic_ns()}.txt", "w+", encoding="utf-8")
        self.start = time.monotonic()
        # SIGINT at its default, as in a terminal: a suite started in the background (`pytest &`) has it
        # ignored, the child would inherit that, and Ctrl-C could not be simulated.
        self.proc = subprocess.Popen(self.args, cwd=cwd, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
                                     env=child_env(env), start_new_session=True, preexec_fn=_default_sigint)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = 180.0) -> re.Match[str]:
        """The first stdout line matching `pattern` (waiting for it); fails if the run ends first."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    found = regex.search(line)
                    if found:
                        return found
                if not self._reader.is_alive():
                    raise AssertionError(f"the run ended without printing {pattern!r}:\n" + "\n".join(self.lines))
                left = deadline - time.monotonic()
                if left <= 0:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    raise AssertionError(f"no line matched {pattern!r} within {timeout} s")
                self._changed.wait(min(left, 0.5))

    def send(self, sig: int) -> None:
        """Signal the whole process group, as a terminal's Ctrl-C does."""
        os.killpg(self.proc.pid, sig)

    def finish(self, timeout: float = 180.0) -> CliRun:
        code, rss = _wait(self.proc, timeout)
        self._reader.join(timeout=10)
        self._stderr.seek(0)
        stderr = self._stderr.read()
        self._stderr.close()
        Path(self._stderr.name).unlink()
        return CliRun(self.args, code, "\n".join(self.lines) + "\n", stderr, rss, time.monotonic() - self.start)


def run_cli(sets: dict[str, Any], cwd: Path, config: Path | None = None, timeout: float = 300.0,
            drop_root: bool = False, measure_rss: bool = False, max_file_bytes: int | None = None,
            env: dict[str, str] | None = None) -> CliRun:
    """Run `python -m fer_compare [config] --set ...` to the end; its exit code and output.

    With `measure_rss`, the CLI runs under /usr/bin/time, whose small process is the CLI's parent:
    wait4 on a child forked from this (large) pytest process would report pytest's own RSS at fork.
    `max_file_bytes` caps every file the CLI writes (RLIMIT_FSIZE; Python ignores SIGXFSZ, so a
    write past it fails with EFBIG as a full disk fails with ENOSPC).
    """
    args = cli_command(sets, config, drop_root)
    stamp = time.monotonic_ns()
    out_path, err_path, rss_path = (cwd / f".{name}-{stamp}.txt" for name in ("stdout", "stderr", "rss"))
    if measure_rss:
        gnu_time = Path("/usr/bin/time")
        if not gnu_time.is_file():
            pytest.skip("/usr/bin/time is needed to measure the CLI's peak RSS")
        args = [str(gnu_time), "-f", "%M", "-o", str(rss_path), *args]
    start = time.monotonic()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        limit = None if max_file_bytes is None else functools.partial(
            resource.setrlimit, resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))
        proc = subprocess.Popen(args, cwd=cwd, stdout=out, stderr=err, env=child_env(env), start_new_session=True,
                                preexec_fn=_default_sigint if limit is None else limit)
        code, rss = _wait(proc, timeout)
    stdout, stderr = out_path.read_text(), err_path.read_text()
    out_path.unlink()
    err_path.unlink()
    if measure_rss:
        rss = int(rss_path.read_text().split()[-1]) / 1024.0
        rss_path.unlink()
    return CliRun(args, code, stdout, stderr, rss, time.monotonic() - start)


def error_line(run: CliRun, code: int = 2) -> str:
    """The run's single stderr line `fer-compare: error: ...` (asserted: exit code, one line, no traceback)."""
    assert run.returncode == code, run.describe()
    assert "Traceback" not in run.stderr, run.describe()
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.describe()
    assert lines[0].startswith(ERROR_PREFIX), run.describe()
    log = os.environ.get("FAULTS_LOG")  # collect the lines, e.g. to refresh docs/RELIABILITY.md
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{os.environ.get('PYTEST_CURRENT_TEST', '?').split(' ')[0]}\t{lines[0]}\n")
    return lines[0]


def succeeded(run: CliRun) -> None:
    """Exit 0 and nothing on stderr that looks like a crash."""
    assert run.returncode == 0, run.describe()
    assert "Traceback" not in run.stderr, run.describe()
    assert ERROR_PREFIX not in run.stderr, run.describe()


# --- files ------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def small_disk(folder: Path, size_kib: int, fallback_file_bytes: int) -> Iterator[dict[str, Any]]:
    """A tmpfs of `size_kib` at `folder` as root (writes fail with ENOSPC, as on a full disk); otherwise
    nothing is mounted and the CLI should run with every file capped at `fallback_file_bytes`
    (RLIMIT_FSIZE: EFBIG). Either way the tool's real writers meet the failure.

    Yields {"limit": max_file_bytes for run_cli, "reason": the OS's words the error line should end with}.
    """
    folder.mkdir(parents=True, exist_ok=True)
    mounted = False
    if os.geteuid() == 0 and shutil.which("mount"):
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(folder)],
                                 capture_output=True).returncode == 0
    try:
        yield {"limit": None if mounted else fallback_file_bytes, "mounted": mounted,
               "reason": "No space left on device" if mounted else "File too large"}
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> None:
    """Fill the file system of `folder` to the last byte."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


def snapshot(*roots: Path) -> dict[str, str]:
    """Every file (its SHA-256) and folder below the roots, hidden ones included: to show nothing changed."""
    out: dict[str, str] = {}
    for root in roots:
        if root.is_file():
            out[str(root)] = hashlib.sha256(root.read_bytes()).hexdigest()
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            for d in dirnames:
                out[os.path.join(dirpath, d)] = "folder"
            for f in filenames:
                path = Path(dirpath, f)
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def london_subjects(london: Path) -> list[str]:
    """Subject ids with both a neutral (_03) and a happy (_08) photo, in order."""
    return sorted(p.name[:3] for p in (london / "neutral").glob("*_03.jpg")
                  if (london / "happy" / f"{p.name[:3]}_08.jpg").exists())


def london_photo(london: Path, subject: str, emotion: str) -> Path:
    return london / emotion / f"{subject}_{'08' if emotion == 'happy' else '03'}.jpg"


def london_tree(london: Path, dest: Path, subjects: Sequence[str], emotions: Iterable[str] = ("neutral", "happy"),
                relabel: dict[str, tuple[str, Sequence[str]]] | None = None) -> Path:
    """Class folders of real London photos; `relabel` adds folder -> (London emotion, subjects) copies."""
    for emotion in emotions:
        (dest / emotion).mkdir(parents=True, exist_ok=True)
        for s in subjects:
            shutil.copy(london_photo(london, s, emotion), dest / emotion)
    for folder, (emotion, others) in (relabel or {}).items():
        (dest / folder).mkdir(parents=True, exist_ok=True)
        for s in others:
            shutil.copy(london_photo(london, s, emotion), dest / folder)
    return dest


def workspace(tmp: Path, raw: Path | None = None, **stages: bool) -> dict[str, Any]:
    """--set values that keep every output under `tmp`; all stages off unless switched on here."""
    sets: dict[str, Any] = {
        "formatted": str(tmp / "formatted"), "aligned": str(tmp / "aligned"), "gradients": str(tmp / "gradients"),
        "blurred": str(tmp / "blurred"), "runs_dir": str(tmp / "runs"), "model_to_save": str(tmp / "models"),
        "demo_set": False, "workers": 1, "align_template": str(TEMPLATE), **STAGES_OFF,
    }
    if raw is not None:
        sets["raw_source"] = str(raw)
    sets.update(stages)
    return sets


def run_folders(runs_dir: Path) -> list[Path]:
    return sorted(p for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []


# --- one small trained model, shared by the model and video cases ----------------------------------------

_SHARED: dict[str, dict[str, Any]] = {}


def shared_cnn(london: Path, factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny CNN trained once per session through the CLI on 15 London photos of three classes.

    neutral and happy: subjects 1-6; "surprised": happy photos of three other subjects, relabelled
    (only the class list matters here). Returns its folders; tests copy before they damage anything.
    """
    if "cnn" in _SHARED:
        return _SHARED["cnn"]
    root = factory.mktemp("shared_cnn")
    subjects = london_subjects(london)
    raw = london_tree(london, root / "raw", subjects[:6], relabel={"surprised": ("happy", subjects[6:9])})
    sets = workspace(root, raw, format=True, train=True, save=True) | TINY_CNN | {
        "nn.cnn.max_epochs": 2, "split.test_fraction": 0.0, "split.validation_fraction": 0.3, "run_name": "shared"}
    run = run_cli(sets, root)
    succeeded(run)
    (run_dir,) = run_folders(root / "runs")
    _SHARED["cnn"] = {"root": root, "raw": raw, "sets": sets, "run_dir": run_dir, "models": root / "models",
                      "formatted": root / "formatted", "classes": ["neutral", "happy", "surprised"]}
    return _SHARED["cnn"]
