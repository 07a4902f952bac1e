"""Model checkpoints (tf.train.Checkpoint + CheckpointManager), their description, and SavedModel export."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from .errors import UserError
from .files import atomic_write_text
from .kinds import KINDS
from .nn.models import EmotionModel

DESCRIPTION = "model.json"


def write_description(folder: Path, model: EmotionModel, hyper: dict[str, Any],
                      inputs: dict[str, Any] | None = None) -> None:
    """model.json: architecture, classes, hyperparameters and (config.input_settings) how inputs were made."""
    folder.mkdir(parents=True, exist_ok=True)
    description = {**model.describe(), "hyperparameters": hyper}
    if inputs is not None:
        description["input_settings"] = inputs
    atomic_write_text(folder / DESCRIPTION, json.dumps(description, indent=2))


def check_compatible(folder: Path, model: EmotionModel, key: str) -> None:
    """Refuse a checkpoint made for another architecture or class list, naming the mismatch."""
    path = folder / DESCRIPTION
    if not path.is_file():
        raise UserError(f"{key}: {folder} has no {DESCRIPTION}; not a fer_compare checkpoint folder")
    try:
        saved = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"{key}: {path} is corrupted") from None
    mine = model.describe()
    if saved.get("kind") != mine["kind"]:
        raise UserError(f"{key}: {folder} holds a {saved.get('kind')} model, not a {mine['kind']}")
    if saved.get("classes") != mine["classes"]:
        raise UserError(f"{key}: {folder} was trained on classes {saved.get('classes')}, "
                        f"this run has {mine['classes']}")
    for name, shape in mine["variables"].items():
        if saved.get("variables", {}).get(name) != shape:
            raise UserError(f"{key}: {folder}: variable {name} has shape {saved.get('variables', {}).get(name)} "
                            f"there and {shape} here (another architecture or size)")


def save_checkpoint(manager: tf.train.CheckpointManager, checkpoint_number: int | None = None) -> str:
    """manager.save, or one line naming the folder when it cannot be written (a full disk, say)."""
    try:
        return manager.save(checkpoint_number=checkpoint_number)
    except (OSError, tf.errors.OpError) as e:
        remove_partial_checkpoints(Path(manager.directory))
        # TensorFlow's message ends "...; No space left on device [Op:SaveV2]": keep the OS's words.
        reason = getattr(e, "strerror", None) or str(e).strip().splitlines()[0].rsplit(";", 1)[-1]
        reason = re.sub(r"\s*\[Op:\w+\]$", "", reason.strip())
        raise UserError(f"cannot write a checkpoint to {manager.directory} ({reason[:200]})") from None


def remove_partial_checkpoints(folder: Path) -> None:
    """TensorFlow writes a checkpoint into `<prefix>_temp/` (and `.tmp` index files) and renames it when
    whole; a failed save leaves them behind."""
    import shutil

    for partial in [*folder.glob("*_temp"), *folder.glob("*_temp_*"), *folder.glob("*.tempstate*")]:
        if partial.is_dir():
            shutil.rmtree(partial, ignore_errors=True)
        else:
            partial.unlink(missing_ok=True)


SAVE_COUNTER = "save_counter/.ATTRIBUTES/VARIABLE_VALUE"  # tf.train.Checkpoint's own variable


def variables_by_key(parts: dict[str, Any]) -> dict[str, list[tf.Variable]]:
    """Checkpoint key -> variable, for tf.train.Checkpoint(**parts), derived from the attribute paths.

    TensorFlow names a variable in a checkpoint by its path of attribute names and list indices
    from the root ("model/hidden/0/blocks/3/.ATTRIBUTES/VARIABLE_VALUE"). A variable reachable
    along two paths gets both keys here; the checkpoint holds one of them.
    """
    keys: dict[str, list[tf.Variable]] = {}
    for name, part in parts.items():
        if isinstance(part, tf.Variable):
            leaves = [((), part)]
        else:
            leaves = part._flatten(predicate=lambda x: isinstance(x, tf.Variable), with_path=True)
        for path, variable in leaves:
            keys.setdefault("/".join([name, *map(str, path)]) + "/.ATTRIBUTES/VARIABLE_VALUE", []).append(variable)
    return keys


def restore(parts: dict[str, Any], path: str, key: str, checkpoint: tf.train.Checkpoint | None = None) -> str:
    """Restore every variable of tf.train.Checkpoint(**parts) from `path`, or fail with one line.

    One variable at a time where the checkpoint's keys are the attribute paths (they are for all
    of fer_compare's checkpoints): Checkpoint.restore reads every variable in one op first, so the
    gradient FNN's 470 MB of weights (1.4 GB with Adam's slots) would briefly exist twice, and
    TensorFlow's allocator keeps that memory. Otherwise TensorFlow's own restore, whose errors name
    what does not match. `checkpoint`, the tf.train.Checkpoint(**parts) that saves these, gets its
    save counter back too, so checkpoint numbers go on. Returns which way ran ("one by one" or
    "checkpoint").
    """
    try:
        reader = tf.train.load_checkpoint(path)
        saved = reader.get_variable_to_shape_map()
        by_key = variables_by_key(parts)
        chosen: dict[int, tuple[str, tf.Variable]] = {}
        for name, variables in by_key.items():
            for variable in variables:
                if saved.get(name) == variable.shape.as_list():
                    chosen.setdefault(id(variable), (name, variable))
        if chosen and set(chosen) == {id(v) for variables in by_key.values() for v in variables}:
            if checkpoint is not None and SAVE_COUNTER in saved:
                chosen[id(checkpoint.save_counter)] = (SAVE_COUNTER, checkpoint.save_counter)
            for name, variable in chosen.values():
                variable.assign(reader.get_tensor(name))
            return "one by one"
        (checkpoint or tf.train.Checkpoint(**parts)).restore(path).assert_existing_objects_matched().expect_partial()
        return "checkpoint"
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{key}: cannot restore {path} ({first[:200]})") from None


class ServingModule(tf.Module):
    """What a SavedModel holds: the model, its class names, and a serving signature."""

    def __init__(self, model: EmotionModel) -> None:
        super().__init__(name="serving")
        self.model = model
        self.class_names = tf.constant(model.classes)
        spec = tf.TensorSpec([None, *model.input_shape], tf.float32, name="inputs")
        self.serve = tf.function(self._serve, input_signature=[spec])

    def _serve(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = tf.nn.softmax(self.model(inputs, training=False))
        return {"probabilities": probabilities,
                "class_names": tf.broadcast_to(self.class_names, tf.shape(probabilities))}


TFLITE = "model.tflite"


def export_saved_model(model: EmotionModel, folder: Path, hyper: dict[str, Any],
                       inputs: dict[str, Any] | None = None, tflite: bool = False) -> Path:
    """A SavedModel that plain tf.saved_model.load can use: signature 'serving_default' (inputs -> probabilities).

    With `tflite`, `model.tflite` (export_tflite) is written into the same folder; see `export_tflite`.
    """
    try:
        return _export(model, folder, hyper, inputs, tflite)
    except (OSError, tf.errors.OpError) as e:
        raise UserError(f"model_to_save: cannot write {folder} ({getattr(e, 'strerror', None) or e})") from None


def export_tflite(model: EmotionModel, path: Path) -> str | None:
    """A TensorFlow Lite flatbuffer of the model: signature 'serving_default', inputs -> probabilities.

    Class names are not in it (TFLite's string tensors would need TensorFlow ops in the runtime);
    they are in model.json beside it. Float32, no quantization: the interpreter's probabilities
    equal the SavedModel's up to float rounding. Returns None, or why there is no file: a flatbuffer
    holds at most 2 GB, and a converter error is reported rather than failing the run (the
    SavedModel is the primary export).
    """
    spec = tf.TensorSpec([None, *model.input_shape], tf.float32, name="inputs")

    @tf.function(input_signature=[spec], autograph=False)
    def serve(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"probabilities": tf.nn.softmax(model(inputs, training=False))}

    weight_bytes = sum(int(np.prod(v.shape)) * v.dtype.size for v in model.variables)
    if weight_bytes >= 2**31:
        return f"its {weight_bytes / 2**30:.1f} GiB of weights exceed the 2 GiB FlatBuffer limit"
    try:
        converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], model)
        flatbuffer = converter.convert()
    except Exception as e:  # the converter raises ConverterError and others; the reason is in the text
        return f"the TFLite converter failed ({str(e).strip().splitlines()[0][:200] if str(e).strip() else e})"
    path.write_bytes(flatbuffer)
    return None


def _export(model: EmotionModel, folder: Path, hyper: dict[str, Any], inputs: dict[str, Any] | None,
            tflite: bool) -> Path:
    module = ServingModule(model)
    tmp = folder.with_name(folder.name + ".partial")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    tf.saved_model.save(module, str(tmp), signatures={"serving_default": module.serve})
    write_description(tmp, model, hyper, inputs)
    if tflite:
        from .progress import say

        why_not = export_tflite(model, tmp / TFLITE)
        if why_not:
            say(f"  {model.kind}: no TensorFlow Lite export: {why_not}")
    if folder.exists():  # only reached with overwrite: true; the old model goes only once the new is whole
        import shutil

        old = folder.with_name(folder.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old)
    else:
        tmp.rename(folder)
    return folder


def _check_fingerprint(folder: Path, key: str) -> None:
    """A damaged fingerprint.pb: TensorFlow logs a traceback and loads anyway; we refuse in one line."""
    path = folder / "fingerprint.pb"
    if not path.is_file():
        return
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import fingerprint_pb2

    try:
        fingerprint_pb2.FingerprintDef().ParseFromString(path.read_bytes())
    except (DecodeError, OSError, ValueError):
        raise UserError(f"{key}: cannot load {folder} (fingerprint.pb is corrupted)") from None


def load_problem(folder: Path, e: BaseException) -> str:
    """TensorFlow's reason a SavedModel does not load, whole and in one line, naming the damaged file."""
    text = " ".join(str(e).split())
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)
    found = re.search(r"Cannot parse file b?'([^']+)'.*?: (.*)$", text)
    if found:
        return f"{Path(found[1]).name} is corrupted: {found[2].rsplit(': ', 1)[-1].strip().rstrip('.:')}"
    if "Checksum does not match" in text or "TensorBundle" in text:
        return "variables/variables.data-* is corrupted (checksum does not match)"
    found = re.search(r"Unable to read file \(([^)]+)\)", text)
    if found:
        return f"{Path(found[1]).relative_to(folder) if found[1].startswith(str(folder)) else found[1]} is corrupted"
    text = text.rstrip(" :")
    return text if len(text) <= 240 else text[:240].rsplit(" ", 1)[0] + " …"


