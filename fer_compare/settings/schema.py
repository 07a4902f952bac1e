"""Every setting in one declaration: its JSON key (the field's name), default, help line and allowed values.

A section of parameters.json is one frozen dataclass, each model kind's hyper-parameters another.
The thesis's keys come first, unchanged in meaning, then our additions. `--help`, the key table
and the repository's parameters.json are generated from these classes; the loader
(`settings.loader`) is the only code that reads settings by their string keys.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

_FIELDS_ONLY = "section"


def setting(default: Any, help: str = "", *, choices: tuple[str, ...] = (), nullable: bool = False) -> Any:
    """A field with its default, help line, allowed values (strings) and whether JSON null is allowed."""
    meta = {"help": help, "choices": frozenset(choices), "nullable": nullable}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def section(cls: type, help: str = "") -> Any:
    """A field holding a whole section (a JSON object) of settings."""
    return field(default_factory=cls, metadata={_FIELDS_ONLY: cls, "help": help})


_BATCH = "examples per training step"
_EPOCHS = "epochs at most (the stopping rule may end training earlier)"
_RATE = "this model's Adam learning rate (null: the top-level learning_rate)"
_L2 = "L2 weight decay on the weights"
_MIN_INCREASE = ("this model's stopping threshold: stop when its validation loss rose by more than this since the "
                 "last check (null: stopping.min_increase)")
_AVERAGE = ("evaluate and keep a moving average of the weights over about this many epochs (Polyak averaging; "
            "0: the last step's weights, as the thesis)")
_EMOTIONS = "train on these emotions only (null: every emotion found)"
_JIT = ("compile the steps with XLA (off by default: slower for the CNN, no gain for landmark_fnn, and for "
        "gradient_fnn it holds whole gradients; see BENCHMARKS.md)")
_IMAGE_AUGMENT = "train on shifted and mirrored copies (augment.shift, augment.flip); also when augment.enabled"


@dataclass(frozen=True)
class CnnHyper:
    """The CNN's hyper-parameters (`nn.cnn`)."""

    batch_size: int = setting(32, _BATCH)
    max_epochs: int = setting(200, _EPOCHS)
    learning_rate: float | None = setting(None, _RATE, nullable=True)
    dropout: float | list[float] = setting([0.0, 0.5], "one rate, or [after flatten, after batch norm]; see "
                                                       "docs/THESIS_NOTES.md")
    l2: float = setting(1e-2, _L2)
    min_increase: float | None = setting(0.1, _MIN_INCREASE, nullable=True)
    average_epochs: float = setting(5.0, _AVERAGE)
    filters: list[int] = setting([32, 64, 128], "one conv (nn.cnn.kernel_size) + ReLU + max-pool layer per entry, "
                                                "this many filters each")
    kernel_size: int = setting(3, "side of every convolution kernel")
    hidden: list[int] = setting([128, 256], "[FC 1 (before batch norm), FC 2]")
    batch_norm_momentum: float = setting(0.9, "momentum of the batch norm's moving mean and variance")
    emotions: list[str] | None = setting(None, _EMOTIONS, nullable=True)
    standardize: bool = setting(True, "subtract the training photos' mean image and divide by their std (stored "
                                      "in the model)")
    jit_compile: bool = setting(False, _JIT)
    augment: bool = setting(True, _IMAGE_AUGMENT)


@dataclass(frozen=True)
class LandmarkFnnHyper:
    """The landmark FNN's hyper-parameters (`nn.landmark_fnn`)."""

    batch_size: int = setting(32, _BATCH)
    max_epochs: int = setting(200, _EPOCHS)
    learning_rate: float | None = setting(1e-3, _RATE, nullable=True)
    dropout: float | list[float] = setting(0.7, "dropout rate after each hidden layer")
    l2: float = setting(3e-2, _L2)
    min_increase: float | None = setting(0.1, _MIN_INCREASE, nullable=True)
    average_epochs: float = setting(0.0, _AVERAGE)
    subnet: list[int] = setting([42, 256, 256], "each of the four subnets' layer sizes after its 42 inputs")
    hidden: list[int] = setting([1024, 1024], "[connected 1, connected 2] after the summed subnets")
    emotions: list[str] | None = setting(None, _EMOTIONS, nullable=True)
    standardize: bool = setting(True, "standardise each feature with the training photos' mean and std")
    jit_compile: bool = setting(False, _JIT)
    augment: bool = setting(True, "train on mirrored landmark features too (augment.flip); also when "
                                  "augment.enabled")


