"""The recipes (default sets) and the tables the loader checks values against, all derived from the
schema's declarations; plus the small dict helpers the loader uses."""

from __future__ import annotations

import copy
import json
from typing import Any

from .schema import Settings, defaults, walk

DEFAULTS: dict[str, Any] = defaults()
# dotted key -> help line, allowed values, whether null is allowed: read from the schema's fields
HELP: dict[str, str] = {path: f.metadata["help"] for path, f in walk(Settings)}
CHOICES: dict[str, frozenset[str]] = {path: f.metadata["choices"] for path, f in walk(Settings)
                                      if f.metadata["choices"]}
NULLABLE: frozenset[str] = frozenset(path for path, f in walk(Settings) if f.metadata["nullable"])

# recipe "thesis": the thesis's training settings (with its code defects fixed, SPEC §2), over DEFAULTS.
THESIS_RECIPE: dict[str, Any] = {
    "learning_rate": 1e-4,
    "nn": {
        "cnn": {"learning_rate": None, "dropout": 0.5, "standardize": False, "max_epochs": 60, "l2": 1e-4,
                "augment": False, "min_increase": None, "average_epochs": 0.0},
        "landmark_fnn": {"learning_rate": None, "dropout": 0.5, "standardize": False, "max_epochs": 200, "l2": 0.0,
                         "augment": False, "min_increase": None, "average_epochs": 0.0},
        "gradient_fnn": {"learning_rate": None, "standardize": False, "max_epochs": 60, "l2": 0.0, "dropout": 0.0,
                         "augment": False, "min_increase": None, "average_epochs": 0.0},
    },
    "stopping": {"check_every": 4, "min_increase": 0.03, "min_epochs": 0},
    "augment": {"enabled": False},
}


def recipe_defaults(recipe: Any) -> dict[str, Any]:
    """DEFAULTS for a recipe name (an unknown name is left for validation to name)."""
    base = copy.deepcopy(DEFAULTS)
    if recipe == "thesis":
        deep_update(base, copy.deepcopy(THESIS_RECIPE))
        base["recipe"] = "thesis"
    return base


def describe_keys() -> str:
    """Every key, its default and its meaning, for --help."""
    lines = []
    for path, default in flatten(DEFAULTS).items():
        text = HELP.get(path, "")
        lines.append(f"  {path} = {json.dumps(default)}" + (f"  -- {text}" if text else ""))
    return "\n".join(lines)


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, path + "."))
        else:
            out[path] = v
    return out


def deep_update(d: dict[str, Any], u: dict[str, Any]) -> None:
    for k, v in u.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict):
            deep_update(d[k], v)
        else:
            d[k] = v
