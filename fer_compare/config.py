"""parameters.json: the thesis's keys with their meaning, our additions, defaults, validation and overrides."""

from __future__ import annotations

import copy
import difflib
import json
import math
import os
from pathlib import Path
from typing import Any

from .errors import UserError
from .kinds import NETWORKS as MODEL_NAMES  # the networks `models` may name
from .kinds import kind as kind_of

# Each entry: default value and a one-line help. The thesis's keys come first, unchanged in meaning.
_MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "cnn": {
        "batch_size": 32, "max_epochs": 100, "learning_rate": None, "dropout": [0.0, 0.5],
        "l2": 1e-3, "filters": [32, 64, 128], "kernel_size": 3, "hidden": [128, 256],
        "batch_norm_momentum": 0.9, "emotions": None, "standardize": True, "jit_compile": False,
        "augment": True,
    },
    "landmark_fnn": {
        "batch_size": 32, "max_epochs": 200, "learning_rate": 1e-3, "dropout": 0.5,
        "l2": 1e-3, "subnet": [42, 256, 256], "hidden": [1024, 1024], "emotions": None,
        "standardize": True, "jit_compile": False, "augment": True,
    },
    "gradient_fnn": {
        "batch_size": 32, "max_epochs": 60, "learning_rate": None, "dropout": 0.0,
        "l2": 0.0, "hidden": [12000, 4900],
        "emotions": ["neutral", "happy", "sad", "angry", "disgusted", "surprised"],
        "source": "gradients", "standardize": False, "jit_compile": False, "layerwise_updates": True,
        "row_blocks": 24, "augment": False,
    },
}

DEFAULTS: dict[str, Any] = {
    # --- the thesis's keys ---
    "train_source": "",
    "test_source": "",
    "raw_source": "data/demo-synthetic",
    "formatted": "data/formatted",
    "gradients": "data/gradients",
    "blurred": "data/blurred",
    "aligned": "data/aligned",
    "model_to_load": "",
    "model_to_save": "models/fer_compare",
    "align_template": "templates/template.png",
    "save": True,
    "export_tflite": True,
    "train": True,
    "train_existing_model": False,
    "format": True,
    "align": True,
    "gradient": True,
    "blur": False,
    "test": True,
    "video": False,
    "image": {"size": [100, 100]},
    "nn": {"input": [70, 70], **copy.deepcopy(_MODEL_DEFAULTS)},
    "learning_rate": 1e-4,
    # --- our additions ---
    "recipe": "generalising",
    "subject_normalization": "none",
    "demo_set": True,
    "overwrite": False,
    "dataset": {"layout": "auto", "subject_pattern": "^([^_.]+)", "emotions": None},
    "detection": {"scale_factor": 1.15, "min_neighbors": 5, "min_size": [0.25, 0.25],
                  "detect_width": 640},
    "landmark_model": "",
    "gradient_options": {"ksize": 5, "negative": "clip"},
    "blur_options": {"source": "gradients", "ksize": 5, "sigma": 0.0},
    "workers": 2,
    "models": ["cnn", "landmark_fnn", "gradient_fnn"],
    "split": {"method": "subject", "validation_fraction": 0.2, "test_fraction": 0.2, "seed": 0},
    "stopping": {"check_every": 4, "min_increase": 0.03, "min_epochs": 0},
    "checkpoint_seconds": 60,
    "evaluation": {"folds": 1, "repeats": 1, "winner_rule": "mean_accuracy", "keep_fold_checkpoints": False,
                   "floors": True,
                   "floor": {"l2": [10.0, 1.0, 0.1, 0.01, 0.001, 0.0001, 0.00001], "max_steps": 2000,
                             "learning_rate": 0.01}},
    "augment": {"enabled": False, "shift": 4, "flip": True},
    "loss": "cross_entropy",
    "seed": 0,
    "runs_dir": "runs",
    "run_name": "",
    "distribute": "default",
    "mixed_precision": False,
    "video_source": 0,
    "video_model": "",
    "video_output": "",
    "video_predictions": "",
    "video_smoothing": 0.6,
    "video_detect_width": 320,
    "video_redetect_every": 10,
    "video_max_frames": 0,
    "video_baseline_warmup": 30,
    "video_precision": "float32",
}

# recipe "thesis": the thesis's training settings (with its code defects fixed, SPEC §2), over DEFAULTS.
THESIS_RECIPE: dict[str, Any] = {
    "learning_rate": 1e-4,
    "nn": {
        "cnn": {"learning_rate": None, "dropout": 0.5, "standardize": False, "max_epochs": 60, "l2": 1e-4,
                "augment": False},
        "landmark_fnn": {"learning_rate": None, "standardize": False, "max_epochs": 200, "l2": 0.0, "augment": False},
        "gradient_fnn": {"learning_rate": None, "standardize": False, "max_epochs": 60, "l2": 0.0, "dropout": 0.0,
                         "augment": False},
    },
    "stopping": {"check_every": 4, "min_increase": 0.03, "min_epochs": 0},
    "augment": {"enabled": False},
}


