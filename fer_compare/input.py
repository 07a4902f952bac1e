"""The tf.data input pipeline: one element spec for training, validation and test data."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf


class InputPipeline:
    """Builds datasets that share one element spec, so one traced step serves all of them.

    This is TF2's form of the thesis's reinitializable iterator (`Iterator.from_structure` +
    `make_initializer` per dataset): instead of re-pointing one iterator, each epoch iterates
    a dataset from this pipeline, and the compiled train/evaluation steps — traced once for
    the shared element spec, with a batch dimension of None — accept any of them.
    Stages: slices of uint8 images (or float features) -> cache -> shuffle (training) ->
    decode to float (+ augmentation, training only) -> batch -> prefetch.
    """

    def __init__(self, kind: str, batch_size: int, seed: int, augment: dict[str, Any] | None = None) -> None:
        self.kind = kind
        self.batch_size = batch_size
        self.seed = seed
        self.augment = augment if augment and augment.get("enabled") and kind != "landmark_fnn" else None

    def _decode(self, x: tf.Tensor) -> tf.Tensor:
        if self.kind == "landmark_fnn":
            return tf.cast(x, tf.float32)
        x = tf.cast(x, tf.float32) / 255.0
        return x[..., None]  # [H, W, 1]

    def _finish(self, x: tf.Tensor) -> tf.Tensor:
        return tf.reshape(x, [-1]) if self.kind == "gradient_fnn" else x

    def _augmented(self, x: tf.Tensor, rnd: tf.Tensor) -> tf.Tensor:
        """Random shift (pad by reflection, crop) and horizontal flip, from a stateless seed."""
        seed = tf.stack([rnd, tf.constant(self.seed, tf.int64)])
        shift = int(self.augment["shift"])
        if shift > 0:
            h, w = x.shape[0], x.shape[1]
            padded = tf.pad(x, [[shift, shift], [shift, shift], [0, 0]], mode="REFLECT")
            x = tf.image.stateless_random_crop(padded, [h, w, 1], seed=seed)
        if self.augment["flip"]:
            x = tf.image.stateless_random_flip_left_right(x, seed=seed + 1)
        return x

    def dataset(self, x: np.ndarray, y: np.ndarray, training: bool, epoch: int = 0) -> tf.data.Dataset:
        """Batches of (inputs, labels); training data is shuffled with seed + epoch (repeatable on resume)."""
        ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32))).cache()
        if training:
            ds = ds.shuffle(max(len(y), 1), seed=self.seed + epoch, reshuffle_each_iteration=False)
        if training and self.augment:
            rnd = tf.data.Dataset.random(seed=self.seed + 7919 * (epoch + 1))
            ds = tf.data.Dataset.zip((ds, rnd)).map(
                lambda xy, r: (self._finish(self._augmented(self._decode(xy[0]), r)), xy[1]),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        else:
            ds = ds.map(lambda a, b: (self._finish(self._decode(a)), b), num_parallel_calls=tf.data.AUTOTUNE,
                        deterministic=True)
        return ds.batch(self.batch_size).prefetch(tf.data.AUTOTUNE)

    def element_spec(self, x: np.ndarray) -> tuple[tf.TensorSpec, tf.TensorSpec]:
        return self.dataset(x[:1], np.zeros(1, np.int32), training=False).element_spec
