"""Checks of a loaded config beyond each value's type: ranges, finiteness, sizes the machine can hold,
paths the file system can name, and settings that only make sense together."""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..kinds import NETWORKS as MODEL_NAMES  # the networks `models` may name
from ..kinds import kind as kind_of
from .recipes import flatten
from .schema import PATH_KEYS, NetworkSettings, from_dict

# Ranges of numeric settings beyond what validate below says in words: (least, most), inclusive.
# The upper bounds are what a run can use; a larger value is a typo that would fail deep inside
# OpenCV or TensorFlow (or allocate until the machine gives up).
_INT_MAX = 2**31 - 1
_RANGES: dict[str, tuple[float, float]] = {
    "image.size": (8, 4096), "nn.input": (1, 1_000_000), "detection.scale_factor": (1.0001, 10),
    "detection.min_neighbors": (0, 1000), "detection.detect_width": (0, 100_000), "detection.min_size": (0, 100_000),
    "blur_options.ksize": (1, 255), "blur_options.sigma": (0, 1000), "workers": (1, 64),
    "split.seed": (0, _INT_MAX), "seed": (0, _INT_MAX), "stopping.check_every": (1, 1_000_000),
    "stopping.min_epochs": (0, 1_000_000_000), "stopping.min_increase": (0, 1e30), "checkpoint_seconds": (0, 1e9),
    "evaluation.folds": (1, 1000), "augment.shift": (0, 1000), "augment.rotate": (0, 180), "augment.zoom": (0, 0.9),
    "video_detect_width": (0, 100_000),
    "video_redetect_every": (1, 1_000_000), "video_max_frames": (0, 2**62), "video_source": (-10_000, 10_000),
    "learning_rate": (1e-30, 1e9), "nn.gradient_fnn.row_blocks": (1, 1_000_000),
    "*.batch_size": (1, 1_000_000), "*.max_epochs": (1, 1_000_000_000), "*.learning_rate": (1e-30, 1e9),
    "*.l2": (0, 1e9), "*.min_increase": (0, 1e30), "*.average_epochs": (0, 1e9), "*.filters": (1, 65_536),
    "*.hidden": (1, 1_000_000), "*.subnet": (1, 1_000_000), "*.kernel_size": (1, 4096),
}


def _validate_ranges(config: dict[str, Any]) -> None:
    """Every numeric setting (and every number in a list setting) within its range; other integers within int32."""
    for path, value in flatten(config).items():
        key = path if path in _RANGES else "*." + path.split(".")[-1]
        bounds = _RANGES.get(key) if key in _RANGES else None
        values = value if isinstance(value, list) else [value]
        for x in values:
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                continue
            least, most = bounds if bounds else (-_INT_MAX, _INT_MAX)
            if not least <= x <= most:
                raise UserError(f"{path}: {json.dumps(value)} is out of range (expected {_number(least)} to "
                                f"{_number(most)})")


