"""Training: the stopping rule, tracing once, learning, checkpoints, resume, export, distribution."""

from __future__ import annotations

import math
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from fer_compare.checkpoints import LoadedModel, export_saved_model, restore
from fer_compare.data import ModelData, to_network_input
from fer_compare.errors import UserError
from fer_compare.settings import load_config
from fer_compare.splits import make_split
from fer_compare.training import SaveSchedule, StoppingRule, Trainer, TrainingDiverged


def learnable(kind: str = "landmark_fnn", n: int = 96, classes=("neutral", "happy", "sad"), seed: int = 0) -> ModelData:
    """Features whose class shifts a few coordinates: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % len(classes)
    if kind == "landmark_fnn":
        x = rng.normal(size=(n, 4, 42)).astype(np.float32)
        x[:, 1, :10] += 2.0 * y[:, None]
    else:
        x = rng.integers(0, 60, size=(n, 70, 70)).astype(np.uint8)
        for c in range(len(classes)):
            x[y == c, 10 + 15 * c: 20 + 15 * c, 20:50] = 250
    subjects = np.array([f"s{i // 6:02d}" for i in range(n)])
    return ModelData(kind, x, y.astype(np.int32), [f"k{i}" for i in range(n)], subjects, np.array([""] * n),
                     list(classes), "synthetic")


def config_for(tmp: Path, **sets) -> dict:
    base = [f"runs_dir={tmp / 'runs'}", "nn.landmark_fnn.max_epochs=6", "nn.landmark_fnn.hidden=[64,64]",
            "nn.landmark_fnn.subnet=[42,32,32]", "nn.cnn.max_epochs=3", "nn.cnn.filters=[4,8,8]",
            "nn.cnn.hidden=[16,16]", "nn.gradient_fnn.hidden=[32,16]", "nn.gradient_fnn.emotions=null",
            "learning_rate=0.003", "nn.landmark_fnn.learning_rate=null",
            # the synthetic classes are not mirror-symmetric: no flipped copies
            "nn.landmark_fnn.augment=false", "nn.cnn.augment=false", "nn.gradient_fnn.augment=false"]
    return load_config(None, base + [f"{k.replace('__', '.')}={v}" for k, v in sets.items()])


def trainer(tmp: Path, data: ModelData, folder: str = "a", **sets) -> Trainer:
    config = config_for(tmp, **sets)
    split = make_split(data.subjects, data.parts, "subject", 0.25, 0.0, 0)
    return Trainer(data.kind, config, data, split, tmp / folder, summaries=False)


@pytest.mark.parametrize("losses, stop_at", [
    ([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2], None),  # falling: never stops
    ([1.0, 0.9, 0.9, 0.9, 1.02, 0.9], None),  # rose by 0.02 < 0.03 at epoch 4: remembered, goes on
    ([1.0, 0.9, 0.9, 0.9, 1.03, 0.9], 4),  # rose by 0.03 at the epoch-4 check: stop
    ([0.5, 2.0, 2.0, 2.0, 0.52, 0.7, 0.7, 0.7, 0.56], 8),  # rises between checks unseen; 0.52 -> 0.56
])
def test_thesis_stopping_rule_on_scripted_losses(losses, stop_at):
    rule = StoppingRule(4, 0.03)
    stopped = next((e for e, loss in enumerate(losses) if rule.should_stop(e, loss)), None)
    assert stopped == stop_at


def test_the_save_schedule_waits_its_seconds():
    now = [100.0]
    schedule = SaveSchedule(60, clock=lambda: now[0])
    now[0] = 159.9
    assert not schedule.due()
    now[0] = 160.0
    assert schedule.due()
    schedule.saved()
    now[0] = 200.0
    assert not schedule.due()
    assert SaveSchedule(0, clock=lambda: now[0]).due()  # 0: after every epoch


@pytest.mark.parametrize("seconds, saves", [(0, 1 + 6), (3600, 1 + 1)])
def test_the_training_state_is_saved_on_schedule_and_after_the_last_epoch(tmp_path, seconds, saves):
    """Initial state, then every epoch (0) or only the last (an hour between saves); resume takes the last."""
    t = trainer(tmp_path, learnable(), checkpoint_seconds=seconds)
    t.fit()
    assert t.manager.latest_checkpoint.endswith(f"ckpt-{saves}")  # the save counter numbers the saves
    resumed = trainer(tmp_path, learnable(), "b", nn__landmark_fnn__max_epochs=8)
    resumed.resume_from(tmp_path / "a" / "checkpoints", "model_to_load")
    assert int(resumed.epoch.numpy()) == 5


def test_a_checkpoint_at_a_check_epoch_holds_the_rules_memory_of_that_check(tmp_path):
    """Saved after the rule looked at epoch 4, so a resume compares epoch 8 with epoch 4, as the first run would."""
    t = trainer(tmp_path, learnable(), checkpoint_seconds=0, nn__landmark_fnn__max_epochs=5)
    result = t.fit()
    resumed = trainer(tmp_path, learnable(), "b", nn__landmark_fnn__max_epochs=8)
    resumed.resume_from(tmp_path / "a" / "checkpoints", "model_to_load")
    assert float(resumed.rule.previous.numpy()) == result.history[4]["validation_loss"]


def test_steps_are_traced_once_and_serve_every_dataset(tmp_path):
    t = trainer(tmp_path, learnable())
    t.fit()
    t.evaluate(t.split.train)  # another dataset through the same compiled evaluation step
    assert t.train_step.experimental_get_tracing_count() == 1
    assert t.eval_step.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("kind", ["landmark_fnn", "cnn", "gradient_fnn"])
def test_a_few_epochs_reduce_the_loss(tmp_path, kind):
    t = trainer(tmp_path, learnable(kind), **{f"nn__{kind}__max_epochs": 6, f"nn__{kind}__dropout": 0.0})
    result = t.fit()
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < 0.7 * losses[0]
    assert result.best_validation_accuracy > 0.6


def test_a_seed_makes_a_run_repeatable(tmp_path):
    a = trainer(tmp_path, learnable(), "a").fit()
    b = trainer(tmp_path, learnable(), "b").fit()
    assert [r["train_loss"] for r in a.history] == [r["train_loss"] for r in b.history]


def test_restore_gives_identical_predictions_and_resume_continues_the_epochs(tmp_path):
    data = learnable()
    first = trainer(tmp_path, data, "a", nn__landmark_fnn__max_epochs=3)
    first.fit()
    _, _, before = first.evaluate(first.split.validation)
    # the same epochs' weights, restored into a fresh model
    second = trainer(tmp_path, data, "b", nn__landmark_fnn__max_epochs=6)
    second.resume_from(tmp_path / "a" / "checkpoints", "model_to_load")
    assert int(second.epoch.numpy()) == 2
    assert int(second.optimizer.iterations.numpy()) == int(first.optimizer.iterations.numpy())
    tf.train.Checkpoint(model=first.model).restore(tf.train.latest_checkpoint(str(tmp_path / "a" / "checkpoints")))
    _, _, latest_first = first.evaluate(first.split.validation)
    _, _, restored = second.evaluate(second.split.validation)
    np.testing.assert_array_equal(restored, latest_first)
    assert before.shape == restored.shape
    result = second.fit()
    assert [row["epoch"] for row in result.history] == [3, 4, 5]


@pytest.mark.parametrize("average_epochs", [0.0, 1.5])
def test_resumed_run_matches_an_uninterrupted_one(tmp_path, average_epochs):
    """Also with a weight average: it is part of the saved state."""
    data = learnable()
    average = {"nn__landmark_fnn__average_epochs": average_epochs}
    whole = trainer(tmp_path, data, "whole", nn__landmark_fnn__max_epochs=5, **average).fit()
    trainer(tmp_path, data, "part", nn__landmark_fnn__max_epochs=2, **average).fit()
    rest = trainer(tmp_path, data, "rest", nn__landmark_fnn__max_epochs=5, **average)
    rest.resume_from(tmp_path / "part" / "checkpoints", "model_to_load")
    resumed = rest.fit()
    assert resumed.history[-1]["validation_loss"] == pytest.approx(whole.history[-1]["validation_loss"], abs=1e-5)


def test_a_checkpoint_of_another_class_list_or_architecture_is_refused(tmp_path):
    trainer(tmp_path, learnable(), "a", nn__landmark_fnn__max_epochs=1).fit()
    other_classes = trainer(tmp_path, learnable(classes=("neutral", "happy")), "b")
    with pytest.raises(UserError, match=r"trained on classes \['neutral', 'happy', 'sad'\]"):
        other_classes.resume_from(tmp_path / "a" / "checkpoints", "model_to_load")
    other_size = trainer(tmp_path, learnable(), "c", nn__landmark_fnn__hidden="[32,64]")
    with pytest.raises(UserError, match="has shape"):
        other_size.resume_from(tmp_path / "a" / "checkpoints", "model_to_load")
    cnn = trainer(tmp_path, learnable("cnn"), "d")
    with pytest.raises(UserError, match="holds a landmark_fnn model, not a cnn"):
        cnn.resume_from(tmp_path / "a" / "checkpoints", "model_to_load")


def test_a_corrupted_checkpoint_is_one_clear_error(tmp_path):
    trainer(tmp_path, learnable(), "a", nn__landmark_fnn__max_epochs=1).fit()
    for data_file in (tmp_path / "a" / "checkpoints").glob("*.data-*"):
        data_file.write_bytes(b"garbage")
    fresh = trainer(tmp_path, learnable(), "b")
    with pytest.raises(UserError, match="cannot restore"):
        fresh.resume_from(tmp_path / "a" / "checkpoints", "model_to_load")


def test_nan_loss_stops_clearly_and_keeps_the_last_good_checkpoint(tmp_path):
    t = trainer(tmp_path, learnable(), "a", learning_rate=1e6, nn__landmark_fnn__max_epochs=10)
    with pytest.raises(TrainingDiverged, match="NaN or infinite"):
        t.fit()
    for v in t.model.trainable_variables:
        assert np.isfinite(v.numpy()).all()


def test_saved_model_reloads_and_predicts_the_same(tmp_path):
    for kind in ("landmark_fnn", "cnn"):
        data = learnable(kind)
        t = trainer(tmp_path, data, kind, **{f"nn__{kind}__max_epochs": 2})
        t.fit()
        _, _, probs = t.evaluate(t.split.validation)
        folder = export_saved_model(t.model, tmp_path / "export" / kind, t.record)
        loaded = LoadedModel(folder)
        again = loaded.predict(to_network_input(kind, data.x[t.split.validation]))
        np.testing.assert_allclose(again, probs, atol=1e-5)
        assert loaded.classes == list(data.classes)
        plain = tf.saved_model.load(str(folder)).signatures["serving_default"]
        out = plain(inputs=tf.constant(to_network_input(kind, data.x[:2])))
        assert out["probabilities"].shape == (2, 3)
        assert [c.decode() for c in out["class_names"].numpy()[0]] == list(data.classes)


def test_mirrored_strategy_over_two_logical_cpus(tmp_path):
    script = f"""
