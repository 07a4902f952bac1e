"""The per-face chain: crop -> align (with its rejection test) -> landmark features, masked Laplacian or blur.

Built once from the settings and used by the preprocessing stages (one step per stage, each
reading the previous stage's files) and by the video stage (every step in memory, per face), so
that a face reaches a model the same way in training and live.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from ..data import network_image
from ..kinds import CROP, LANDMARKS
from ..kinds import kind as kind_of
from ..settings import Settings
from .alignment import MAX_ALIGNMENT_ERROR, FaceAligner, alignment_error, inter_ocular_distance
from .detection import Box, crop_face
from .features import landmark_features
from .gradient import masked_gradient
from .landmarks import LandmarkPredictor
from .template import Template

# Called with a step's name ("landmarks", "align", "gradient") and the seconds it took.
StepTimer = Callable[[str, float], None]


@dataclass(frozen=True)
class ChainSettings:
    """The settings every step of the chain depends on (picklable: stages send it to worker processes)."""

    image_size: tuple[int, int]  # image.size: (width, height) of crops and aligned faces
    input_size: tuple[int, int]  # nn.input: (width, height) of network images
    align_template: str
    landmark_model: str
    gradient_ksize: int
    gradient_negative: str
    blur_source: str  # blur_options.source: the folder key the blur stage reads
    blur_ksize: int
    blur_sigma: float
    gradient_fnn_source: str  # nn.gradient_fnn.source: "gradients" or "blurred"

    @classmethod
    def from_config(cls, config: Settings, gradient_fnn_source: str | None = None) -> ChainSettings:
        """The chain's settings from a resolved config; `gradient_fnn_source` overrides nn.gradient_fnn.source
        (the video stage passes the source a loaded model was trained on)."""
        return cls(
            image_size=tuple(config.image.size), input_size=tuple(config.nn.input),
            align_template=str(config.align_template), landmark_model=str(config.landmark_model),
            gradient_ksize=config.gradient_options.ksize,
            gradient_negative=config.gradient_options.negative,
            blur_source=config.blur_options.source, blur_ksize=config.blur_options.ksize,
            blur_sigma=float(config.blur_options.sigma),
            gradient_fnn_source=gradient_fnn_source or config.nn.gradient_fnn.source,
        )


@dataclass
class AlignedFace:
    """A crop aligned onto the template: the image, its 68 landmarks in that frame, and how well they fit."""

    image: np.ndarray | None  # uint8, image.size (None when only the landmarks were asked for)
    landmarks: np.ndarray  # float32 [68, 2]
    error: float  # RMS distance to the template's landmarks, in inter-ocular distances

    @property
    def rejection(self) -> str | None:
        """Why the align stage drops this face (Haar false positives leave the landmarks scattered), or None."""
        if self.error > MAX_ALIGNMENT_ERROR:
            return f"landmarks do not fit a face (error {self.error:.2f} IOD)"
        return None


class FaceChain:
    """Each step of turning a grayscale face into a model's input, built once from ChainSettings.

    dlib's predictor and the template load on the first alignment (0.5 s), so a stage that only
    crops or blurs never pays for them.
    """

    def __init__(self, settings: ChainSettings) -> None:
        self.settings = settings

    @classmethod
    def from_config(cls, config: Settings, gradient_fnn_source: str | None = None) -> FaceChain:
        return cls(ChainSettings.from_config(config, gradient_fnn_source))

    @cached_property
    def predictor(self) -> LandmarkPredictor:
        return LandmarkPredictor(self.settings.landmark_model)

    @cached_property
    def template(self) -> Template:
        return Template(self.settings.align_template, self.predictor, self.settings.image_size)

    @cached_property
    def _aligner(self) -> FaceAligner:
        return FaceAligner(self.template.landmarks, self.settings.image_size)

    @cached_property
    def _iod(self) -> float:
        return inter_ocular_distance(self.template.landmarks)

    def load_alignment(self) -> None:
        """Load dlib's predictor and the template now rather than on the first alignment (raises UserError)."""
        _ = self._iod

    # --- the steps, in order ---

    def crop(self, gray: np.ndarray, box: Box) -> np.ndarray:
        """The format stage's crop: the box, resized to image.size."""
        return crop_face(gray, box, self.settings.image_size)

    def landmarks(self, crop: np.ndarray) -> np.ndarray:
        """dlib's 68 landmarks on the whole crop, float32 [68, 2]."""
        return self.predictor(crop)

    def align(self, crop: np.ndarray, landmarks: np.ndarray | None = None, image: bool = True) -> AlignedFace:
        """The align stage's output for a crop (check `.rejection` before using it); `image=False`
        skips warping the image when only the aligned landmarks are needed (the same landmarks)."""
        if landmarks is None:
            landmarks = self.landmarks(crop)
        if image:
            warped, moved = self._aligner(crop, landmarks)
        else:
            warped, moved = None, self._aligner.landmarks(landmarks)
        return AlignedFace(warped, moved, alignment_error(moved, self.template.landmarks) / self._iod)

    def features(self, aligned: AlignedFace) -> np.ndarray:
        """The landmark FNN's input: [4, 42] float32 features of the aligned landmarks."""
        return landmark_features(aligned.landmarks)

    def gradient(self, aligned_image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The gradient stage's image: Laplacian of the aligned face, masked to the face polygon, uint8."""
        s = self.settings
        return masked_gradient(aligned_image, landmarks, s.gradient_ksize, s.gradient_negative)

    def blur(self, image: np.ndarray) -> np.ndarray:
        """The blur stage's image: Gaussian blur with blur_options.ksize and sigma (0: from ksize), uint8."""
        k = self.settings.blur_ksize
        return cv2.GaussianBlur(image, (k, k), self.settings.blur_sigma)

    def network_image(self, image: np.ndarray) -> np.ndarray:
        """A stage image resized to nn.input, as the training data reads it."""
        return network_image(image, self.settings.input_size)

    # --- a whole face, as the video stage needs it ---

    def network_input(self, kind: str, crop: np.ndarray, timer: StepTimer | None = None) -> np.ndarray | None:
        """What the stage folder `kind` trains on holds for this crop (uint8 image or [4, 42] features),
        or None when the align stage would reject it. `timer` gets each step's seconds."""
        return self.network_input_and_landmarks(kind, crop, timer)[0]

    def network_input_and_landmarks(self, kind: str, crop: np.ndarray, timer: StepTimer | None = None
                                    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """`network_input`, and the crop's landmarks when the chain found them (None for the CNN's crop)."""
        timer = timer or _no_timer
        face_input = kind_of(kind).face_input
        if face_input == CROP:
            t0 = time.perf_counter()
            x = self.network_image(crop)
            timer("gradient", time.perf_counter() - t0)
            return x, None
        t0 = time.perf_counter()
        landmarks = self.landmarks(crop)
        t1 = time.perf_counter()
        timer("landmarks", t1 - t0)
        aligned = self.align(crop, landmarks, image=face_input != LANDMARKS)
        if aligned.rejection is not None:
            timer("align", time.perf_counter() - t1)
            return None, landmarks
        if face_input == LANDMARKS:
            x = self.features(aligned)
            timer("align", time.perf_counter() - t1)
            return x, landmarks
        t2 = time.perf_counter()
        timer("align", t2 - t1)
        x = self.network_image(self.gradient_fnn_image(crop, aligned))
        timer("gradient", time.perf_counter() - t2)
        return x, landmarks

    def gradient_fnn_image(self, crop: np.ndarray, aligned: AlignedFace) -> np.ndarray:
        """The gradient FNN's image before resizing: the masked Laplacian, or the blur stage's output of its source."""
        gradient = self.settings.gradient_fnn_source == "gradients"
        if gradient or self.settings.blur_source == "gradients":
            image = self.gradient(aligned.image, aligned.landmarks)
            return image if gradient else self.blur(image)
        return self.blur(crop if self.settings.blur_source == "formatted" else aligned.image)


def _no_timer(step: str, seconds: float) -> None:
    pass