@dataclass(frozen=True)
class GradientFnnHyper:
    """The gradient FNN's hyper-parameters (`nn.gradient_fnn`)."""

    batch_size: int = setting(32, _BATCH)
    max_epochs: int = setting(60, _EPOCHS)
    learning_rate: float | None = setting(3e-5, _RATE, nullable=True)
    dropout: float | list[float] = setting(0.0, "dropout rate after each hidden layer")
    l2: float = setting(0.0, _L2)
    min_increase: float | None = setting(None, _MIN_INCREASE, nullable=True)
    average_epochs: float = setting(0.0, _AVERAGE)
    hidden: list[int] = setting([12000, 4900], "hidden layer sizes ([]: softmax regression on the masked "
                                               "Laplacian)")
    emotions: list[str] | None = setting(["neutral", "happy", "sad", "angry", "disgusted", "surprised"], _EMOTIONS,
                                         nullable=True)
    source: str = setting("gradients", "the stage folder it reads", choices=("gradients", "blurred"))
    standardize: bool = setting(False, "standardise each input pixel with the training photos' mean and std")
    jit_compile: bool = setting(False, _JIT)
    layerwise_updates: bool = setting(True, "update each layer (or row block) as soon as its gradient exists "
                                            "(less memory)")
    row_blocks: int = setting(24, "store each hidden weight matrix as this many blocks of rows, updated one at a "
                                  "time (with layerwise_updates: less memory, faster); 1: whole matrices")
    augment: bool = setting(True, _IMAGE_AUGMENT)


ModelHyper = CnnHyper | LandmarkFnnHyper | GradientFnnHyper


@dataclass(frozen=True)
class ImageSettings:
    size: list[int] = setting([100, 100], "[width, height] of face crops")


@dataclass(frozen=True)
class NetworkSettings:
    input: list[int] = setting([70, 70], "[width, height] of network image inputs")
    cnn: CnnHyper = section(CnnHyper)
    landmark_fnn: LandmarkFnnHyper = section(LandmarkFnnHyper)
    gradient_fnn: GradientFnnHyper = section(GradientFnnHyper)

    def of(self, kind: str) -> ModelHyper:
        """The hyper-parameters of network `kind` (KeyError for a name that is not a network)."""
        return {"cnn": self.cnn, "landmark_fnn": self.landmark_fnn, "gradient_fnn": self.gradient_fnn}[kind]


@dataclass(frozen=True)
class DatasetSettings:
    layout: str = setting("auto", "auto, rafd, ckplus, jaffe, fer2013, folders",
                          choices=("auto", "rafd", "ckplus", "jaffe", "fer2013", "folders"))
    subject_pattern: str = setting("^([^_.]+)", "regex on a file name whose group 1 is the subject id (class "
                                                "folders)")
    emotions: list[str] | None = setting(None, "keep only these emotions (null: all found)", nullable=True)


@dataclass(frozen=True)
class DetectionSettings:
    scale_factor: float = setting(1.15, "Haar cascade: how much the window grows between scales")
    min_neighbors: int = setting(5, "Haar cascade: overlapping detections a face needs")
    min_size: list[float] = setting([0.25, 0.25], "smallest face, as fractions of the shorter photo side (<1) or "
                                                  "pixels")
    detect_width: int = setting(640, "photos wider than this are downscaled for Haar detection")


@dataclass(frozen=True)
class GradientOptions:
    ksize: int = setting(5, "Laplacian aperture: 1, 3, 5 or 7")
    negative: str = setting("clip", "Laplacian's negative half: abs (keep as magnitude) or clip (thesis: drop)",
                            choices=("abs", "clip"))


@dataclass(frozen=True)
class BlurOptions:
    source: str = setting("gradients", "the stage folder the blur stage reads",
                          choices=("gradients", "aligned", "formatted"))
    ksize: int = setting(5, "Gaussian kernel side (odd)")
    sigma: float = setting(0.0, "Gaussian sigma (0: from ksize)")


@dataclass(frozen=True)
class SplitSettings:
    method: str = setting("subject", "subject (no subject on both sides) or random (thesis reproduction)",
                          choices=("subject", "random"))
    validation_fraction: float = setting(0.2, "share of the training side's subjects held out for validation")
    test_fraction: float = setting(0.2, "share of subjects held out for testing (single split)")
    seed: int = setting(0, "seed of the subject split and the fold assignment")


