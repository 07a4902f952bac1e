"""parameters.json -> Settings: the thesis's keys with their meaning, --set overrides, "did you mean" hints and
one-line errors. The only code that reads settings by their string keys (with `validation`)."""

from __future__ import annotations

import copy
import difflib
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..kinds import NETWORKS as MODEL_NAMES
from .recipes import CHOICES, DEFAULTS, NULLABLE, deep_update, recipe_defaults
from .schema import Settings, from_dict
from .validation import validate

# A model's own value of a shared setting (null: the shared one): what it must be.
_OWN_NUMBERS: dict[str, tuple[str, Callable[[float], bool]]] = {
    "learning_rate": ("a positive number", lambda v: v > 0),
    "min_increase": ("a number >= 0", lambda v: v >= 0),
}


def _check(value: Any, default: Any, path: str) -> Any:
    leaf = path.split(".")[-1]
    _check_finite(value, path)
    # null where the schema allows it (a model's emotions: every emotion found). Not for the top-level
    # learning_rate, whose null would reach the optimizer.
    if value is None and (default is None or path in NULLABLE):
        return None
    if leaf in _OWN_NUMBERS and path in NULLABLE:
        what, allowed = _OWN_NUMBERS[leaf]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not allowed(value):
            raise UserError(f"{path}: expected {what} or null, got {json.dumps(value)}")
        return float(value)
    if default is None:  # nullable list of names
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UserError(f"{path}: expected a list of emotion names or null, got {json.dumps(value)}")
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise UserError(f"{path}: expected true or false, got {json.dumps(value)}")
    elif isinstance(default, (int, float)) and not isinstance(default, bool):
        if leaf == "dropout" and isinstance(value, list):
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if leaf == "video_source" and isinstance(value, str):
                return value
            raise UserError(f"{path}: expected a number, got {json.dumps(value)}")
        if isinstance(default, int) and not isinstance(value, int) and leaf not in ("learning_rate",):
            if float(value).is_integer():
                value = int(value)
            else:
                raise UserError(f"{path}: expected a whole number, got {json.dumps(value)}")
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise UserError(f"{path}: expected a string, got {json.dumps(value)}")
        if path in CHOICES and value not in CHOICES[path]:
            raise UserError(f"{path}: {value!r} is not one of {sorted(CHOICES[path])}")
    elif isinstance(default, list):
        if leaf == "dropout" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        if not isinstance(value, list):
            raise UserError(f"{path}: expected a list like {json.dumps(default)}, got {json.dumps(value)}")
        if default and all(isinstance(x, (int, float)) for x in default):
            if len(value) != len(default) and leaf in ("size", "input", "min_size"):
                raise UserError(f"{path}: expected {len(default)} numbers, got {json.dumps(value)}")
            if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
                raise UserError(f"{path}: expected numbers, got {json.dumps(value)}")
            if leaf != "dropout" and not all(x > 0 for x in value):
                raise UserError(f"{path}: expected positive numbers, got {json.dumps(value)}")
            if leaf in ("size", "input"):  # pixel sizes: whole numbers (60.5 pixels would crash OpenCV)
                if not all(float(x).is_integer() for x in value):
                    raise UserError(f"{path}: expected whole numbers, got {json.dumps(value)}")
                value = [int(x) for x in value]
        if default and all(isinstance(x, str) for x in default):
            if not all(isinstance(x, str) for x in value):
                raise UserError(f"{path}: expected a list of names, got {json.dumps(value)}")
    return value


def _check_finite(value: Any, path: str) -> None:
    """NaN and infinity pass every comparison test the other checks make: refuse them first."""
    values = value if isinstance(value, list) else [value]
    for x in values:
        if isinstance(x, float) and not math.isfinite(x):
            raise UserError(f"{path}: expected a finite number, got {json.dumps(value)}")