import sys, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_training import learnable, trainer
from pathlib import Path
t = trainer(Path({str(tmp_path)!r}), learnable(), "m", distribute="mirrored", nn__landmark_fnn__max_epochs=4,
            nn__landmark_fnn__average_epochs=1.0)
assert t.strategy.num_replicas_in_sync == 2, t.strategy.num_replicas_in_sync
r = t.fit()
losses = [row["train_loss"] for row in r.history]
print("LOSSES", losses)
assert losses[-1] < losses[0], losses
# the weight average, updated inside each replica's step, is the same on both replicas
for average in t.average.averages:
    first, second = (v.numpy() for v in t.strategy.experimental_local_results(average))
    assert (first == second).all()
assert int(t.average.updates.numpy()) == int(t.optimizer.iterations.numpy())
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "LOSSES" in out.stdout


def test_learning_rate_is_in_the_history(tmp_path):
    result = trainer(tmp_path, learnable(), "a", nn__landmark_fnn__max_epochs=1).fit()
    assert math.isclose(result.history[0]["learning_rate"], 0.003, rel_tol=1e-6)


@pytest.mark.parametrize("sets", [
    {"augment__enabled": "true", "nn__cnn__max_epochs": 2},
    {"loss": "svm_l2", "nn__cnn__max_epochs": 2},
    {"mixed_precision": "true", "nn__cnn__max_epochs": 2},
], ids=["augmentation", "svm-loss", "mixed-precision"])
def test_training_options_from_the_related_reports(tmp_path, sets):
    result = trainer(tmp_path, learnable("cnn"), "a", **sets).fit()
    assert len(result.history) == 2 and all(math.isfinite(r["train_loss"]) for r in result.history)