@dataclass(frozen=True)
class StoppingSettings:
    check_every: int = setting(4, "epochs between checks of the thesis's validation-loss rule")
    min_increase: float = setting(0.03, "stop when the validation loss rose by more than this since the last check")
    min_epochs: int = setting(0, "never stop before this many epochs")


@dataclass(frozen=True)
class FloorSettings:
    l2: list[float] = setting([10.0, 1.0, 0.1, 0.01, 0.001, 0.0001, 0.00001],
                              "the floors' L2 strengths, the one with the lowest validation loss is kept")
    max_steps: int = setting(2000, "full-batch Adam steps per L2 strength at most (stops earlier once converged)")
    learning_rate: float = setting(0.01, "the floors' Adam learning rate")


@dataclass(frozen=True)
class EvaluationSettings:
    folds: int = setting(1, "subject-disjoint K-fold cross-validation in the test stage (1: off)")
    repeats: int = setting(1, "repeat the K-fold comparison with this many fold assignments (split.seed + r)")
    winner_rule: str = setting("mean_accuracy", "what picks the winner", choices=("mean_accuracy", "mean_macro_f1"))
    keep_fold_checkpoints: bool = setting(False, "keep each fold's checkpoints (gradient_fnn: ~2 GB a fold); "
                                                 "summaries are always kept")
    floors: bool = setting(True, "also train a linear softmax regression on each network's own input (its floor)")
    floor: FloorSettings = section(FloorSettings)


@dataclass(frozen=True)
class AugmentSettings:
    enabled: bool = setting(False, "augment every model that can be (each model's own `augment` key also does)")
    shift: int = setting(4, "largest shift in pixels of an augmented image copy")
    rotate: float = setting(0.0, "largest rotation in degrees of an augmented crop (the CNN's unaligned crops)")
    zoom: float = setting(0.0, "largest relative change of size of an augmented crop (0.1: 0.9-1.1 times)")
    flip: bool = setting(True, "mirror augmented copies left to right")


# The keys whose values name a folder or file; `Settings.path` reads them by name.
PATH_KEYS = ("raw_source", "train_source", "test_source", "align_template", "formatted", "aligned", "gradients",
             "blurred", "model_to_load", "model_to_save", "landmark_model", "runs_dir",
             "video_output", "video_predictions", "video_source", "run_name")
STAGE_KEYS = ("format", "align", "gradient", "blur", "train", "test", "video")