def recipe_defaults(recipe: Any) -> dict[str, Any]:
    """DEFAULTS for a recipe name (an unknown name is left for validation to name)."""
    base = copy.deepcopy(DEFAULTS)
    if recipe == "thesis":
        _deep_update(base, copy.deepcopy(THESIS_RECIPE))
        base["recipe"] = "thesis"
    return base


HELP: dict[str, str] = {
    "recipe": "generalising (our training defaults, chosen on validation subjects; docs/THESIS_NOTES.md) or "
              "thesis (the thesis's exact settings)",
    "subject_normalization": "none (the thesis), neutral (subtract the mean input of the person's other neutral "
                             "photos) or mean (subtract the mean input of all the person's photos)",
    "evaluation.repeats": "repeat the K-fold comparison with this many fold assignments (split.seed + r)",
    "evaluation.floors": "also train a linear softmax regression on each network's own input (its floor)",
    "evaluation.floor.l2": "the floors' L2 strengths, the one with the lowest validation loss is kept",
    "evaluation.floor.max_steps": "full-batch Adam steps per L2 strength at most (stops earlier once converged)",
    "video_baseline_warmup": "frames a live face is watched before predictions start, when the model was trained "
                             "with subject_normalization",
    "nn.cnn.standardize": "subtract the training photos' mean image and divide by their std (stored in the model)",
    "nn.gradient_fnn.standardize": "standardise each input pixel with the training photos' mean and std",
    "nn.cnn.augment": "train on shifted and mirrored copies (augment.shift, augment.flip); also when augment.enabled",
    "nn.landmark_fnn.augment": "train on mirrored landmark features too (augment.flip); also when augment.enabled",
    "nn.gradient_fnn.augment": "train on shifted and mirrored copies (augment.shift, augment.flip); also when "
                               "augment.enabled",
    "train_source": "raw photos for training (with test_source: the thesis's fixed train/validation sets)",
    "test_source": "raw photos for testing; when empty the split below holds out subjects",
    "raw_source": "folder of raw photos the format stage reads (ignored when train/test sources are set)",
    "formatted": "output of format: grayscale face crops of image.size",
    "gradients": "output of gradient: masked Laplacian images",
    "blurred": "output of blur: Gaussian-blurred images",
    "aligned": "output of align: faces aligned to the template, with landmarks and features",
    "model_to_load": "a trained model (run folder, model folder or checkpoint) for test/video/resume",
    "model_to_save": "where train exports SavedModels (one sub-folder per model)",
    "align_template": "the face every photo is aligned to",
    "save": "export trained models to model_to_save",
    "export_tflite": "with save: also write model.tflite (TensorFlow Lite, float32) into each exported model's folder",
    "train": "stage: train the models in `models`",
    "train_existing_model": "resume training from model_to_load or the last checkpoint",
    "format": "stage: detect, crop and resize faces",
    "align": "stage: align faces to the template, store landmarks and features",
    "gradient": "stage: Laplacian + face mask",
    "blur": "stage: Gaussian blur (blur_options)",
    "test": "stage: evaluate and compare the three approaches",
    "video": "stage: live inference on a camera, video file or image folder",
    "image.size": "[width, height] of face crops",
    "nn.input": "[width, height] of network image inputs",
    "learning_rate": "Adam learning rate for every model unless nn.<model>.learning_rate is set",
    "demo_set": "build the synthetic demo set into raw_source when that folder does not exist",
    "overwrite": "allow replacing an existing model_to_save",
    "dataset.layout": "auto, rafd, ckplus, jaffe, fer2013, folders",
    "dataset.subject_pattern": "regex on a file name whose group 1 is the subject id (class folders)",
    "dataset.emotions": "keep only these emotions (null: all found)",
    "detection.min_size": "smallest face, as fractions of the shorter photo side (<1) or pixels",
    "detection.detect_width": "photos wider than this are downscaled for Haar detection",
    "landmark_model": "path of shape_predictor_68_face_landmarks.dat (empty: from face_recognition_models)",
    "gradient_options.negative": "Laplacian's negative half: abs (keep as magnitude) or clip (thesis: drop)",
    "workers": "processes for preprocessing",
    "models": "which of cnn, landmark_fnn, gradient_fnn the train and test stages run",
    "nn.gradient_fnn.layerwise_updates": "update each layer (or row block) as soon as its gradient exists "
                                         "(less memory)",
    "nn.gradient_fnn.row_blocks": "store each hidden weight matrix as this many blocks of rows, updated one at "
                                  "a time (with layerwise_updates: less memory, faster); 1: whole matrices",
    "nn.cnn.dropout": "one rate, or [after flatten, after batch norm]; see docs/THESIS_NOTES.md",
    "nn.cnn.filters": "one conv (nn.cnn.kernel_size) + ReLU + max-pool layer per entry, this many filters each",
    "nn.cnn.hidden": "[FC 1 (before batch norm), FC 2]",
    "nn.landmark_fnn.subnet": "each of the four subnets' layer sizes after its 42 inputs",
    "nn.landmark_fnn.hidden": "[connected 1, connected 2] after the summed subnets",
    "nn.gradient_fnn.hidden": "hidden layer sizes ([]: softmax regression on the masked Laplacian)",
    "split.method": "subject (no subject on both sides) or random (thesis reproduction)",
    "checkpoint_seconds": "save the whole training state (weights, Adam, epoch) once this many seconds passed since "
                          "the last save, and after the last epoch and on Ctrl-C (0: after every epoch); the best "
                          "validation weights are saved whenever they improve",
    "evaluation.folds": "subject-disjoint K-fold cross-validation in the test stage (1: off)",
    "evaluation.keep_fold_checkpoints": "keep each fold's checkpoints (gradient_fnn: ~2 GB a fold); "
                                        "summaries are always kept",
    "loss": "cross_entropy or svm_l2 (L2 multi-class SVM)",
    "distribute": "default, mirrored (tf.distribute.MirroredStrategy: this machine's devices) or multi_worker "
                  "(MultiWorkerMirroredStrategy over the machines in the TF_CONFIG environment variable)",
    "jit_compile": "compile the steps with XLA (off by default: slower for the CNN, no gain for landmark_fnn, "
                   "and for gradient_fnn it holds whole gradients; see BENCHMARKS.md)",
    "video_source": "camera index, video file or folder of images",
    "video_model": "which model the video stage runs (empty: the one export in model_to_load, else the last "
                   "comparison's winner)",
    "video_output": "annotated video file (empty: a window if there is a display, else <run>/video.mp4)",
    "video_predictions": "CSV of one row per face per frame (empty: <run>/video_predictions.csv)",
    "video_smoothing": "exponential moving average of each face's probabilities across frames (0: off)",
    "video_detect_width": "frames are downscaled to this width for Haar detection",
    "video_redetect_every": "Haar on the whole frame every this many frames (new faces show up within as many); "
                            "in between, each face is searched only near where it was (1: whole frame always)",
    "video_max_frames": "stop after this many frames (0: until the source ends)",
    "video_precision": "float32, or int8: the gradient FNN's one-face forward pass in the video stage reads int8 "
                       "weight rows with a float scale per row (a quarter of the bytes; probabilities differ "
                       "slightly, see BENCHMARKS.md); the test stage is always float32",
}


