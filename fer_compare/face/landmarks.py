"""dlib's 68-point shape predictor, found inside the face_recognition_models package without importing it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import dlib
import numpy as np

from ..errors import UserError

MODEL_FILE = "shape_predictor_68_face_landmarks.dat"


def find_landmark_model(override: str = "") -> Path:
    """The 68-point model: `override` if given, else the copy shipped in face_recognition_models.

    The package's __init__ imports pkg_resources (gone from setuptools >= 82), so we locate its
    folder with importlib's finder instead of importing it.
    """
    if override:
        path = Path(override)
        if not path.is_file():
            raise UserError(f"landmark_model: {path} does not exist")
        return path
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "landmark_model: face_recognition_models is not installed; install it or set landmark_model"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "models" / MODEL_FILE
        if path.is_file():
            return path
    raise UserError(f"landmark_model: {MODEL_FILE} not found in face_recognition_models; set landmark_model")


class LandmarkPredictor:
    """dlib's 68-point predictor (iBUG 300-W scheme, 0-based indices) on a face box."""

    def __init__(self, model_path: str | Path = "") -> None:
        path = find_landmark_model(str(model_path))
        try:
            self._predictor = dlib.shape_predictor(str(path))
        except RuntimeError as e:
            raise UserError(f"landmark_model: {path} is not a dlib shape predictor ({e})") from None

    def __call__(self, gray: np.ndarray, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """68 (x, y) points as float32 [68, 2]; `box` = (x, y, w, h), default the whole image."""
        if box is None:
            box = (0, 0, gray.shape[1], gray.shape[0])
        x, y, w, h = box
        rect = dlib.rectangle(int(x), int(y), int(x + w - 1), int(y + h - 1))
        shape = self._predictor(np.ascontiguousarray(gray), rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