def test_a_checkpoint_that_cannot_be_written_is_one_line(tmp_path):
    from fer_compare.checkpoints import save_checkpoint

    blocked = tmp_path / "checkpoints"
    blocked.write_text("a file where the folder should be")
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=tf.Variable(1.0)), str(blocked), max_to_keep=1)
    with pytest.raises(UserError, match=f"cannot write a checkpoint to {blocked} "):
        save_checkpoint(manager)
    assert blocked.read_text() == "a file where the folder should be"


@pytest.mark.parametrize("keep", [False, True])
def test_cross_validation_drops_spent_fold_checkpoints_unless_asked(tmp_path, keep):
    from fer_compare.evaluation import compare
    from fer_compare.normalization import Normalisation
    from fer_compare.protocol import Prepared

    config = config_for(tmp_path, evaluation__folds=2, evaluation__keep_fold_checkpoints=str(keep).lower(),
                        nn__landmark_fnn__max_epochs=2, models='["landmark_fnn"]')
    data = learnable()
    prepared = Prepared({"landmark_fnn": data}, data.keys, data.subjects, data.parts,
                        np.array(data.classes)[data.y], Normalisation("none"), {})
    evaluations = compare(config, tmp_path / "run", prepared, ["landmark_fnn"], {})
    assert len(evaluations["landmark_fnn"].folds) == 2
    folds = sorted((tmp_path / "run" / "cv" / "landmark_fnn").iterdir())
    assert [f.name for f in folds] == ["fold-0", "fold-1"]
    for fold in folds:
        assert list((fold / "train").glob("events.out.tfevents.*"))  # the summaries always stay
        assert (fold / "checkpoints").is_dir() == keep and (fold / "best").is_dir() == keep
    if keep:
        assert len(list((folds[0] / "checkpoints").glob("ckpt-*.index"))) == 1  # only the latest is kept


