"""Every setting's default value, help line and allowed values: the thesis's keys first, unchanged in
meaning, then our additions; and the thesis's own recipe."""

from __future__ import annotations

import copy
import json
from typing import Any

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
        "batch_size": 32, "max_epochs": 60, "learning_rate": 3e-5, "dropout": 0.0,
        "l2": 0.0, "hidden": [12000, 4900],
        "emotions": ["neutral", "happy", "sad", "angry", "disgusted", "surprised"],
        "source": "gradients", "standardize": False, "jit_compile": False, "layerwise_updates": True,
        "row_blocks": 24, "augment": True,
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
        deep_update(base, copy.deepcopy(THESIS_RECIPE))
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
    "learning_rate": "Adam learning rate for every model whose nn.<model>.learning_rate is null; set in a config "
                     "or --set, it is every model's rate unless nn.<model>.learning_rate is set there too",
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


NULLABLE = {"learning_rate", "emotions"}
CHOICES = {
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


def describe_keys() -> str:
    """Every key, its default and its meaning, for --help."""
    lines = []
    for path, default in flatten(DEFAULTS).items():
        short = path.split(".")[-1]
        text = HELP.get(path) or HELP.get(short, "")
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