def _number(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else f"{x:,}"


def memory_bytes() -> int:
    """Physical memory of this machine (what a model's weights, Adam's slots and activations must fit in)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 16 * 2**30


def training_bytes(config: dict[str, Any], kind: str) -> tuple[int, int]:
    """(weights, bytes to train) of a model as configured, estimated before anything is built.

    Bytes: float32 weights, their gradients and Adam's two slots (16 bytes a weight), plus one
    batch's largest activations (forward and backward, x3).
    """
    m = config["nn"][kind]
    size = kind_of(kind).size
    assert size is not None, f"{kind} has no size estimate"
    hyper = from_dict(type(NetworkSettings().of(kind)), m)
    weights, activations = size(hyper, tuple(config["nn"]["input"]), 8, hyper.batch_size)
    return weights, 16 * weights + 3 * 4 * activations


def _validate_sizes(config: dict[str, Any]) -> None:
    """Refuse, before anything is built, a model that cannot fit in this machine's memory."""
    available = memory_bytes()
    for kind in config["models"]:
        weights, need = training_bytes(config, kind)
        if need > available:
            m = config["nn"][kind]
            keys = [f"nn.input {json.dumps(config['nn']['input'])}"]
            for leaf in ("filters", "subnet", "hidden"):
                if leaf in m:
                    keys.append(f"nn.{kind}.{leaf} {json.dumps(m[leaf])}")
            keys.append(f"nn.{kind}.batch_size {m['batch_size']}")
            raise UserError(f"{', '.join(keys)}: {kind} would have {weights:,} weights and need about "
                            f"{need / 2**30:,.1f} GiB to train; this machine has {available / 2**30:.1f} GiB")


def _validate_paths(config: dict[str, Any]) -> None:
    """Strings the tool will open or create: no NUL, parts the file system can name (else OSError later)."""
    for key in PATH_KEYS:
        value = config[key]
        if not isinstance(value, str):
            continue
        if "\0" in value:
            raise UserError(f"{key}: a path cannot contain a NUL character, got {json.dumps(value)}")
        longest = max((len(part.encode("utf-8", "surrogatepass")) for part in Path(value).parts), default=0)
        if longest > 255 or len(value.encode("utf-8", "surrogatepass")) > 4000:
            raise UserError(f"{key}: path too long for the file system ({len(value)} characters, "
                            f"longest part {longest} bytes; at most 255 a part)")


def validate(config: dict[str, Any]) -> None:
    _validate_paths(config)
    for name in config["models"]:
        if name not in MODEL_NAMES:
            close = difflib.get_close_matches(name, MODEL_NAMES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UserError(f"models: unknown model {name!r}{hint}")
    if not config["models"]:
        raise UserError("models: name at least one of " + ", ".join(MODEL_NAMES))
    for name in config["models"]:
        if config["models"].count(name) > 1:
            raise UserError(f"models: {name!r} is listed twice")
    split = config["split"]
    for key in ("validation_fraction", "test_fraction"):
        if not 0 <= split[key] < 1:
            raise UserError(f"split.{key}: expected a fraction in [0, 1), got {split[key]}")
    if config["evaluation"]["folds"] < 1:
        raise UserError("evaluation.folds: expected 1 (off) or more")
    evaluation = config["evaluation"]
    if evaluation["repeats"] < 1:
        raise UserError(f"evaluation.repeats: expected 1 or more, got {evaluation['repeats']}")
    floor = evaluation["floor"]
    if not floor["l2"] or floor["max_steps"] < 50 or not floor["learning_rate"] > 0:
        raise UserError("evaluation.floor: l2 needs one strength or more, max_steps 50 or more, learning_rate > 0")
    if config["video_baseline_warmup"] < 1:
        raise UserError(f"video_baseline_warmup: expected 1 or more frames, got {config['video_baseline_warmup']}")
    if config["workers"] < 1:
        raise UserError("workers: expected 1 or more")
    for name in MODEL_NAMES:
        m = config["nn"][name]
        if m["batch_size"] < 1 or m["max_epochs"] < 1:
            raise UserError(f"nn.{name}: batch_size and max_epochs must be positive")
        rates = m["dropout"] if isinstance(m["dropout"], list) else [m["dropout"]]
        if not all(isinstance(r, (int, float)) and 0 <= r < 1 for r in rates):
            raise UserError(f"nn.{name}.dropout: expected a rate in [0, 1), got {m['dropout']}")
    _validate_architectures(config["nn"])
    if config["nn"]["gradient_fnn"]["row_blocks"] < 1:
        raise UserError("nn.gradient_fnn.row_blocks: expected 1 or more")
    if config["gradient_options"]["ksize"] not in (1, 3, 5, 7):
        raise UserError("gradient_options.ksize: expected 1, 3, 5 or 7")
    if config["blur_options"]["ksize"] % 2 != 1:
        raise UserError("blur_options.ksize: expected an odd number")
    if bool(config["train_source"]) != bool(config["test_source"]):
        raise UserError("train_source and test_source go together: set both or neither")
    if not 0 <= config["video_smoothing"] < 1:
        raise UserError(f"video_smoothing: expected a factor in [0, 1) (0: off), got {config['video_smoothing']}")
    if config["video_detect_width"] < 0 or config["video_max_frames"] < 0:
        raise UserError("video_detect_width and video_max_frames: expected 0 (off) or more")
    if config["video_redetect_every"] < 1:
        raise UserError(f"video_redetect_every: expected 1 (every frame) or more, got {config['video_redetect_every']}")
    if config["learning_rate"] <= 0:
        raise UserError("learning_rate: expected a positive number")
    if min(config["image"]["size"]) < 8:  # smaller crops are refused when read back (files.read_gray)
        raise UserError(f"image.size: expected at least 8 x 8 pixels, got {json.dumps(config['image']['size'])}")
    stopping = config["stopping"]
    if stopping["check_every"] < 1 or stopping["min_epochs"] < 0 or stopping["min_increase"] < 0:
        raise UserError("stopping: check_every must be 1 or more, min_epochs and min_increase 0 or more")
    if config["checkpoint_seconds"] < 0:
        raise UserError(f"checkpoint_seconds: expected 0 (every epoch) or more, got {config['checkpoint_seconds']}")
    for key, value in (("seed", config["seed"]), ("split.seed", config["split"]["seed"])):
        if value < 0:
            raise UserError(f"{key}: expected 0 or a positive whole number, got {value}")
    if config["augment"]["shift"] < 0:
        raise UserError(f"augment.shift: expected 0 or more pixels, got {config['augment']['shift']}")
    detection = config["detection"]
    if detection["scale_factor"] <= 1 or detection["min_neighbors"] < 0 or detection["detect_width"] < 0:
        raise UserError("detection: scale_factor must be above 1, min_neighbors and detect_width 0 or more")
    name = config["run_name"]
    if name in (".", "..") or "/" in name or "\\" in name:
        raise UserError(f"run_name: expected a plain name without a path separator, got {name!r}")
    # Caught here, not when the align stage or the video stage first needs the file.
    landmark_model = config["landmark_model"]
    if landmark_model and not Path(landmark_model).is_file():
        problem = "is not a file" if Path(landmark_model).exists() else "does not exist"
        raise UserError(f"landmark_model: {landmark_model} {problem}")
    _validate_ranges(config)  # after the checks above, whose messages say more
    _validate_sizes(config)
    kernel, smallest = config["nn"]["cnn"]["kernel_size"], min(config["nn"]["input"])
    if "cnn" in config["models"] and kernel > smallest:
        raise UserError(f"nn.cnn.kernel_size: {kernel} is larger than the network input ({smallest} pixels)")


def _validate_architectures(nn: dict[str, Any]) -> None:
    """Layer sizes the three models can be built with; a wrong one would fail deep inside TensorFlow."""
    # key: (fewest, most (None: any), what is expected)
    layers = {
        "cnn.filters": (1, None, "one or more conv layer widths"),
        "cnn.hidden": (2, 2, "two sizes: FC 1 (before batch norm) and FC 2"),
        "landmark_fnn.subnet": (1, None, "one or more subnet layer sizes"),
        "landmark_fnn.hidden": (2, 2, "two sizes: connected 1 and connected 2"),
        "gradient_fnn.hidden": (0, None, "hidden layer sizes"),
    }
    for key, (fewest, most, expected) in layers.items():
        model, leaf = key.split(".")
        sizes = nn[model][leaf]
        if not fewest <= len(sizes) <= (most or len(sizes)) or not all(isinstance(n, int) and n >= 1 for n in sizes):
            raise UserError(f"nn.{key}: expected {expected}, as whole numbers, got {json.dumps(sizes)}")
    if nn["cnn"]["kernel_size"] < 1:
        raise UserError(f"nn.cnn.kernel_size: expected 1 or more, got {nn['cnn']['kernel_size']}")
    momentum = nn["cnn"]["batch_norm_momentum"]
    if not 0 <= momentum < 1:
        raise UserError(f"nn.cnn.batch_norm_momentum: expected a factor in [0, 1), got {momentum}")
    for name in MODEL_NAMES:
        if nn[name]["l2"] < 0:
            raise UserError(f"nn.{name}.l2: expected 0 or more, got {nn[name]['l2']}")