_NULLABLE = {"learning_rate", "emotions"}
_CHOICES = {
    "recipe": {"generalising", "thesis"},
    "subject_normalization": {"none", "neutral", "mean"},
    "dataset.layout": {"auto", "rafd", "ckplus", "jaffe", "fer2013", "folders"},
    "gradient_options.negative": {"abs", "clip"},
    "split.method": {"subject", "random"},
    "loss": {"cross_entropy", "svm_l2"},
    "distribute": {"default", "mirrored", "multi_worker"},
    "evaluation.winner_rule": {"mean_accuracy", "mean_macro_f1"},
    "nn.gradient_fnn.source": {"gradients", "blurred"},
    "blur_options.source": {"gradients", "aligned", "formatted"},
    "video_model": {"", "cnn", "landmark_fnn", "gradient_fnn"},
    "video_precision": {"float32", "int8"},
}


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, path + "."))
        else:
            out[path] = v
    return out


def describe_keys() -> str:
    """Every key, its default and its meaning, for --help."""
    lines = []
    for path, default in _flatten(DEFAULTS).items():
        short = path.split(".")[-1]
        text = HELP.get(path) or HELP.get(short, "")
        lines.append(f"  {path} = {json.dumps(default)}" + (f"  -- {text}" if text else ""))
    return "\n".join(lines)


def _check(value: Any, default: Any, path: str) -> Any:
    leaf = path.split(".")[-1]
    _check_finite(value, path)
    # null where the default is null; and for a model's emotions (every emotion found). Not for the
    # top-level learning_rate, whose null would reach the optimizer.
    if value is None and (default is None or (leaf in _NULLABLE and path.startswith("nn."))):
        return None
    if default is None and leaf == "learning_rate":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise UserError(f"{path}: expected a positive number or null, got {json.dumps(value)}")
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
        if path in _CHOICES and value not in _CHOICES[path]:
            raise UserError(f"{path}: {value!r} is not one of {sorted(_CHOICES[path])}")
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


def _deep_update(d: dict[str, Any], u: dict[str, Any]) -> None:
    for k, v in u.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict):
            _deep_update(d[k], v)
        else:
            d[k] = v