class LoadedModel:
    """A SavedModel exported by fer_compare, used for prediction (test and video stages)."""

    def __init__(self, folder: Path, key: str = "model_to_load") -> None:
        desc = folder / DESCRIPTION
        if not (folder / "saved_model.pb").is_file() or not desc.is_file():
            raise UserError(f"{key}: {folder} is not a fer_compare SavedModel (no saved_model.pb / {DESCRIPTION})")
        try:
            self.description = json.loads(desc.read_text())
        except (OSError, ValueError):
            raise UserError(f"{key}: {desc} is corrupted (not a readable model description)") from None
        _check_fingerprint(folder, key)
        try:
            self._module = tf.saved_model.load(str(folder))
        except Exception as e:
            raise UserError(f"{key}: cannot load {folder} ({load_problem(folder, e)})") from None
        self.kind = self.description["kind"]
        self.classes = list(self.description["classes"])
        self.input_shape = list(self.description["input_shape"])
        self.input_settings: dict[str, Any] | None = self.description.get("input_settings")  # older exports: None
        # Trainable weights only: batch-norm statistics and feature scaling are not learned by gradient.
        self.parameters = int(sum(np.prod(shape) for name, shape in self.description["variables"].items()
                                  if not any(k in name for k in ("moving_", "feature_mean", "feature_std"))))
        self._serve = self._module.signatures["serving_default"]

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Class probabilities [N, classes] for network inputs."""
        return self._serve(inputs=tf.constant(inputs, tf.float32))["probabilities"].numpy()

    def weights(self) -> dict[str, np.ndarray]:
        """Every variable's value by its path inside the model ("conv1/w", "x_subnet/fc2/b")."""
        return {v.name.split(":")[0].split("/", 1)[1]: v.numpy() for v in self._serve.variables}

    def _layers(self) -> dict[str, dict[str, tf.Variable]]:
        """The signature's variables by layer name and leaf ("fc1" -> {"w": ..., "b": ...})."""
        layers: dict[str, dict[str, tf.Variable]] = {}
        for v in self._serve.variables:
            *_, layer, leaf = v.name.split(":")[0].split("/")
            layers.setdefault(layer, {})[leaf] = v
        return layers

    def input_scaling(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The (mean, std) a standardized model subtracts from and divides its inputs by, flat; else None."""
        scaling = self._layers().get("scaling")
        if scaling is None or set(scaling) != {"feature_mean", "feature_std"}:
            return None
        return (scaling["feature_mean"].numpy().ravel(), scaling["feature_std"].numpy().ravel())

    def dense_stack(self) -> list[tuple[list[tf.Variable], tf.Variable]] | None:
        """A gradient_fnn's (weight row blocks top to bottom, biases) per layer, input to output, else None.

        The signature's own variables: no second copy of the weights. A plain layer has one block
        ("w"), a RowBlockedDense layer several ("w_0", "w_1", ...).
        """
        spec = KINDS.get(self.kind)
        if spec is None or not spec.dense_stack:
            return None
        layers = self._layers()
        layers.pop("scaling", None)  # read by input_scaling()
        hidden = sorted((k for k in layers if k.startswith("fc") and k[2:].isdigit()), key=lambda k: int(k[2:]))
        if set(layers) != {*hidden, "output"}:
            return None
        stack = []
        for name in [*hidden, "output"]:
            leaves = layers[name]
            blocks = sorted((k for k in leaves if k.startswith("w_") and k[2:].isdigit()), key=lambda k: int(k[2:]))
            weights = ["w"] if "w" in leaves else blocks
            if "b" not in leaves or not weights or set(leaves) != {*weights, "b"}:
                return None
            stack.append(([leaves[k] for k in weights], leaves["b"]))
        return stack


class BestWeights:
    """The best validation epoch's weights: copied in memory when the validation loss improves, and
    written to `best/` (the model's own checkpoint layout) only when the training state is saved, at
    the end, or on Ctrl-C.

    Writing the gradient FNN's 470 MB at every improvement took ~1 s each, on small sets more than
    the epochs themselves; the copy costs one more set of weights in memory instead.
    """

    def __init__(self, model: tf.Module, manager: tf.train.CheckpointManager) -> None:
        self.model, self.manager = model, manager
        self.copy: list[tf.Variable] | None = None
        self.epoch = -1
        self.unsaved = False

    def improved(self, epoch: int) -> None:
        """The model's weights now are the best so far (after `epoch`)."""
        if self.copy is None:
            self.copy = [tf.Variable(v, trainable=False) for v in self.model.variables]
        else:
            for c, v in zip(self.copy, self.model.variables, strict=True):
                c.assign(v)
        self.epoch, self.unsaved = epoch, True

    def _swap(self) -> None:
        # One variable at a time (the gradient FNN's weights are 24 row blocks of ~10 MB), so the
        # swap never holds a second copy of all weights.
        assert self.copy is not None
        for c, v in zip(self.copy, self.model.variables, strict=True):
            current = tf.identity(v)
            v.assign(c)
            c.assign(current)

    def write(self) -> None:
        """Write the best weights to best/ if they changed since the last write."""
        if not self.unsaved:
            return
        self._swap()
        try:
            save_checkpoint(self.manager, checkpoint_number=self.epoch)
        finally:
            self._swap()
        self.unsaved = False

    def restore(self) -> int | None:
        """Put the best weights into the model (and on disk); the best epoch, or None when there is none."""
        if self.copy is not None:
            for c, v in zip(self.copy, self.model.variables, strict=True):
                v.assign(c)
            if self.unsaved:
                save_checkpoint(self.manager, checkpoint_number=self.epoch)
                self.unsaved = False
            self.copy = None  # its memory goes back before evaluation and export
            return self.epoch
        if self.manager.latest_checkpoint:
            restore({"model": self.model}, self.manager.latest_checkpoint, "checkpoint")
            return int(self.manager.latest_checkpoint.rsplit("-", 1)[-1])
        return None
