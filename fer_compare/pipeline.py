"""The stage order, top to bottom: format -> align -> gradient -> blur -> train -> test -> video."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import save_config
from .errors import UserError
from .progress import live_display, say
from .progress import stage as show_stage

STAGE_ORDER = ("format", "align", "gradient", "blur", "train", "test", "video")


@dataclass
class Run:
    """One invocation: its config, its run folder (for train/test/video) and what each stage produced."""

    config: dict[str, Any]
    run_dir: Path | None = None
    results: dict[str, Any] = field(default_factory=dict)

    def ensure_run_dir(self) -> Path:
        if self.run_dir is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            name = self.config["run_name"]
            base = Path(self.config["runs_dir"]) / (f"{stamp}-{name}" if name else stamp)
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


# Each preprocessing stage and the config key of the folder it writes.
OUTPUT_KEYS = {"format": "formatted", "align": "aligned", "gradient": "gradients", "blur": "blurred"}


def _preprocessing(name: str) -> Callable[[Run], None]:
    """A preprocessing stage: run its module, then save the resolved config beside its outputs."""

    def stage(run: Run) -> None:
        module = importlib.import_module(f".stages.{name}", __package__)
        run.results[name] = module.run(run.config)
        save_config(run.config, Path(run.config[OUTPUT_KEYS[name]]))

    return stage


def _train(run: Run) -> None:
    from . import training

    run.results["train"] = training.run(run.config, run.ensure_run_dir())


def _test(run: Run) -> None:
    from . import evaluation

    run.results["test"] = evaluation.run(run.config, run.ensure_run_dir(), run.results.get("train"))


def _video(run: Run) -> None:
    from . import video

    run.results["video"] = video.run(run.config, run.ensure_run_dir())


STAGES: dict[str, Callable[[Run], None]] = {
    "format": _preprocessing("format"),
    "align": _preprocessing("align"),
    "gradient": _preprocessing("gradient"),
    "blur": _preprocessing("blur"),
    "train": _train,
    "test": _test,
    "video": _video,
}


def run_pipeline(config: dict[str, Any]) -> Run:
    """Run each stage whose switch is on, in the fixed order."""
    run = Run(config)
    chosen = [name for name in STAGE_ORDER if config[name]]
    if not chosen:
        say("no stage is switched on; set one of " + ", ".join(STAGE_ORDER) + " to true")
    preprocessing = [name for name in chosen if name in OUTPUT_KEYS]
    with live_display():  # one live display for the whole run, on a terminal only
        for name in chosen:
            say(f"[{name}]")
            show_stage(name)
            start = time.perf_counter()
            STAGES[name](run)
            say(f"  {name} took {time.perf_counter() - start:.1f} s")
            if preprocessing and name == preprocessing[-1]:
                from .stages.runner import close_pool

                close_pool()  # free the preprocessing workers before training starts
    if run.run_dir is not None:
        say(f"run folder: {run.run_dir}")
        say(f"compare runs: tensorboard --logdir {config['runs_dir']}")
    return run
