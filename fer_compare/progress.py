"""What a run tells while it runs: the narrative lines, one live display on a terminal, and epochs.csv.

On a terminal (stdout) one rich live display stays at the bottom for the whole run: the stage,
the model, the fold k of K, an epoch bar with elapsed time and ETA, and the last training and
validation loss; the run's lines scroll above it. Into a log (stdout not a terminal) only those
lines go: one per stage, per model and per fold, not one per epoch. Each epoch's row goes to
`epochs.csv` beside the model's TensorBoard logs, and with `--verbose` to stdout as well.

Callers: `say(text)` for a line, `progress(items, total, label)` for a loop over items,
`live_display()` around a run, `stage(name)` when a stage begins, `set_fold(k, K)` in a K-fold
loop, and `training_started(...)` / `EpochLog.epoch(row)` in the training loop.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

T = TypeVar("T")

EPOCH_COLUMNS = ("epoch", "train_loss", "validation_loss", "validation_accuracy", "learning_rate", "seconds")


class _EtaColumn(ProgressColumn):
    """Time left at the mean pace of the items done so far in this bar (rich's own estimate needs a
    steady stream of updates within 30 s; one gradient FNN epoch can take longer)."""

    def render(self, task: Task) -> Text:
        done = task.completed - task.fields.get("first", 0)
        if task.total is None or done <= 0 or task.elapsed is None:
            return Text("ETA -:--", style="progress.remaining")
        left = task.elapsed / done * max(task.total - task.completed, 0)
        minutes, seconds = divmod(int(round(left)), 60)
        hours, minutes = divmod(minutes, 60)
        text = f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
        return Text(f"ETA {text}", style="progress.remaining")


@dataclass
class _State:
    console: Console | None = None
    verbose: bool = False
    stage: str = ""
    model: str = ""
    fold: str = ""
    live: Live | None = None
    bars: Progress | None = None


_state = _State()


def configure(console: Console | None = None, verbose: bool | None = None) -> None:
    """Where the display goes (default: a rich Console on stdout) and whether epoch rows are printed."""
    if console is not None:
        _state.console = console
    if verbose is not None:
        _state.verbose = verbose


def _console() -> Console:
    if _state.console is None:
        _state.console = Console()  # stdout, looked up at each write; live only when it is a terminal
    return _state.console


def _new_bars(console: Console) -> Progress:
    return Progress(TextColumn("  {task.description}"), BarColumn(bar_width=30), MofNCompleteColumn(),
                    TimeElapsedColumn(), _EtaColumn(), TextColumn("{task.fields[detail]}"),
                    console=console, auto_refresh=False)


class _Screen:
    """The live display's renderable: a header line over the bars, rebuilt at each refresh."""

    def __rich__(self) -> RenderableType:
        parts = [f"stage {_state.stage}" if _state.stage else "", f"model {_state.model}" if _state.model else "",
                 _state.fold]
        header = Text(" · ".join(p for p in parts if p), style="bold")
        return Group(header, _state.bars) if _state.bars is not None else header


def _refresh() -> None:
    if _state.live is not None:
        _state.live.refresh()


@contextmanager
def live_display() -> Iterator[None]:
    """The run's one live display, when stdout (or the configured console) is a terminal."""
    console = _console()
    if _state.live is not None or not console.is_terminal:
        yield
        return
    _state.bars = _new_bars(console)
    # stdout goes through the console, so say()'s lines scroll above the display; stderr is left
    # alone (TensorFlow's C++ logging bypasses sys.stderr anyway).
    _state.live = Live(_Screen(), console=console, refresh_per_second=2, redirect_stderr=False)
    _state.live.start()
    try:
        yield
    finally:
        _state.live.stop()
        _state.live = None
        _state.bars = None
        _state.stage = _state.model = _state.fold = ""


def stage(name: str) -> None:
    """A stage begins: the header shows it; model, fold and bars of the previous stage go."""
    _state.stage, _state.model, _state.fold = name, "", ""
    if _state.bars is not None:
        for task in list(_state.bars.task_ids):
            _state.bars.remove_task(task)
    _refresh()


def set_fold(k: int | None, total: int | None = None) -> None:
    """Show "fold k/K" (k counted from 1) until the next call; set_fold(None) clears it."""
    _state.fold = f"fold {k}/{total}" if k is not None else ""
    _refresh()


def progress(items: Iterable[T], total: int, label: str) -> Iterator[T]:
    """Yield items while a bar (label, done/total, elapsed, ETA) counts them on a terminal; silent in a log."""
    console = _console()
    if not console.is_terminal:
        yield from items
        return
    with live_display():
        bars = _state.bars
        assert bars is not None
        task = bars.add_task(label, total=total, detail="")
        try:
            for item in items:
                yield item
                bars.advance(task)
                _refresh()
        finally:
            bars.remove_task(task)
            _refresh()


def say(text: str) -> None:
    """One line of the run's narrative on stdout."""
    print(text, flush=True)


class EpochLog:
    """One model's training: its bar in the display, its epochs.csv, and (verbose) its printed epoch rows."""

    def __init__(self, kind: str, path: Path, max_epochs: int, first_epoch: int) -> None:
        self.kind = kind
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # A resumed run appends to its own folder's file; a new one starts it.
        if first_epoch == 0 or not path.exists():
            with path.open("w", newline="") as f:
                csv.writer(f).writerow(EPOCH_COLUMNS)
        _state.model = kind
        self.task: TaskID | None = None
        if _state.bars is not None:
            for task in list(_state.bars.task_ids):  # the previous model's (or fold's) bar
                _state.bars.remove_task(task)
            self.task = _state.bars.add_task(f"{kind} epochs", total=max_epochs, completed=first_epoch,
                                             first=first_epoch, detail="")
        self.started = time.monotonic()
        _refresh()

    def epoch(self, row: dict[str, Any]) -> None:
        """After each epoch: the CSV row, the display's bar and losses, and the printed row when verbose."""
        with self.path.open("a", newline="") as f:
            csv.writer(f).writerow([row["epoch"], *(f"{float(row[c]):.6g}" for c in EPOCH_COLUMNS[1:])])
        if self.task is not None and _state.bars is not None:
            _state.bars.update(self.task, completed=int(row["epoch"]) + 1,
                               detail=f"train loss {row['train_loss']:.4f}  validation loss "
                                      f"{row['validation_loss']:.4f}")
            _refresh()
        if _state.verbose:
            say(f"  {self.kind} epoch {int(row['epoch']):3d}: train loss {row['train_loss']:.4f}  "
                f"validation loss {row['validation_loss']:.4f}  accuracy {row['validation_accuracy']:.3f}  "
                f"learning rate {row['learning_rate']:.3g}  ({row['seconds']:.1f} s)")


def training_started(kind: str, folder: Path, max_epochs: int, first_epoch: int) -> EpochLog:
    """A model's training begins (epochs first_epoch .. max_epochs - 1); rows go to folder/epochs.csv."""
    return EpochLog(kind, folder / "epochs.csv", max_epochs, first_epoch)


def read_epochs(path: Path) -> list[dict[str, float]]:
    """epochs.csv back as rows of numbers."""
    with path.open(newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
