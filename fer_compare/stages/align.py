"""align: dlib 68 landmarks on each face crop, similarity-aligned onto the template; landmarks and features stored."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from ..face.alignment import FaceAligner
from ..face.features import landmark_features
from ..face.landmarks import LandmarkPredictor, find_landmark_model
from ..face.template import Template, check_face, resolve_template
from ..files import ImageError, read_gray, write_array, write_image
from ..records import Record, Reject, read_manifest
from .ownership import check_made_with
from .runner import StageResult, prepare_output, run_stage

# After alignment, a real face's landmarks sit within a few pixels of the template's; a crop
# that is not a face (a Haar false positive) leaves them scattered. Measured on the London set:
# real faces <= 0.12 of the inter-ocular distance (RMS); we reject above this.
MAX_ALIGNMENT_ERROR = 0.35


class FaceAlignerStep:
    """Landmarks -> Procrustes -> warp; writes `<key>.png` and `<key>.npz` (landmarks, features)."""

    def __init__(self, config: dict[str, Any], out: Path) -> None:
        self.predictor = LandmarkPredictor(config["landmark_model"])
        size = tuple(config["image"]["size"])
        self.template = Template(config["align_template"], self.predictor, size)
        self.aligner = FaceAligner(self.template.landmarks, size)
        self.out = out
        lm = self.template.landmarks
        self.iod = float(np.linalg.norm(lm[36:42].mean(0) - lm[42:48].mean(0)))

    def __call__(self, record: Record) -> Record | Reject:
        try:
            gray = read_gray(record.path)
        except ImageError as e:
            return Reject(record.source, str(e), record.key, record.emotion, record.subject)
        landmarks = self.predictor(gray)
        aligned, moved = self.aligner(gray, landmarks)
        error = alignment_error(moved, self.template.landmarks) / self.iod
        if error > MAX_ALIGNMENT_ERROR:
            return Reject(record.source, f"landmarks do not fit a face (error {error:.2f} IOD)",
                          record.key, record.emotion, record.subject)
        path = self.out / f"{record.key}.png"
        write_array(self.out / f"{record.key}.npz", landmarks=moved, features=landmark_features(moved))
        write_image(path, aligned)
        return record.at(path)


def alignment_error(points: np.ndarray, template: np.ndarray) -> float:
    """RMS distance between aligned landmarks and the template's, in pixels."""
    return float(np.sqrt(((points - template) ** 2).sum(axis=1).mean()))


def run(config: dict[str, Any]) -> StageResult:
    src, out = Path(config["formatted"]), Path(config["aligned"])
    # Fail early with one line, before workers start; the workers load dlib's model themselves
    # (loading it here too would cost 0.5 s on the critical path).
    find_landmark_model(config["landmark_model"])
    template_path = resolve_template(config["align_template"])
    if not template_path.is_file():
        raise UserError(f"align_template: {template_path} does not exist")
    try:
        check_face(read_gray(template_path), template_path)  # here, once, not as a reject of every photo
    except ImageError as e:
        raise UserError(f"align_template: {template_path} is not a usable image ({e})") from None
    records = read_manifest(src, "formatted")
    check_made_with(src, "formatted", config)
    prepare_output(out, "aligned", [("formatted", src)])  # only once the inputs are known good
    template = resolve_template(config["align_template"])
    return run_stage(
        "align", records, out, partial(FaceAlignerStep, config, out),
        outputs=lambda r: ([out / f"{r.key}.png", out / f"{r.key}.npz"], [Path(r.path), template]),
        workers=config["workers"], source=src,
        settings={"image": config["image"], "landmark_model": config["landmark_model"]},
    )
