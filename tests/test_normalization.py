"""Identity normalisation against hand-computed examples, and the live running baseline."""

from __future__ import annotations

import numpy as np
import pytest

from fer_compare.data import PhotoSet
from fer_compare.normalization import RunningBaseline, normalise


def photo_set(dtype=np.float32) -> PhotoSet:
    # Person A: two neutral photos and one happy; person B: one happy photo only.
    x = np.array([[[1.0, 2.0]], [[3.0, 4.0]], [[10.0, 20.0]], [[7.0, 7.0]]], dtype)
    return PhotoSet(x, np.array(["neutral", "neutral", "happy", "happy"]), ["a1", "a2", "a3", "b1"],
                    np.array(["A", "A", "A", "B"]), np.array([""] * 4), "hand")


def test_none_leaves_the_inputs_alone():
    photos = photo_set()
    out, missing = normalise(photos, "none")
    assert out is photos and missing == []


def test_mean_subtracts_the_mean_of_all_the_persons_photos():
    out, missing = normalise(photo_set(), "mean")
    mean_a = np.array([[14.0 / 3, 26.0 / 3]])
    np.testing.assert_allclose(out.x[0], [[1.0, 2.0]] - mean_a, rtol=1e-6)
    np.testing.assert_allclose(out.x[2], [[10.0, 20.0]] - mean_a, rtol=1e-6)
    np.testing.assert_allclose(out.x[3], [[0.0, 0.0]])  # B's only photo is its own reference
    assert missing == []


def test_neutral_subtracts_the_mean_of_the_persons_other_neutral_photos():
    out, missing = normalise(photo_set(), "neutral")
    np.testing.assert_allclose(out.x[0], [[1.0 - 3.0, 2.0 - 4.0]])  # a1 against a2 only
    np.testing.assert_allclose(out.x[1], [[3.0 - 1.0, 4.0 - 2.0]])  # a2 against a1 only
    np.testing.assert_allclose(out.x[2], [[10.0 - 2.0, 20.0 - 3.0]])  # a3 against the mean of a1 and a2
    assert missing == ["b1"]  # B has no neutral photo: no reference, reported


def test_uint8_images_are_normalised_in_network_units():
    photos = photo_set(np.uint8)
    out, _ = normalise(photos, "mean")
    assert out.x.dtype == np.float32
    np.testing.assert_allclose(out.x[3], [[0.0, 0.0]])
    np.testing.assert_allclose(out.x[0], ([[1.0, 2.0]] - np.array([[14 / 3, 26 / 3]])) / 255, rtol=1e-5)


@pytest.mark.parametrize("mode", ["mean", "neutral"])
def test_the_running_baseline_converges_on_a_clip_of_one_person(faces, mode):
    """Frames of one face with camera noise: after the warm-up the reference is that face."""
    import cv2

    face = cv2.resize(cv2.cvtColor(faces["hopper"], cv2.COLOR_BGR2GRAY), (70, 70), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(0)
    baseline = RunningBaseline(mode, warmup=10)
    readies = []
    for _ in range(200):
        frame = np.clip(face.astype(int) + rng.integers(-6, 7, face.shape), 0, 255).astype(np.uint8)
        out = baseline.update(frame)
        readies.append(baseline.ready)
    assert readies[:9] == [False] * 9 and all(readies[9:])
    reference = baseline.total / baseline.count
    # The reference converged to the face itself (noise averages out), so the output is only noise.
    assert np.abs(reference - face / 255.0).mean() < (3.0 if mode == "neutral" else 1.0) / 255
    assert np.abs(out).mean() < 6.0 / 255
