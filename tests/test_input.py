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