def load_config(path: str | Path | None, overrides: list[str] = ()) -> dict[str, Any]:
    """Read parameters.json, apply --set overrides, validate against the defaults."""
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
        _deep_update(user, _nest(keys, value))
    config = _merge(recipe_defaults(user.get("recipe")), user)
    _validate(config)
    return config


# Ranges of numeric settings beyond what _validate below says in words: (least, most), inclusive.
# The upper bounds are what a run can use; a larger value is a typo that would fail deep inside
# OpenCV or TensorFlow (or allocate until the machine gives up).
_INT_MAX = 2**31 - 1
_RANGES: dict[str, tuple[float, float]] = {
    "image.size": (8, 4096), "nn.input": (1, 1_000_000), "detection.scale_factor": (1.0001, 10),
    "detection.min_neighbors": (0, 1000), "detection.detect_width": (0, 100_000), "detection.min_size": (0, 100_000),
    "blur_options.ksize": (1, 255), "blur_options.sigma": (0, 1000), "workers": (1, 64),
    "split.seed": (0, _INT_MAX), "seed": (0, _INT_MAX), "stopping.check_every": (1, 1_000_000),
    "stopping.min_epochs": (0, 1_000_000_000), "stopping.min_increase": (0, 1e30), "checkpoint_seconds": (0, 1e9),
    "evaluation.folds": (1, 1000), "augment.shift": (0, 1000), "video_detect_width": (0, 100_000),
    "video_redetect_every": (1, 1_000_000), "video_max_frames": (0, 2**62), "video_source": (-10_000, 10_000),
    "learning_rate": (1e-30, 1e9), "nn.gradient_fnn.row_blocks": (1, 1_000_000),
    "*.batch_size": (1, 1_000_000), "*.max_epochs": (1, 1_000_000_000), "*.learning_rate": (1e-30, 1e9),
    "*.l2": (0, 1e9), "*.filters": (1, 65_536), "*.hidden": (1, 1_000_000), "*.subnet": (1, 1_000_000),
    "*.kernel_size": (1, 4096),
}


def _validate_ranges(config: dict[str, Any]) -> None:
    """Every numeric setting (and every number in a list setting) within its range; other integers within int32."""
    for path, value in _flatten(config).items():
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
    weights, activations = size(m, tuple(config["nn"]["input"]), 8, m["batch_size"])
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


PATH_KEYS = ("raw_source", "train_source", "test_source", "align_template", "formatted", "aligned", "gradients",
             "blurred", "model_to_load", "model_to_save", "landmark_model", "runs_dir",
             "video_output", "video_predictions", "video_source", "run_name")


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


def _validate(config: dict[str, Any]) -> None:
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


def augments(config: dict[str, Any], kind: str) -> bool:
    """Whether `kind` trains on augmented copies: its own `augment` key, or `augment.enabled` for all."""
    return bool(kind_of(kind).augmentable and (config["augment"]["enabled"]
                                               or config["nn"].get(kind, {}).get("augment", False)))


def model_config(config: dict[str, Any], name: str) -> dict[str, Any]:
    """One model's hyperparameters with the shared defaults filled in."""
    m = dict(config["nn"][name])
    if m["learning_rate"] is None:
        m["learning_rate"] = config["learning_rate"]
    m["input"] = list(config["nn"]["input"])
    return m


def input_settings(config: dict[str, Any], kind: str) -> dict[str, Any]:
    """The preprocessing settings, beyond the input's shape, that a model's inputs were made with.

    A model only fits inputs made the same way: a gradient FNN trained on 3x3 Laplacians sees
    other numbers in 5x5 ones of the same size. Recorded in model.json; checked by the video stage
    and by the test stage when it loads `model_to_load`.
    """
    settings: dict[str, Any] = {"image.size": list(config["image"]["size"])}
    if config["subject_normalization"] != "none":
        settings["subject_normalization"] = config["subject_normalization"]
    source = kind_of(kind).source(config)
    if source in ("gradients", "blurred"):
        settings["gradient_options"] = dict(config["gradient_options"])
        if source == "blurred":
            settings["blur_options"] = dict(config["blur_options"])
    return settings


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


def save_config(config: dict[str, Any], folder: Path, name: str = "config.json") -> Path:
    """Save the resolved config beside the outputs it produced."""
    from .files import atomic_write_text

    out = folder / name
    atomic_write_text(out, json.dumps(config, indent=2) + "\n")
    return out


def default_parameters_json() -> str:
    """DEFAULTS as the repository's parameters.json (lists of scalars kept on one line)."""
    import re

    text = json.dumps(DEFAULTS, indent=2)
    return re.sub(r"\[\s*([^\[\]{}]*?)\s*\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]" if m.group(1).strip()
                  else "[]", text) + "\n"
