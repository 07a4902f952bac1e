"""Shared fixtures: the real photos (London set, public-domain faces) and small trees built from them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from fer_compare.settings import Settings
from fer_compare.tf_import import import_tensorflow

import_tensorflow()  # the suite runs TensorFlow as the CLI does: without Keras

ROOT = Path(__file__).resolve().parents[1]
LONDON = ROOT.parent / "shared" / "datasets" / "frl-london"


@pytest.fixture(scope="session")
def london() -> Path:
    """The Face Research Lab London set (102 subjects, neutral and happy), read in place."""
    if not (LONDON / "neutral").is_dir():
        message = f"the London set is not at {LONDON} (see ../shared/datasets/README.md)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {message}: a test that needs real photos must not pass by skipping")
        pytest.skip(message)
    return LONDON


@pytest.fixture(scope="session")
def london_subset(london: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Class folders with 12 London subjects (24 photos), copied to a temporary folder."""
    out = tmp_path_factory.mktemp("london_subset")
    subjects = sorted(p.name[:3] for p in (london / "neutral").glob("*.jpg"))[:12]
    for emotion, take in (("neutral", "03"), ("happy", "08")):
        (out / emotion).mkdir()
        for s in subjects:
            src = london / emotion / f"{s}_{take}.jpg"
            if src.exists():
                shutil.copy(src, out / emotion / src.name)
    return out


@pytest.fixture(scope="session")
def faces():
    """Public-domain faces as BGR arrays: Grace Hopper (matplotlib) and Eileen Collins (scikit-image)."""
    from fer_compare.face.template import public_domain_faces

    return public_domain_faces()


@pytest.fixture(scope="session")
def predictor():
    """dlib's 68-point predictor from face_recognition_models."""
    from fer_compare.face.landmarks import LandmarkPredictor

    return LandmarkPredictor()


@pytest.fixture(scope="session")
def template(predictor):
    """The repository's alignment template at the default 100x100 crop."""
    from fer_compare.face.template import Template

    return Template(ROOT / "templates" / "template.png", predictor, (100, 100))


def face_crop(gray):
    """The 100x100 crop of the one face Haar finds in a grayscale photo."""
    from fer_compare.face.detection import HaarFaceDetector, crop_face

    boxes = HaarFaceDetector().detect(gray)
    assert len(boxes) == 1
    return crop_face(gray, boxes[0], (100, 100))


def stage_config(tmp: Path, raw: Path, **overrides) -> Settings:
    """A resolved config whose outputs all live under tmp."""
    from fer_compare.settings import load_config

    sets = [f"raw_source={raw}", f"formatted={tmp / 'formatted'}", f"aligned={tmp / 'aligned'}",
            f"gradients={tmp / 'gradients'}", f"blurred={tmp / 'blurred'}", f"runs_dir={tmp / 'runs'}",
            f"model_to_save={tmp / 'models'}", "demo_set=false", "workers=1",
            f"align_template={ROOT / 'templates' / 'template.png'}"]
    import json

    sets += [f"{k.replace('__', '.')}={json.dumps(v)}" for k, v in overrides.items()]
    return load_config(None, sets)


@pytest.fixture(scope="session")
def london_stages(london_subset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The London subset through format, align and gradient: a config whose stage folders hold it."""
    from fer_compare.stages import align, format, gradient

    tmp = tmp_path_factory.mktemp("london_stages")
    config = stage_config(tmp, london_subset)
    for stage in (format, align, gradient):
        stage.run(config)
    return config