def _merge(base: dict[str, Any], user: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in user.items():
        path = f"{prefix}{key}"
        if key not in base:
            close = difflib.get_close_matches(key, list(base), n=1)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else ""
            raise UserError(f"unknown key '{path}'{hint}")
        default = base[key]
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise UserError(f"{path}: expected an object, got {json.dumps(value)}")
            out[key] = _merge(default, value, path + ".")
        else:
            out[key] = _check(value, default, path)
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    """`key.path=VALUE`: VALUE parsed as JSON, otherwise taken as a string."""
    if "=" not in text:
        raise UserError(f"--set {text!r}: expected key.path=VALUE")
    path, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return path.strip().split("."), value


def _nest(path: list[str], value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {path[-1]: value}
    for part in reversed(path[:-1]):
        out = {part: out}
    return out


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> Settings:
    """Read parameters.json, apply --set overrides, check every value against the schema: the Settings."""
    user: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if path.is_dir():
            raise UserError(f"{path}: a folder, not a config file; give the path of a .json file")
        if not path.is_file():
            raise UserError(f"{path}: no such config file")
        try:
            user = json.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise UserError(f"{path}: cannot read the config file ({e.strerror})") from None
        except UnicodeDecodeError as e:
            raise UserError(f"{path}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); "
                            f"save it as UTF-8") from None
        except RecursionError:
            raise UserError(f"{path}: not valid JSON (nested too deeply)") from None
        except json.JSONDecodeError as e:
            raise UserError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
        if not isinstance(user, dict):
            raise UserError(f"{path}: expected a JSON object at the top level")
    for text in overrides:
        keys, value = parse_override(text)
        deep_update(user, _nest(keys, value))
    _shared_values_for_all(user)
    return from_dict(Settings, _checked(user))


def updated(settings: Settings, values: dict[str, Any]) -> Settings:
    """`settings` with dotted keys set to new values, checked as a config file's would be."""
    config = settings.to_dict()
    for path, value in values.items():
        deep_update(config, _nest(path.split("."), value))
    return from_dict(Settings, _checked(config))


def _checked(config: dict[str, Any]) -> dict[str, Any]:
    merged = _merge(recipe_defaults(config.get("recipe")), config)
    validate(merged)
    return merged


def _shared_values_for_all(user: dict[str, Any]) -> None:
    """The thesis's `learning_rate`, when the user sets it, is every model's rate: a model's own
    default rate (the recipe's) gives way unless the user set `nn.<model>.learning_rate` too. The
    same holds for `stopping.min_increase` and each model's `min_increase`."""
    nn = user.get("nn", {})
    if not isinstance(nn, dict):
        return
    stopping = user.get("stopping")
    shared = {"learning_rate": "learning_rate" in user,
              "min_increase": isinstance(stopping, dict) and "min_increase" in stopping}
    for key, set_by_user in shared.items():
        if not set_by_user:
            continue
        for name in MODEL_NAMES:
            if isinstance(nn.get(name, {}), dict):
                user.setdefault("nn", nn).setdefault(name, {}).setdefault(key, None)


def input_settings_mismatch(recorded: dict[str, Any] | None, current: dict[str, Any]) -> str | None:
    """'key: recorded vs current' for the first setting that differs, or None (nothing recorded: None)."""
    if recorded is not None:
        # Absent means "none" (and older exports made no such inputs): compared either way.
        recorded = {"subject_normalization": "none", **recorded}
        current = {"subject_normalization": "none", **current}
    for key, value in (recorded or {}).items():
        if key in current and current[key] != value:
            return f"{key} was {json.dumps(value)} in training, {json.dumps(current[key])} here"
    return None


def save_config(settings: Settings, folder: Path, name: str = "config.json") -> Path:
    """Save the resolved settings beside the outputs they produced."""
    from ..files import atomic_write_text

    out = folder / name
    atomic_write_text(out, json.dumps(settings.to_dict(), indent=2) + "\n")
    return out


def default_parameters_json() -> str:
    """DEFAULTS as the repository's parameters.json (lists of scalars kept on one line)."""
    import re

    text = json.dumps(DEFAULTS, indent=2)
    return re.sub(r"\[\s*([^\[\]{}]*?)\s*\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]" if m.group(1).strip()
                  else "[]", text) + "\n"
