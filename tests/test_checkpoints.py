"""checkpoints.restore: one variable at a time, equal to TensorFlow's own restore, for all three models."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from test_training import learnable, trainer

from fer_compare.checkpoints import SAVE_COUNTER, restore, variables_by_key
from fer_compare.errors import UserError


def snapshot(variables: list[tf.Variable]) -> list[np.ndarray]:
    return [v.numpy().copy() for v in variables]


@pytest.mark.parametrize("kind, sets", [
    ("landmark_fnn", {}),
    ("cnn", {}),  # batch norm's moving averages: non-trainable, ON_READ
    ("gradient_fnn", {"nn__gradient_fnn__row_blocks": 3}),  # RowBlockedDense: variables in lists
    ("gradient_fnn", {"nn__gradient_fnn__row_blocks": 1}),
])
def test_one_by_one_restore_equals_tensorflows(tmp_path, kind, sets):
    data = dataclasses.replace(learnable("landmark_fnn" if kind == "landmark_fnn" else "cnn"), kind=kind)
    t = trainer(tmp_path, data, "a", **{f"nn__{kind}__max_epochs": 1}, **sets)
    t.fit()
    path = t.manager.save()
    everything = [*t.model.variables, *t.optimizer.variables, t.epoch, t.best_loss, t.rule.previous,
                  t.checkpoint.save_counter]
    saved = snapshot(everything)

    def disturb() -> None:
        for v in everything:
            v.assign(tf.fill(v.shape, tf.constant(7, v.dtype)))

    disturb()
    assert restore(t.checkpoint_parts, path, "model_to_load", t.checkpoint) == "one by one"
    mine = snapshot(everything)
    disturb()
    t.checkpoint.restore(path).assert_existing_objects_matched()
    theirs = snapshot(everything)
    for a, b, c in zip(mine, theirs, saved, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_keys_are_the_checkpoints_own(tmp_path):
    t = trainer(tmp_path, learnable(), "a", nn__landmark_fnn__max_epochs=1)
    path = t.manager.save()
    saved = set(tf.train.load_checkpoint(path).get_variable_to_shape_map())
    mine = set(variables_by_key(t.checkpoint_parts)) | {SAVE_COUNTER}
    assert {k for k in saved if k.endswith("VARIABLE_VALUE")} <= mine


def test_a_checkpoint_of_other_shapes_falls_back_to_tensorflows_error(tmp_path):
    a = trainer(tmp_path, learnable(), "a", nn__landmark_fnn__max_epochs=1)
    path = a.manager.save()
    b = trainer(tmp_path, learnable(), "b", nn__landmark_fnn__hidden="[32,32]")
    with pytest.raises(UserError, match=r"model_to_load: cannot restore .*ckpt"):
        restore(b.checkpoint_parts, path, "model_to_load")
