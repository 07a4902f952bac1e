"""The train stage: compiled steps under a tf.distribute strategy, the stopping rule, checkpoints, TensorBoard."""

from __future__ import annotations

import contextlib
import gc
import itertools
import math
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from .checkpoints import BestWeights, check_compatible, export_saved_model, restore, save_checkpoint, write_description
from .data import ModelData
from .distribution import describe_devices, get_strategy, is_chief
from .errors import UserError
from .files import fault_point, probe_write
from .input import InputPipeline
from .kinds import kind as kind_of
from .nn.adam import Adam
from .nn.averaging import WeightAverage
from .nn.layerwise import layerwise_train_step
from .nn.losses import LOSSES
from .nn.models import EmotionModel, GradientFNN, build_model, count_parameters
from .progress import say, training_started
from .results import TrainResult
from .settings import Settings
from .splits import Split, warn_missing_classes
from .stopping import SaveSchedule, StoppingRule
from .summaries import TrainingSummaries


class TrainingInterrupted(UserError):
    """Ctrl-C during training: a checkpoint was saved."""

    exit_code = 130


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; the last good checkpoint was kept."""


class Trainer:
    """Owns one model, its optimizer, its compiled steps and its checkpoints."""

    def __init__(self, kind: str, config: Settings, data: ModelData, split: Split, folder: Path,
                 summaries: bool = True) -> None:
        self.kind = kind
        self.config = config
        self.data = data
        self.split = split
        self.folder = folder
        self.hyper = config.hyper(kind)
        self.record = config.model_record(kind)  # what model.json and TensorBoard's hparams show
        self.seed = int(config.seed)
        tf.random.set_seed(self.seed)
        self.strategy = get_strategy(config)
        self.multi_worker = isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy)
        self.chief = is_chief(self.strategy)
        if not self.chief:
            # Every worker saves (TensorFlow's advice: saving may take part in collectives), and each
            # restores its own best weights; only the chief keeps its files: the others' go to a
            # temporary folder, deleted after fit.
            self.folder = folder = Path(tempfile.mkdtemp(prefix=f"fer-compare-{kind}-worker-"))
            summaries = False
        self.compute_dtype = tf.bfloat16 if config.mixed_precision else tf.float32
        self.loss_fn = LOSSES[config.loss]
        with self.strategy.scope():
            self.model: EmotionModel = build_model(kind, data.classes, self.hyper, config.nn.input, self.seed)
            if self.hyper.standardize and len(split.train):
                self.model.set_standardization(kind_of(kind).to_input(data.x[split.train]))
            self.optimizer = Adam(self.model.trainable_variables, self.hyper.learning_rate)
            self.epoch = tf.Variable(-1, trainable=False, dtype=tf.int64, name="epoch")  # last finished epoch
            self.best_loss = tf.Variable(math.inf, trainable=False, dtype=tf.float64, name="best_validation_loss")
            s = config.stopping
            self.rule = StoppingRule(s.check_every, self.hyper.min_increase, s.min_epochs)
            self.average: WeightAverage | None = None
            if self.hyper.average_epochs > 0:
                steps_per_epoch = -(-max(len(split.train), 1) // self.hyper.batch_size)
                self.average = WeightAverage([v for v in self.model.variables if v.dtype.is_floating],
                                             max(1.0, self.hyper.average_epochs * steps_per_epoch))
        # Raw landmark features are mirrored inside the aligned image; references cancel its width.
        width = 0.0 if data.x.dtype == np.float32 and config.subject_normalization != "none" else \
            float(config.image.size[0])
        self.pipeline = InputPipeline(kind, self.hyper.batch_size, self.seed,
                                      config.augment if config.augments(kind) else None, width)
        self.checkpoint_parts = dict(model=self.model, optimizer=self.optimizer, epoch=self.epoch,
                                     best_validation_loss=self.best_loss, previous_check_loss=self.rule.previous)
        if self.average is not None:  # only then: checkpoints of runs without an average stay as they were
            self.checkpoint_parts["weight_average"] = self.average
        self.checkpoint = tf.train.Checkpoint(**self.checkpoint_parts)
        # One is enough: an epoch is saved only after its losses proved finite, so the latest is
        # always the last good state (and the gradient FNN's weights plus Adam slots are 1.4 GB).
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(folder / "checkpoints"), max_to_keep=1)
        self.best = tf.train.CheckpointManager(tf.train.Checkpoint(model=self.model), str(folder / "best"),
                                               max_to_keep=1, checkpoint_name="best")
        self.best_weights = BestWeights(self.model, self.best)
        self.input_settings = config.input_record(kind)
        write_description(folder / "checkpoints", self.model, self.record, self.input_settings)
        write_description(folder / "best", self.model, self.record, self.input_settings)
        self.summaries = summaries
        self._evaluation_sets: dict[bytes, Any] = {}
        self._build_steps()

    # --- compiled steps -------------------------------------------------------------------
    def _build_steps(self) -> None:
        model, optimizer, loss_fn, dtype = self.model, self.optimizer, self.loss_fn, self.compute_dtype
        replicas = self.strategy.num_replicas_in_sync
        seed = self.seed
        average = self.average

        layerwise = (isinstance(model, GradientFNN) and self.hyper.layerwise_updates and replicas == 1
                     and dtype == tf.float32)

        def train_replica(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
            if layerwise:
                step_seed = tf.stack([tf.constant(seed, tf.int64), optimizer.iterations])
                loss = layerwise_train_step(model, optimizer, x, y, loss_fn, step_seed)
                if average is not None:
                    average.update()
                return loss
            with tf.GradientTape() as tape:
                step_seed = tf.stack([tf.constant(seed, tf.int64), optimizer.iterations])
                logits = tf.cast(model(tf.cast(x, dtype), training=True, seed=step_seed), tf.float32)
                loss = loss_fn(logits, y) + model.regularization()
            grads = tape.gradient(loss, model.trainable_variables)
            if replicas > 1:
                grads = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.MEAN, grads)
            optimizer.apply(grads)
            if average is not None:
                average.update()
            return loss

        def eval_replica(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            logits = tf.cast(model(tf.cast(x, dtype), training=False), tf.float32)
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
            if self.config.loss != "cross_entropy":
                losses = tf.fill(tf.shape(y), loss_fn(logits, y))
            return losses, logits

        jit = bool(self.hyper.jit_compile) and replicas == 1
        if replicas == 1:
            # The pipeline's element spec (batch dimension None) as the signature: one trace serves
            # every dataset and the short last batch.
            spec = list(self.pipeline.element_spec(self.data.x))
            self.train_step = tf.function(train_replica, jit_compile=jit, input_signature=spec)
            self.eval_step = tf.function(eval_replica, jit_compile=jit, input_signature=spec)
        else:
            strategy = self.strategy

            def train_step(x: Any, y: Any) -> tf.Tensor:
                per_replica = strategy.run(train_replica, (x, y))
                return strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)

            def eval_step(x: Any, y: Any) -> tuple[tf.Tensor, tf.Tensor]:
                losses, logits = strategy.run(eval_replica, (x, y))
                return (tf.concat(strategy.experimental_local_results(losses), 0),
                        tf.concat(strategy.experimental_local_results(logits), 0))

            self.train_step = tf.function(train_step, reduce_retracing=True)
            self.eval_step = tf.function(eval_step, reduce_retracing=True)
            if self.multi_worker:
                # Each worker evaluates the whole set itself with the same (mirrored) weights: the
                # same validation loss everywhere, so all workers agree on the stopping rule and on
                # the best epoch without exchanging a number.
                self.eval_step = tf.function(eval_replica, input_signature=list(self.pipeline.element_spec(
                    self.data.x)))

    def _distributed(self, ds: tf.data.Dataset, evaluation: bool = False) -> Any:
        if self.strategy.num_replicas_in_sync > 1 and not (evaluation and self.multi_worker):
            return self.strategy.experimental_distribute_dataset(ds)
        return ds

    def _evaluation_dataset(self, index: np.ndarray) -> Any:
        """Batches of data.x[index] in order; built once per index set (validation is read every epoch)."""
        key = index.tobytes()
        if key not in self._evaluation_sets:
            ds = self.pipeline.dataset(self.data.x[index], self.data.y[index])
            self._evaluation_sets[key] = self._distributed(ds, evaluation=True)
        return self._evaluation_sets[key]

    def training_epochs(self, index: np.ndarray, first_epoch: int, last_epoch: int) -> Iterator[tuple[int, Any]]:
        """(epoch, that epoch's batches) for each epoch, all drawn from one dataset and one iterator."""
        batches = iter(self._distributed(
            self.pipeline.training_epochs(self.data.x[index], self.data.y[index], first_epoch, last_epoch)))
        steps = -(-len(index) // self.pipeline.batch_size)
        for epoch in range(first_epoch, last_epoch):
            yield epoch, itertools.islice(batches, steps)

    def evaluate(self, index: np.ndarray) -> tuple[float, float, np.ndarray]:
        """Mean loss, accuracy and probabilities [N, classes] on data.x[index], in inference mode."""
        if len(index) == 0:
            return math.nan, math.nan, np.zeros((0, len(self.data.classes)), np.float32)
        losses, logits = [], []
        for x, y in self._evaluation_dataset(index):
            batch_losses, batch_logits = self.eval_step(x, y)
            losses.append(batch_losses.numpy())
            logits.append(batch_logits.numpy())
        logits_all = np.concatenate(logits)
        probs = tf.nn.softmax(logits_all).numpy()
        accuracy = float((probs.argmax(1) == self.data.y[index]).mean())
        return float(np.concatenate(losses).mean()), accuracy, probs

    def averaged(self) -> contextlib.AbstractContextManager[None]:
        """A block in which the model holds its weight average (nn.<model>.average_epochs), if it keeps one."""
        return self.average.in_place() if self.average is not None else contextlib.nullcontext()

    # --- checkpoints ------------------------------------------------------------------------
    def resume_from(self, folder: Path, key: str) -> None:
        """Restore model, optimizer, epoch and stopping state from a checkpoint folder (or prefix)."""
        path = tf.train.latest_checkpoint(str(folder)) if folder.is_dir() else str(folder)
        desc_folder = folder if folder.is_dir() else folder.parent
        if not path:
            raise UserError(f"{key}: no checkpoint in {folder}")
        check_compatible(desc_folder, self.model, key)
        best = tf.train.latest_checkpoint(str(desc_folder.parent / "best"))
        if best:  # carry the earlier run's best weights over, so "restore the best" still can
            restore({"model": self.model}, best, key)
            save_checkpoint(self.best, checkpoint_number=int(best.rsplit("-", 1)[-1]))
        restore(self.checkpoint_parts, path, key, self.checkpoint)
        # The configured rate wins over the checkpoint's: resuming is how one retries with another rate.
        self.optimizer.learning_rate.assign(self.hyper.learning_rate)
        say(f"  {self.kind}: resumed from {path} after epoch {int(self.epoch.numpy())}")

    # --- the loop ---------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        h = self.hyper
        train_idx, val_idx = self.split.train, self.split.validation
        if len(train_idx) == 0:
            raise UserError(f"split: no training photos left for {self.kind}")
        val_for_rule = val_idx if len(val_idx) else train_idx  # no validation set: watch training loss
        board = (TrainingSummaries(self.kind, self.folder, self.record, self.config, self.data,
                                   self.data.x[self.split.train[:6]], self.model, self.strategy)
                 if self.summaries else None)
        history: list[dict[str, float]] = []
        start_epoch = int(self.epoch.numpy()) + 1
        stopped = f"reached max_epochs ({h.max_epochs})"
        best_epoch, best_acc = -1, math.nan
        t0 = time.perf_counter()
        seen = 0
        train_seconds = 0.0
        if board:
            board.start()
        if self.manager.latest_checkpoint is None:
            save_checkpoint(self.manager)  # the initial weights: a "last good" state even if epoch 0 diverges
        schedule = SaveSchedule(self.config.checkpoint_seconds)
        epochs = training_started(self.kind, self.folder, h.max_epochs, start_epoch)
        try:
            for epoch, batches in self.training_epochs(train_idx, start_epoch, h.max_epochs):
                e0 = time.perf_counter()
                losses = []
                for x, y in batches:
                    if board and epoch == start_epoch and not losses:
                        tf.summary.trace_on(graph=True, profiler=False)
                    # Keep the loss as a tensor and read it once per epoch (no measurable speed
                    # difference in the final benchmark; it spares a host sync per step).
                    losses.append(self.train_step(x, y))
                    if board and epoch == start_epoch and len(losses) == 1:
                        with board.writers["train"].as_default():
                            tf.summary.trace_export(name=f"{self.kind}_train_step", step=0)
                seen += len(train_idx)
                train_seconds += time.perf_counter() - e0
                train_loss = float(tf.reduce_mean(tf.stack(losses)))
                if not math.isfinite(train_loss):
                    self._diverged(epoch)
                with self.averaged():  # the weights that are judged are the weights that are kept
                    val_loss, val_acc, _ = self.evaluate(val_for_rule)
                    if math.isfinite(val_loss) and val_loss < float(self.best_loss.numpy()):
                        self.best_loss.assign(val_loss)
                        self.best_weights.improved(epoch)
                        best_epoch, best_acc = epoch, val_acc
                if not math.isfinite(val_loss):
                    self._diverged(epoch)
                row = {"epoch": epoch, "train_loss": train_loss, "validation_loss": val_loss,
                       "validation_accuracy": val_acc, "learning_rate": float(self.optimizer.learning_rate.numpy()),
                       "seconds": time.perf_counter() - e0}
                history.append(row)
                self.epoch.assign(epoch)
                # The rule's memory is updated before the state is saved, so a resume checks as this run would.
                stop = self.rule.should_stop(epoch, val_loss)
                if stop or epoch == h.max_epochs - 1 or schedule.due():
                    self.best_weights.write()  # first: a saved state's best loss always has its weights in best/
                    save_checkpoint(self.manager)
                    schedule.saved()
                if board:
                    board.epoch(row, epoch)
                epochs.epoch(row)  # epochs.csv, the live display, and the printed row with --verbose
                fault_point("train:epoch")  # tests: a signal after a known epoch (files.fault_point)
                if stop:
                    stopped = (f"validation loss rose by >= {self.rule.min_increase} since the check "
                               f"{self.rule.check_every} epochs earlier (epoch {epoch})")
                    break
        except KeyboardInterrupt:
            self.best_weights.write()
            path = save_checkpoint(self.manager)
            raise TrainingInterrupted(f"interrupted: {self.kind} checkpoint saved to {path}; "
                                      f"resume with train_existing_model: true") from None
        # Restore the best validation weights before anything uses the model.
        restored = self.best_weights.restore()
        if restored is not None:
            best_epoch = best_epoch if best_epoch >= 0 else restored
        if math.isnan(best_acc):
            _, best_acc, _ = self.evaluate(val_for_rule)
        if not self.chief:
            shutil.rmtree(self.folder, ignore_errors=True)
        result = TrainResult(
            kind=self.kind, classes=self.data.classes, history=history, best_epoch=best_epoch,
            best_validation_loss=float(self.best_loss.numpy()), best_validation_accuracy=best_acc, stopped=stopped,
            folder=self.folder, n_train=len(train_idx), n_validation=len(val_idx),
            parameters=count_parameters(self.model), seconds=time.perf_counter() - t0,
            samples_per_second=seen / train_seconds if train_seconds else math.nan, hyperparameters=self.record,
            trainer=self, devices=describe_devices(self.strategy),
        )
        if board:
            board.end(result)
        say(f"  {self.kind}: {stopped}; best epoch {best_epoch}, validation loss {result.best_validation_loss:.4f}, "
            f"accuracy {best_acc:.3f}; {result.samples_per_second:.0f} samples/s")
        return result

    def release_training_state(self) -> None:
        """Free what only training needs, once the model is trained (and exported): the optimizer with
        Adam's two slots (900 MB for the gradient FNN), the weight average, the compiled train step that
        holds them, and the checkpoint objects. Evaluation still works; the test and video stages that follow in the
        same process then reuse that memory. Training again needs a new Trainer."""
        del self.train_step, self.optimizer, self.checkpoint, self.checkpoint_parts, self.manager, self.best
        del self.best_weights
        self.average = None  # the model already holds the best averaged weights
        gc.collect()  # tf.function objects sit in reference cycles; free the variables now

    def _diverged(self, epoch: int) -> None:
        self.best_weights.write()  # the best weights so far stay usable
        last = self.manager.latest_checkpoint
        if last:
            restore(self.checkpoint_parts, last, "checkpoint", self.checkpoint)
            kept = f"kept the last good checkpoint {last}"
        else:
            kept = "no good checkpoint existed yet"
        raise TrainingDiverged(f"nn.{self.kind}: the loss became NaN or infinite in epoch {epoch} "
                               f"(learning rate {self.hyper.learning_rate} too high?); {kept}")

def export_path(config: Settings, kind: str) -> Path:
    return Path(config.model_to_save) / kind


def check_exports_allowed(config: Settings) -> None:
    """Refuse before training, not after, when an export would replace an existing model."""
    if not config.save:
        return
    for kind in config.models:
        path = export_path(config, kind)
        if path.exists() and not config.overwrite:
            raise UserError(f"model_to_save: {path} already exists; choose another path or set overwrite: true")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            probe_write(path.parent)
        except OSError as e:
            raise UserError(f"model_to_save: cannot write to {path.parent} ({e.strerror})") from None


def find_resume_folder(config: Settings, kind: str, run_dir: Path) -> Path:
    """Where train_existing_model resumes from: model_to_load, else the newest earlier run with a checkpoint."""
    key = "model_to_load"
    if config.model_to_load:
        base = Path(config.model_to_load)
        if not base.exists() and not Path(str(base) + ".index").exists():
            raise UserError(f"{key}: {base} does not exist")
        for candidate in (base / kind / "checkpoints", base / "checkpoints", base):
            if candidate.is_dir() and tf.train.latest_checkpoint(str(candidate)):
                return candidate
        if Path(str(base) + ".index").exists():
            return base
        raise UserError(f"{key}: no {kind} checkpoint in {base}")
    runs = sorted((p for p in Path(config.runs_dir).glob(f"*/{kind}/checkpoints")
                   if p.parent.parent != run_dir and tf.train.latest_checkpoint(str(p))),
                  key=lambda p: p.stat().st_mtime)
    if not runs:
        raise UserError(f"train_existing_model: no earlier {kind} checkpoint under {config.runs_dir}; "
                        f"set model_to_load")
    return runs[-1]


def train_model(kind: str, config: Settings, data: ModelData, split: Split, folder: Path,
                summaries: bool = True, resume: Path | None = None) -> TrainResult:
    """Build, (resume,) fit and return one model."""
    trainer = Trainer(kind, config, data, split, folder, summaries)
    if resume is not None:
        trainer.resume_from(resume, "model_to_load" if config.model_to_load else "train_existing_model")
    return trainer.fit()


def run(config: Settings, run_dir: Path) -> dict[str, TrainResult]:
    """The train stage: every model in `models` on the shared photos, split once for all of them
    (protocol.plan_folds); export when `save`."""
    from .protocol import plan_folds, prepare

    check_exports_allowed(config)
    strategy = get_strategy(config)
    say(f"  devices: {describe_devices(strategy)}")
    prepared = prepare(config, list(config.models))
    plan = plan_folds(prepared, config)[0]
    results: dict[str, TrainResult] = {}
    for kind in config.models:
        data = prepared.datasets[kind]
        split = plan.split(data)
        warn_missing_classes(split, data.y, data.classes, kind)
        say(f"  {kind}: {len(data)} examples from {data.source}, classes {data.classes}; "
            f"train {len(split.train)} / validation {len(split.validation)} / test {len(split.test)} "
            f"({len(set(data.subjects[split.train]))}/{len(set(data.subjects[split.validation]))}/"
            f"{len(set(data.subjects[split.test]))} subjects)")
        resume = find_resume_folder(config, kind, run_dir) if config.train_existing_model else None
        result = train_model(kind, config, data, split, run_dir / kind, resume=resume)
        if result.trainer is not None:  # before the export: the TFLite converter holds copies of the weights
            result.trainer.release_training_state()
        if config.save and (result.trainer is None or result.trainer.chief):  # one export per cluster
            result.export = export_saved_model(result.trainer.model, export_path(config, kind), result.hyperparameters,
                                               result.trainer.input_settings, tflite=config.export_tflite)
            say(f"  {kind}: exported SavedModel to {result.export}"
                + (" (and model.tflite)" if (result.export / "model.tflite").exists() else ""))
        results[kind] = result
    return results
