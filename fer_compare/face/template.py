"""The alignment template: a public-domain face (matplotlib's grace_hopper.jpg), cropped as the format stage crops."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError
from ..files import read_gray, write_image
from .detection import HaarFaceDetector, crop_face
from .landmarks import LandmarkPredictor


def public_domain_faces() -> dict[str, np.ndarray]:
    """Grace Hopper (US Navy photo, matplotlib sample data) and Eileen Collins (NASA, scikit-image), as BGR."""
    import matplotlib.cbook
    from skimage import data

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = cv2.imdecode(np.frombuffer(f.read(), np.uint8), cv2.IMREAD_COLOR)
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    return {"hopper": hopper, "astronaut": astronaut}


def make_template(out: Path, size: tuple[int, int] = (100, 100)) -> Path:
    """Write the default template: Grace Hopper's face, Haar-cropped and resized like a formatted photo."""
    bgr = public_domain_faces()["hopper"]
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    boxes = HaarFaceDetector().detect(gray)
    if len(boxes) != 1:
        raise RuntimeError(f"expected one face in grace_hopper.jpg, found {len(boxes)}")
    write_image(out, crop_face(gray, boxes[0], size))
    return out


PROJECT_ROOT = Path(__file__).resolve().parents[2]


def resolve_template(path: Path | str) -> Path:
    """A relative template path is looked up in the working folder, then in the project's folder."""
    path = Path(path)
    if not path.is_absolute() and not path.exists() and (PROJECT_ROOT / path).is_file():
        return PROJECT_ROOT / path
    return path


def check_face(image: np.ndarray, path: Path) -> None:
    """dlib places 68 points on anything; without a face they are noise, and every photo would be
    warped onto them without a word. The template must hold a face Haar finds."""
    if not HaarFaceDetector().detect(image):
        raise UserError(f"align_template: no face found in {path}; the template must be a face crop "
                        f"(like templates/template.png)")


class Template:
    """The template image and its 68 landmarks, found once."""

    def __init__(self, path: Path | str, predictor: LandmarkPredictor, size: tuple[int, int]) -> None:
        path = resolve_template(path)
        if not path.is_file():
            raise UserError(f"align_template: {path} does not exist")
        try:
            image = read_gray(path)
        except Exception as e:
            raise UserError(f"align_template: {path} is not a usable image ({e})") from None
        if image.shape[1] != size[0] or image.shape[0] != size[1]:
            image = cv2.resize(image, tuple(size), interpolation=cv2.INTER_AREA)
        check_face(image, path)
        self.image = image
        self.landmarks = predictor(image)
