"""Number and table formatting shared by the report's text, figures and JSON; the report's file names."""

from __future__ import annotations

import math
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

FILES: dict[str, str] = {
    "json": "comparison.json",
    "markdown": "comparison.md",
    "learning_curves": "learning_curves.png",
    "confusion_matrices": "confusion_matrices.png",
    "per_class_f1": "per_class_f1.png",
    "montage": "montage.png",
    "tensorboard": "comparison",
}


# --- formatting -----------------------------------------------------------------------------------
def _finite(x: Any) -> bool:
    return x is not None and isinstance(x, (int, float, np.floating, np.integer)) and math.isfinite(float(x))


def _pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f} %" if _finite(x) else "—"


def _num(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}" if _finite(x) else "—"


def _pm_pct(ms: tuple[float, float], folds: int) -> str:
    if not _finite(ms[0]):
        return "—"
    return f"{100 * ms[0]:.1f} ± {100 * ms[1]:.1f} %" if folds > 1 else _pct(ms[0])


def _pm(ms: tuple[float, float], folds: int, digits: int = 3) -> str:
    if not _finite(ms[0]):
        return "—"
    return f"{ms[0]:.{digits}f} ± {ms[1]:.{digits}f}" if folds > 1 else _num(ms[0], digits)


def _duration(seconds: float) -> str:
    if not _finite(seconds):
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def _cell(x: Any) -> str:
    """A value safe inside a markdown table cell."""
    return str(x).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _first(d: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for k in keys:
        if d.get(k) is not None:
            return d[k]
    return default


def _jsonable(obj: Any) -> Any:
    """JSON-ready copy: NumPy to Python, NaN/inf to None, paths to strings."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(float(obj)) else None
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, Path):
        return str(obj)
    if is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(asdict(obj))
    return str(obj)