@dataclass(frozen=True)
class Settings:
    """A whole parameters.json after loading: the thesis's keys first, then our additions."""

    # --- the thesis's keys ---
    train_source: str = setting("", "raw photos for training (with test_source: the thesis's fixed "
                                    "train/validation sets)")
    test_source: str = setting("", "raw photos for testing; when empty the split below holds out subjects")
    raw_source: str = setting("data/demo-synthetic", "folder of raw photos the format stage reads (ignored when "
                                                     "train/test sources are set)")
    formatted: str = setting("data/formatted", "output of format: grayscale face crops of image.size")
    gradients: str = setting("data/gradients", "output of gradient: masked Laplacian images")
    blurred: str = setting("data/blurred", "output of blur: Gaussian-blurred images")
    aligned: str = setting("data/aligned", "output of align: faces aligned to the template, with landmarks and "
                                           "features")
    model_to_load: str = setting("", "a trained model (run folder, model folder or checkpoint) for "
                                     "test/video/resume")
    model_to_save: str = setting("models/fer_compare", "where train exports SavedModels (one sub-folder per model)")
    align_template: str = setting("templates/template.png", "the face every photo is aligned to")
    save: bool = setting(True, "export trained models to model_to_save")
    export_tflite: bool = setting(True, "with save: also write model.tflite (TensorFlow Lite, float32) into each "
                                        "exported model's folder")
    train: bool = setting(True, "stage: train the models in `models`")
    train_existing_model: bool = setting(False, "resume training from model_to_load or the last checkpoint")
    format: bool = setting(True, "stage: detect, crop and resize faces")
    align: bool = setting(True, "stage: align faces to the template, store landmarks and features")
    gradient: bool = setting(True, "stage: Laplacian + face mask")
    blur: bool = setting(False, "stage: Gaussian blur (blur_options)")
    test: bool = setting(True, "stage: evaluate and compare the three approaches")
    video: bool = setting(False, "stage: live inference on a camera, video file or image folder")
    image: ImageSettings = section(ImageSettings)
    nn: NetworkSettings = section(NetworkSettings)
    learning_rate: float = setting(1e-4, "Adam learning rate for every model whose nn.<model>.learning_rate is "
                                         "null; set in a config or --set, it is every model's rate unless "
                                         "nn.<model>.learning_rate is set there too")
    # --- our additions ---
    recipe: str = setting("generalising", "generalising (our training defaults, chosen on validation subjects; "
                                          "docs/THESIS_NOTES.md) or thesis (the thesis's exact settings)",
                          choices=("generalising", "thesis"))
    subject_normalization: str = setting("none", "none (the thesis), neutral (subtract the mean input of the "
                                                 "person's other neutral photos) or mean (subtract the mean input "
                                                 "of all the person's photos)", choices=("none", "neutral", "mean"))
    demo_set: bool = setting(True, "build the synthetic demo set into raw_source when that folder does not exist")
    overwrite: bool = setting(False, "allow replacing an existing model_to_save")
    dataset: DatasetSettings = section(DatasetSettings)
    detection: DetectionSettings = section(DetectionSettings)
    landmark_model: str = setting("", "path of shape_predictor_68_face_landmarks.dat (empty: from "
                                      "face_recognition_models)")
    gradient_options: GradientOptions = section(GradientOptions)
    blur_options: BlurOptions = section(BlurOptions)
    workers: int = setting(2, "processes for preprocessing")
    models: list[str] = setting(["cnn", "landmark_fnn", "gradient_fnn"], "which of cnn, landmark_fnn, gradient_fnn "
                                                                         "the train and test stages run")
    split: SplitSettings = section(SplitSettings)
    stopping: StoppingSettings = section(StoppingSettings)
    checkpoint_seconds: int = setting(60, "save the whole training state (weights, Adam, epoch) once this many "
                                            "seconds passed since the last save, and after the last epoch and on "
                                            "Ctrl-C (0: after every epoch); the best validation weights are saved "
                                            "whenever they improve")
    evaluation: EvaluationSettings = section(EvaluationSettings)
    augment: AugmentSettings = section(AugmentSettings)
    loss: str = setting("cross_entropy", "cross_entropy or svm_l2 (L2 multi-class SVM)",
                        choices=("cross_entropy", "svm_l2"))
    seed: int = setting(0, "seed of weight initialisation, dropout and shuffling")
    runs_dir: str = setting("runs", "where each run's folder (TensorBoard logs, checkpoints, reports) goes")
    run_name: str = setting("", "appended to the run folder's time stamp")
    distribute: str = setting("default", "default, mirrored (tf.distribute.MirroredStrategy: this machine's "
                                         "devices) or multi_worker (MultiWorkerMirroredStrategy over the machines "
                                         "in the TF_CONFIG environment variable)",
                              choices=("default", "mirrored", "multi_worker"))
    mixed_precision: bool = setting(False, "compute in bfloat16, keep float32 weights")
    video_source: int | str = setting(0, "camera index, video file or folder of images")
    video_model: str = setting("", "which model the video stage runs (empty: the one export in model_to_load, "
                                   "else the last comparison's winner)",
                               choices=("", "cnn", "landmark_fnn", "gradient_fnn"))
    video_output: str = setting("", "annotated video file (empty: a window if there is a display, else "
                                    "<run>/video.mp4)")
    video_predictions: str = setting("", "CSV of one row per face per frame (empty: <run>/video_predictions.csv)")
    video_smoothing: float = setting(0.6, "exponential moving average of each face's probabilities across frames "
                                          "(0: off)")
    video_detect_width: int = setting(320, "frames are downscaled to this width for Haar detection")
    video_redetect_every: int = setting(10, "Haar on the whole frame every this many frames (new faces show up "
                                            "within as many); in between, each face is searched only near where "
                                            "it was (1: whole frame always)")
    video_follow: str = setting("landmarks", "between whole-frame detections, follow each face by its own "
                                             "landmarks (landmarks: no Haar; the CNN has none and searches "
                                             "near the last box) or search near the last box (haar)",
                                choices=("landmarks", "haar"))
    video_max_frames: int = setting(0, "stop after this many frames (0: until the source ends)")
    video_baseline_warmup: int = setting(30, "frames a live face is watched before predictions start, when the "
                                             "model was trained with subject_normalization")
    video_precision: str = setting("float32", "float32, or int8: the gradient FNN's one-face forward pass in the "
                                              "video stage reads int8 weight rows with a float scale per row (a "
                                              "quarter of the bytes; probabilities differ slightly, see "
                                              "BENCHMARKS.md); the test stage is always float32",
                                   choices=("float32", "int8"))

    def hyper(self, kind: str) -> ModelHyper:
        """Network `kind`'s hyper-parameters with its learning rate and stopping threshold resolved (null: the
        top-level learning_rate, stopping.min_increase)."""
        own = self.nn.of(kind)
        rate = self.learning_rate if own.learning_rate is None else own.learning_rate
        threshold = self.stopping.min_increase if own.min_increase is None else own.min_increase
        return dataclasses.replace(own, learning_rate=rate, min_increase=threshold)

    def model_record(self, kind: str) -> dict[str, Any]:
        """`hyper(kind)` as stored in model.json and fold fingerprints, with the network input's size."""
        return {**dataclasses.asdict(self.hyper(kind)), "input": list(self.nn.input)}

    def augments(self, kind: str) -> bool:
        """Whether network `kind` trains on augmented copies: its own `augment`, or `augment.enabled` for all."""
        from ..kinds import kind as kind_of

        # Floors are not augmentable: only networks, which have hyper-parameters, get past the first test.
        return bool(kind_of(kind).augmentable and (self.augment.enabled or self.nn.of(kind).augment))

    def input_record(self, kind: str) -> dict[str, Any]:
        """The preprocessing settings, beyond the input's shape, that `kind`'s inputs are made with.

        A model only fits inputs made the same way: a gradient FNN trained on 3x3 Laplacians sees
        other numbers in 5x5 ones of the same size. Recorded in model.json; checked by the video
        stage and by the test stage when it loads `model_to_load`.
        """
        from ..kinds import kind as kind_of

        record: dict[str, Any] = {"image.size": list(self.image.size)}
        if self.subject_normalization != "none":
            record["subject_normalization"] = self.subject_normalization
        source = kind_of(kind).source(self)
        if source in ("gradients", "blurred"):
            record["gradient_options"] = dataclasses.asdict(self.gradient_options)
            if source == "blurred":
                record["blur_options"] = dataclasses.asdict(self.blur_options)
        return record

    def path(self, key: str) -> str:
        """The value of a path key (PATH_KEYS: a stage's folder, a source, a model location) as written."""
        if key not in PATH_KEYS:
            raise KeyError(key)
        return str(getattr(self, key))

    def runs_stage(self, name: str) -> bool:
        """Whether the stage `name` (STAGE_KEYS) is switched on."""
        if name not in STAGE_KEYS:
            raise KeyError(name)
        return bool(getattr(self, name))

    def to_dict(self) -> dict[str, Any]:
        """The settings as parameters.json's nested object (what config.json records)."""
        return dataclasses.asdict(self)

    def with_paths(self, **paths: str) -> Settings:
        """A copy with path keys replaced (for a run that fills in a location it found)."""
        unknown = set(paths) - set(PATH_KEYS)
        if unknown:
            raise KeyError(sorted(unknown))
        return dataclasses.replace(self, **paths)


def walk(cls: type, prefix: str = "") -> list[tuple[str, dataclasses.Field[Any]]]:
    """Every leaf setting of `cls` as (dotted key, field), in declaration order."""
    out: list[tuple[str, dataclasses.Field[Any]]] = []
    for f in dataclasses.fields(cls):
        if _FIELDS_ONLY in f.metadata:
            out.extend(walk(f.metadata[_FIELDS_ONLY], f"{prefix}{f.name}."))
        else:
            out.append((f"{prefix}{f.name}", f))
    return out


def from_dict(cls: type, values: dict[str, Any]) -> Any:
    """`cls` built from a checked nested dict of exactly its keys (the loader's last step)."""
    kwargs = {}
    for f in dataclasses.fields(cls):
        value = values[f.name]
        if _FIELDS_ONLY in f.metadata:
            value = from_dict(f.metadata[_FIELDS_ONLY], value)
        elif isinstance(value, list):
            value = list(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def defaults() -> dict[str, Any]:
    """Every default as parameters.json's nested object."""
    return Settings().to_dict()

