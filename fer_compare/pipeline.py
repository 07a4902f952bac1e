"""The stages, one table in the order they run (format -> align -> gradient -> blur -> train -> test -> video),
and the loop that runs those the config switches on."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError
from .files import WriteError
from .progress import live_display, say
from .progress import stage as show_stage
from .settings import Settings, save_config


@dataclass
class Run:
    """One invocation: its config, its run folder (for train/test/video) and what each stage produced."""

    config: Settings
    run_dir: Path | None = None
    results: dict[str, Any] = field(default_factory=dict)

    def ensure_run_dir(self) -> Path:
        """The run folder under runs_dir, made (with the config in it) the first time a stage asks."""
        if self.run_dir is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            name = self.config.run_name
            base = Path(self.config.runs_dir) / (f"{stamp}-{name}" if name else stamp)
            path, n = base, 1
            while path.exists():  # two invocations in the same second never share a folder
                n += 1
                path = base.with_name(f"{base.name}.{n}")
            try:
                path.mkdir(parents=True)
                save_config(self.config, path)
            except OSError as e:
                raise UserError(f"runs_dir: cannot write to {path.parent} ({e.strerror})") from None
            self.run_dir = path
        return self.run_dir


@dataclass(frozen=True)
class Stage:
    """One stage: its name (also its on/off key in the config), the config key of the folder of per-photo
    files it writes (None for train, test and video, which write into the run folder), whether it needs
    TensorFlow, and `run`, which does its work for a Run and returns its result."""

    name: str
    folder: str | None
    needs_tensorflow: bool
    run: Callable[[Run], Any]


def _remove_if_empty(run_dir: Path | None) -> None:
    """A refused run leaves no run folder behind that holds only its config and model descriptions."""
    if run_dir is None or not run_dir.is_dir():
        return
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    if all(p.name in ("config.json", "model.json") for p in files):
        import shutil

        shutil.rmtree(run_dir, ignore_errors=True)


# Each stage imports its code only when it runs: `--help` and the preprocessing stages stay light.

def _format(run: Run) -> Any:
    from .stages import format

    return format.run(run.config)


def _align(run: Run) -> Any:
    from .stages import align

    return align.run(run.config)


def _gradient(run: Run) -> Any:
    from .stages import gradient

    return gradient.run(run.config)


def _blur(run: Run) -> Any:
    from .stages import blur

    return blur.run(run.config)


def _train(run: Run) -> Any:
    from . import training

    return training.run(run.config, run.ensure_run_dir())


def _test(run: Run) -> Any:
    from . import evaluation

    return evaluation.run(run.config, run.ensure_run_dir(), run.results.get("train"))


def _video(run: Run) -> Any:
    from . import video

    return video.run(run.config, run.ensure_run_dir())


# The stages in the order they run; the one list of them, and of the folders they write.
STAGES: tuple[Stage, ...] = (
    Stage("format", "formatted", False, _format),
    Stage("align", "aligned", False, _align),
    Stage("gradient", "gradients", False, _gradient),
    Stage("blur", "blurred", False, _blur),
    Stage("train", None, True, _train),
    Stage("test", None, True, _test),
    Stage("video", None, True, _video),
)
STAGE_ORDER = tuple(stage.name for stage in STAGES)


def stage_folders() -> tuple[tuple[str, str], ...]:
    """(stage, config key of its folder) for each stage that writes a folder of per-photo files, in order."""
    return tuple((stage.name, stage.folder) for stage in STAGES if stage.folder is not None)


def needs_tensorflow(config: Settings) -> bool:
    """Whether a stage this config switches on needs TensorFlow (the CLI then imports it first, without Keras)."""
    return any(config.runs_stage(stage.name) and stage.needs_tensorflow for stage in STAGES)


def run_pipeline(config: Settings) -> Run:
    """Run each stage whose switch is on, in the order of STAGES; each result is kept in `Run.results`."""
    from .stages.ownership import check_folders

    check_folders(config)  # no stage may write where another stage or an input lives: checked before any runs
    run = Run(config)
    chosen = [stage for stage in STAGES if config.runs_stage(stage.name)]
    if not chosen:
        say("no stage is switched on; set one of " + ", ".join(STAGE_ORDER) + " to true")
    writing_folders = [stage for stage in chosen if stage.folder is not None]
    try:
        with live_display():  # one live display for the whole run, on a terminal only
            for stage in chosen:
                say(f"[{stage.name}]")
                show_stage(stage.name)
                start = time.perf_counter()
                run.results[stage.name] = stage.run(run)
                if stage.folder is not None:  # the resolved config beside the outputs it produced
                    save_config(config, Path(config.path(stage.folder)))
                say(f"  {stage.name} took {time.perf_counter() - start:.1f} s")
                if writing_folders and stage is writing_folders[-1]:
                    from .stages.runner import close_pool

                    close_pool()  # free the preprocessing workers before training starts
    except (UserError, WriteError) as e:
        if e.exit_code == 2:
            _remove_if_empty(run.run_dir)
        raise
    if run.run_dir is not None:
        say(f"run folder: {run.run_dir}")
        say(f"compare runs: tensorboard --logdir {config.runs_dir}")
    return run
