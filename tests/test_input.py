"""The input pipeline: seeded epoch permutations that resume alike, and augmentation of training data only."""

from __future__ import annotations

import numpy as np

from fer_compare.input import InputPipeline
from fer_compare.settings import AugmentSettings


def test_augmentation_touches_training_data_only():
    x = np.zeros((4, 10, 10), np.uint8)
    x[:, :, :3] = 255  # a bright band on the left: flips and shifts move it
    y = np.zeros(4, np.int32)
    pipe = InputPipeline("cnn", 4, seed=0, augment=AugmentSettings(enabled=True, shift=2, flip=True))
    train = next(iter(pipe.training_epochs(x, y, 0, 1)))[0].numpy()
    evaluation = next(iter(pipe.dataset(x, y)))[0].numpy()
    assert (evaluation[..., 0] == x / 255).all()
    assert not (train[..., 0] == x / 255).all()


def test_training_epochs_are_seeded_permutations_that_resume_alike():
    x = np.arange(10, dtype=np.float32)[:, None, None] * np.ones((10, 4, 42), np.float32)
    y = np.arange(10, dtype=np.int32)
    pipe = InputPipeline("landmark_fnn", 4, seed=3)

    def epochs(first: int, last: int) -> list[list[int]]:
        labels = np.concatenate([b.numpy() for _, b in pipe.training_epochs(x, y, first, last)])
        return labels.reshape(last - first, 10).tolist()

    from_start = epochs(0, 4)
    assert all(sorted(e) == list(range(10)) for e in from_start)  # every photo once per epoch
    assert len({tuple(e) for e in from_start}) == 4  # a new order each epoch
    assert epochs(2, 4) == from_start[2:]  # a resumed run sees the same batches
    batch_sizes = [len(b) for _, b in pipe.training_epochs(x, y, 0, 2)]
    assert batch_sizes == [4, 4, 2, 4, 4, 2]  # batches never straddle two epochs
    features = next(iter(pipe.training_epochs(x, y, 0, 1)))
    assert (features[0].numpy()[:, 0, 0] == features[1].numpy()).all()  # inputs stay with their labels


def test_turns_and_zooms_move_a_crops_content_about_its_centre():
    """A bright dot right of the centre: a turn of up to 90 degrees moves it off its row, a zoom to 1.5x
    moves it outwards; the centre pixel stays where it is; no turn and no zoom change nothing."""
    x = np.zeros((1, 21, 21), np.uint8)
    x[0, 10, 10] = 255
    x[0, 10, 16] = 255
    y = np.zeros(1, np.int32)

    def augmented(**keys) -> np.ndarray:
        pipe = InputPipeline("cnn", 1, seed=0, augment=AugmentSettings(enabled=True, shift=0, flip=False, **keys))
        return np.stack([b[0][0, ..., 0].numpy() for b in pipe.training_epochs(x, y, 0, 8)])

    np.testing.assert_allclose(augmented(rotate=0.0, zoom=0.0), np.repeat(x / 255.0, 8, axis=0), atol=1e-6)
    turned = augmented(rotate=90.0)
    assert (turned[:, 10, 10] == 1.0).all()  # the centre turns onto itself
    outside = turned.copy()
    outside[:, 8:13, 8:13] = 0  # the dot, not the centre
    rows = [np.unravel_index(np.argmax(t), t.shape)[0] for t in outside]
    assert len(set(rows)) > 1  # the dot left its row in some epochs
    zoomed = augmented(zoom=0.5)
    assert (zoomed[:, 10, 10] > 0.5).all()
    radii = [np.abs(np.argmax(z[10, 12:]) + 2) for z in zoomed]  # the dot 6 px right of centre, times 0.5-1.5
    assert min(radii) <= 5 and max(radii) >= 7, radii
