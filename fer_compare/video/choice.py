"""Which model the video stage runs: video_model, the one export in model_to_load, or the newest
comparison's winner; and loading it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UserError
from ..kinds import NETWORKS as MODEL_NAMES
from ..progress import say
from ..settings import Settings

if TYPE_CHECKING:  # TensorFlow loads only when a model does
    from ..checkpoints import LoadedModel


def latest_winner(runs_dir: Path) -> tuple[str, Path] | None:
    """The winning model of the newest comparison.json under runs_dir, and that file."""
    found = sorted(runs_dir.glob("*/comparison.json"), key=lambda p: (p.stat().st_mtime, p.parent.name))
    if not found:
        return None
    path = found[-1]
    try:
        winner = json.loads(path.read_text(encoding="utf-8"))["winner"]["model"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(f"video_model: not set, and {path} has no readable winner; set video_model") from None
    return winner, path


def exported_kinds(folder: Path) -> list[str]:
    """The kinds of model that model_to_load holds: one export, or a folder of exports (<folder>/<kind>)."""
    from ..checkpoints import DESCRIPTION

    kinds = []
    for export in (folder, *(folder / k for k in MODEL_NAMES)):
        desc = export / DESCRIPTION
        if (export / "saved_model.pb").is_file() and desc.is_file():
            try:
                kinds.append(json.loads(desc.read_text(encoding="utf-8"))["kind"])
            except (OSError, ValueError, KeyError, TypeError):
                raise UserError(f"model_to_load: {desc} is not a readable model description") from None
    return kinds


def choose_kind(config: Settings) -> tuple[str, Settings]:
    """video_model, else the one model model_to_load holds, else the winner of the newest comparison under
    runs_dir; with the settings to load it by (model_to_load set to the model that comparison exported)."""
    kind = config.video_model
    if kind:
        if kind not in MODEL_NAMES:
            raise UserError(f"video_model: {kind!r} is not one of {', '.join(MODEL_NAMES)}")
        return kind, config
    if config.model_to_load:
        kinds = exported_kinds(Path(config.model_to_load))
        if len(kinds) == 1:
            say(f"  model: {kinds[0]}, from model_to_load")
            return kinds[0], config
    found = latest_winner(Path(config.runs_dir))
    if found is None:
        raise UserError(f"video_model: not set, and no comparison.json under {config.runs_dir} to take "
                        f"the winner from; set video_model to one of {', '.join(MODEL_NAMES)} "
                        f"or run the test stage")
    kind, path = found
    if kind not in MODEL_NAMES:
        raise UserError(f"video_model: {path} names an unknown winner {kind!r}; set video_model")
    say(f"  model: {kind}, the winner in {path}")
    export = _export_of(path, kind)
    if export is not None and not config.model_to_load:
        say(f"  using the model that run exported: {export}")
        return kind, config.with_paths(model_to_load=str(export))  # the very model that comparison trained
    return kind, config


def _export_of(comparison: Path, kind: str) -> Path | None:
    """The SavedModel the comparison's run exported for `kind`, if it did and it is still there."""
    try:
        exported = json.loads(comparison.read_text(encoding="utf-8")).get("exports", {}).get(kind)
    except (OSError, ValueError):
        return None
    if exported and (Path(exported) / "saved_model.pb").is_file():
        return Path(exported)
    return None


def load_model(config: Settings, kind: str) -> LoadedModel:
    """The exported SavedModel: model_to_load (<path>/<kind> or one export), else model_to_save/<kind>."""
    from ..checkpoints import LoadedModel

    if config.model_to_load:
        from ..evaluation import load_trained

        return load_trained(config, kind)
    path = Path(config.model_to_save) / kind
    if not config.video_model:
        say(f"  note: that comparison exported no model; using {path}, which may come from another run")
    if not (path / "saved_model.pb").is_file():
        raise UserError(f"video: no exported {kind} model at {path}; "
                        f"train it with save: true or set model_to_load")
    model = LoadedModel(path, "model_to_save")
    if model.kind != kind:
        raise UserError(f"model_to_save: {path} holds a {model.kind} model, not a {kind}")
    return model
