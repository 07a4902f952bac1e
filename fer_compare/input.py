"""The tf.data input pipeline: one element spec for training, validation and test data."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf

from .face.features import MIRROR_COLUMNS
from .kinds import FEATURES, FLAT, IMAGE
from .kinds import kind as kind_of

if TYPE_CHECKING:
    from .settings import AugmentSettings


class InputPipeline:
    """Builds datasets that share one element spec, so one traced step serves all of them.

    This is TF2's form of the thesis's reinitializable iterator (`Iterator.from_structure` +
    `make_initializer` per dataset): where the thesis re-pointed one iterator between training
    and validation data, the compiled train and evaluation steps here are traced once for the
    shared element spec (batch dimension None) and accept the training dataset and every
    evaluation dataset alike.
    Evaluation data: slices of uint8 images (or float features) -> cache -> decode to float ->
    batch -> prefetch. Training data is one dataset for all epochs (`training_epochs`): each
    epoch a permutation keyed by (seed, epoch), batched, then gathered from the in-memory
    arrays and decoded (+ augmentation); built and iterated once, because rebuilding a
    dataset and its iterator every epoch cost landmark_fnn about a third of its speed.
    """

    def __init__(self, kind: str, batch_size: int, seed: int, augment: AugmentSettings | None = None,
                 mirror_width: float = 0.0) -> None:
        self.kind = kind
        # Landmark features are mirrored in an image this wide (0: features minus a reference).
        self.mirror_width = float(mirror_width)
        self.layout = kind_of(kind).layout
        self.batch_size = batch_size
        self.seed = seed
        # `augment` (shift, flip) is given when this model trains on augmented copies (Settings.augments)
        self.augment = augment if augment and kind_of(kind).augmentable else None

    def _decode(self, x: tf.Tensor) -> tf.Tensor:
        """Stored examples to floats: uint8 images scaled to 0..1 ([H, W, 1]), float examples kept."""
        if self.layout == FEATURES:
            return tf.cast(x, tf.float32)
        x = tf.cast(x, tf.float32) / 255.0 if x.dtype == tf.uint8 else tf.cast(x, tf.float32)
        return x[..., None]  # [H, W, 1]: augmentation works on images

    def _finish(self, x: tf.Tensor) -> tf.Tensor:
        return tf.reshape(x, [-1]) if self.layout == FLAT else x

    def _augmented(self, x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """Random shift (pad by reflection, crop) and horizontal flip, from a stateless [2] seed; landmark
        features are mirrored as the face they came from would be (face/features.mirrored_features)."""
        if self.layout == FEATURES:
            if not self.augment.flip:
                return x
            flip = tf.random.stateless_uniform([], seed=seed + 1) < 0.5
            mirrored = tf.gather(x, MIRROR_COLUMNS, axis=-1)
            offset = self.mirror_width - 1 if self.mirror_width else 0.0
            mirrored = tf.concat([offset - mirrored[:1], mirrored[1:]], axis=0)
            return tf.where(flip, mirrored, x)
        # Shifts, turns and zooms only for unaligned crops: an aligned face (the gradient FNN's input) is
        # already in place.
        if self.layout == IMAGE and (self.augment.rotate > 0 or self.augment.zoom > 0):
            x = self._turned_and_zoomed(x, seed + 2)
        shift = int(self.augment.shift) if self.layout == IMAGE else 0
        if shift > 0:
            h, w = x.shape[0], x.shape[1]
            padded = tf.pad(x, [[shift, shift], [shift, shift], [0, 0]], mode="REFLECT")
            x = tf.image.stateless_random_crop(padded, [h, w, 1], seed=seed)
        if self.augment.flip:
            x = tf.image.stateless_random_flip_left_right(x, seed=seed + 1)
        return x

    def _turned_and_zoomed(self, x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """The image turned by up to ±augment.rotate degrees and scaled by up to 1 ± augment.zoom about its
        centre (bilinear, edges reflected as for shifts), from a stateless [2] seed."""
        h, w = x.shape[0], x.shape[1]
        u = tf.random.stateless_uniform([2], seed=seed, minval=-1.0, maxval=1.0)
        angle = u[0] * float(self.augment.rotate) * (np.pi / 180.0)
        size = 1.0 + u[1] * float(self.augment.zoom)
        # The transform maps each output pixel to the input pixel it reads: the inverse turn and zoom.
        c, s = tf.cos(angle) / size, tf.sin(angle) / size
        cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
        transform = tf.stack([c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy, 0.0, 0.0])
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=x[None], transforms=transform[None], output_shape=tf.constant([h, w], tf.int32),
            fill_value=tf.constant(0.0), interpolation="BILINEAR", fill_mode="REFLECT")[0]

    def dataset(self, x: np.ndarray, y: np.ndarray) -> tf.data.Dataset:
        """Batches of (inputs, labels) in the given order: validation and test data."""
        ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32))).cache()
        ds = ds.map(lambda a, b: (self._finish(self._decode(a)), b), num_parallel_calls=tf.data.AUTOTUNE,
                    deterministic=True)
        return ds.batch(self.batch_size).prefetch(tf.data.AUTOTUNE)

    def training_epochs(self, x: np.ndarray, y: np.ndarray, first_epoch: int, last_epoch: int) -> tf.data.Dataset:
        """Batches of epochs first_epoch .. last_epoch - 1 back to back, ceil(N / batch_size) per epoch.

        Epoch e's order is index_shuffle keyed by (seed, e), so a resumed run sees the batches
        an uninterrupted one would; augmentation draws from (seed, e, position) likewise.
        """
        n = len(y)
        images = tf.constant(x)
        labels = tf.constant(y.astype(np.int32))
        seed = tf.constant(self.seed, tf.int64)

        def one_epoch(epoch: tf.Tensor) -> tf.data.Dataset:
            order = tf.random.experimental.index_shuffle(
                tf.range(n, dtype=tf.int64), tf.stack([seed, epoch]), tf.constant(n - 1, tf.int64))
            rows = tf.data.Dataset.from_tensor_slices(order)
            if self.augment:
                positions = tf.data.Dataset.range(n)
                rows = tf.data.Dataset.zip((rows, positions)).map(
                    lambda i, k: (self._finish(self._augmented(
                        self._decode(tf.gather(images, i)), tf.stack([seed + 7919 * (epoch + 1), k]))),
                        tf.gather(labels, i)), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
                return rows.batch(self.batch_size)
            # Whole batches are gathered and decoded at once: one op per batch, not per photo.
            return rows.batch(self.batch_size).map(
                lambda i: (self._finish_batch(self._decode(tf.gather(images, i))), tf.gather(labels, i)))

        epochs = tf.data.Dataset.range(first_epoch, last_epoch)
        return epochs.flat_map(one_epoch).prefetch(tf.data.AUTOTUNE)

    def _finish_batch(self, x: tf.Tensor) -> tf.Tensor:
        return tf.reshape(x, [tf.shape(x)[0], -1]) if self.layout == FLAT else x

    def element_spec(self, x: np.ndarray) -> tuple[tf.TensorSpec, tf.TensorSpec]:
        return self.dataset(x[:1], np.zeros(1, np.int32)).element_spec
