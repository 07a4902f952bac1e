"""The per-face chain: the stage files on disk and the chain as the video stage calls it give the same bytes."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import stage_config

from fer_compare.data import load_model_data
from fer_compare.face.chain import FaceChain
from fer_compare.face.detection import HaarFaceDetector
from fer_compare.files import read_gray
from fer_compare.pipeline import run_pipeline
from fer_compare.records import read_manifest
from fer_compare.settings import Settings, updated
from fer_compare.stages.gradient import load_landmarks
from fer_compare.video import to_gray

PHOTOS = {"neutral": "001_03.jpg", "happy": "001_08.jpg"}


@pytest.fixture(scope="module")
def stages(london: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """format -> align -> gradient -> blur (of each blur source) on two London photos, through the pipeline."""
    tmp = tmp_path_factory.mktemp("chain")
    for emotion, name in PHOTOS.items():
        (tmp / "raw" / emotion).mkdir(parents=True)
        shutil.copy(london / emotion / name, tmp / "raw" / emotion)
    configs = {}
    for source in ("gradients", "aligned", "formatted"):
        config = stage_config(tmp, tmp / "raw", blur=True, train=False, test=False,
                              blur_options__source=source, nn__gradient_fnn__source="blurred")
        config = updated(config, {"blurred": str(tmp / f"blurred-{source}")})
        run_pipeline(config)
        configs[source] = config
    return {"raw": tmp / "raw", "configs": configs}


def video_crop(chain: FaceChain, config: Settings, photo: Path) -> np.ndarray:
    """The photo as the video stage reads a frame from an image folder, cropped at the format stage's face box."""
    frame = cv2.imdecode(np.fromfile(photo, dtype=np.uint8), cv2.IMREAD_COLOR)
    gray = to_gray(frame)
    d = config.detection
    detector = HaarFaceDetector(d.scale_factor, d.min_neighbors, tuple(d.min_size), d.detect_width)
    (box,) = detector.detect(gray)
    return chain.crop(gray, box)


def test_each_step_writes_what_the_chain_computes(stages: dict) -> None:
    config = stages["configs"]["gradients"]
    chain = FaceChain.from_config(config)
    records = read_manifest(Path(config.gradients), "gradients")
    assert len(records) == 2
    for record in records:
        formatted = read_gray(Path(config.formatted) / f"{record.key}.png")
        crop = video_crop(chain, config, Path(record.source))
        assert np.array_equal(crop, formatted)
        aligned = chain.align(crop)
        assert aligned.rejection is None and aligned.error < 0.2
        stored = Path(config.aligned) / f"{record.key}.png"
        assert np.array_equal(aligned.image, read_gray(stored))
        assert np.array_equal(aligned.landmarks, load_landmarks(stored))
        with np.load(stored.with_suffix(".npz")) as z:
            assert np.array_equal(chain.features(aligned), z["features"])
        assert np.array_equal(chain.gradient(aligned.image, aligned.landmarks), read_gray(record.path))


@pytest.mark.parametrize("kind, blur_source", [("cnn", None), ("landmark_fnn", None), ("gradient_fnn", None),
                                               ("gradient_fnn", "gradients"), ("gradient_fnn", "aligned"),
                                               ("gradient_fnn", "formatted")])
def test_network_input_is_the_same_from_stage_files_and_from_the_chain(stages: dict, kind: str,
                                                                         blur_source: str | None) -> None:
    """What training reads from the stage folders == what the video stage computes from the photo, byte for byte."""
    source = "blurred" if blur_source else "gradients"
    config = updated(stages["configs"][blur_source or "gradients"], {"nn.gradient_fnn.source": source})
    data = load_model_data(config, kind)  # the stage files, as training reads them
    assert len(data) == 2
    chain = FaceChain.from_config(config, gradient_fnn_source=source if kind == "gradient_fnn" else None)
    for key, stored in zip(data.keys, data.x, strict=True):
        crop = video_crop(chain, config, stages["raw"] / f"{key}.jpg")
        live = chain.network_input(kind, crop)
        assert live is not None
        assert live.dtype == stored.dtype and live.shape == stored.shape
        assert live.tobytes() == stored.tobytes(), (kind, blur_source, key)