def test_releasing_the_training_state_frees_the_optimizer_and_keeps_evaluation(tmp_path):
    t = trainer(tmp_path, learnable(), "a", nn__landmark_fnn__max_epochs=2, nn__landmark_fnn__average_epochs=1.0)
    t.fit()
    weights = {id(v) for v in t.model.variables}
    slots = [weakref.ref(v) for v in t.optimizer.variables if v.shape.rank and id(v) not in weights]  # m and v
    assert len(slots) == 2 * len(t.model.trainable_variables)
    slots += [weakref.ref(v) for v in t.average.averages]
    before = t.evaluate(t.split.validation)[2]
    t.release_training_state()
    assert all(slot() is None for slot in slots)
    np.testing.assert_array_equal(t.evaluate(t.split.validation)[2], before)


@pytest.mark.parametrize("check_every, min_epochs, average_epochs", [(3, 0, 0.0), (2, 7, 0.0), (3, 0, 2.0)])
def test_fit_stops_when_the_rule_says_and_keeps_the_best_epochs_weights(tmp_path, check_every, min_epochs,
                                                                         average_epochs):
    """A learning rate that overshoots makes the validation loss rise; the recorded history, replayed
    through the rule, stops where fit stopped, and the model holds the best epoch's weights (with a
    weight average: the average's, which are the ones judged)."""
    data = learnable(n=60)
    t = trainer(tmp_path, data, stopping__check_every=check_every, stopping__min_epochs=min_epochs,
                stopping__min_increase=0.0, nn__landmark_fnn__max_epochs=40, learning_rate=0.05,
                nn__landmark_fnn__average_epochs=average_epochs)
    result = t.fit()
    losses = [row["validation_loss"] for row in result.history]
    rule = StoppingRule(check_every, 0.0, min_epochs)
    expected = next((e for e, loss in enumerate(losses) if rule.should_stop(e, loss)), None)
    assert expected is not None and len(losses) == expected + 1  # stopped early, exactly there
    assert expected >= min_epochs and expected % check_every == 0
    assert result.best_epoch == int(np.argmin(losses))
    loss, _, _ = t.evaluate(t.split.validation)
    assert loss == pytest.approx(result.best_validation_loss, rel=1e-5)
    assert loss == pytest.approx(min(losses), rel=1e-5)
    if average_epochs:  # one update of the average per optimizer step
        assert t.average is not None and int(t.average.updates.numpy()) == int(t.optimizer.iterations.numpy())


@pytest.mark.parametrize("seconds", [0, 3600])
def test_the_best_weights_reach_disk_with_the_state_not_at_every_improvement(tmp_path, seconds):
    """best/ is written when the training state is (every epoch with 0; with an hour between saves only
    at the end), and always holds the best epoch's weights, which the model holds after fit."""
    t = trainer(tmp_path, learnable(), checkpoint_seconds=seconds, nn__landmark_fnn__max_epochs=8)
    result = t.fit()
    saved = tf.train.latest_checkpoint(str(tmp_path / "a" / "best"))
    assert saved is not None and saved.endswith(f"best-{result.best_epoch}")
    losses = [row["validation_loss"] for row in result.history]
    improvements = sum(loss < min(losses[:e], default=math.inf) for e, loss in enumerate(losses))
    writes = int(t.best._checkpoint.save_counter.numpy())
    assert writes == (improvements if seconds == 0 else 1), (writes, improvements)
    after_fit = [v.numpy() for v in t.model.variables]
    again = trainer(tmp_path, learnable(), "b")
    restore({"model": again.model}, saved, "checkpoint")
    for a, b in zip(after_fit, (v.numpy() for v in again.model.variables), strict=True):
        np.testing.assert_array_equal(a, b)
    loss, _, _ = t.evaluate(t.split.validation)
    assert loss == pytest.approx(result.best_validation_loss, rel=1e-5)
