"""A SYNTHETIC demo dataset: two public-domain faces, posed into the eight emotions by landmark warps.

Nothing here is a real expression. Each source face (Grace Hopper, US Navy photo shipped with
matplotlib; Eileen Collins, NASA photo shipped with scikit-image) is detected, its 68 dlib landmarks
are found, and every (subject, emotion) image is a piecewise-affine (Delaunay) warp of the photo from
the source landmarks to target landmarks = source + identity jitter + emotion displacement. A subject
is one random identity (pose, face shape, eye distance, exposure, noise), shared by its 8 emotions,
so two images of one subject differ only around the face features. Built offline in a few seconds,
it lets the whole pipeline run without a licensed dataset; its accuracies mean nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..emotions import EMOTIONS
from ..errors import UserError
from ..face.detection import HaarFaceDetector
from ..face.landmarks import LandmarkPredictor
from ..files import atomic_write_text, write_image
from .face_warp import darken_brows, darken_mouth, eye_frame, fixed_anchors, inverse_map

MARKER = ".fer_compare_demo"
MAX_ATTEMPTS = 8  # random identities tried per subject until all 8 images pass the checks below
MAX_BROW_ERROR = 0.18  # dlib's landmarks vs the intended ones, mean over the brows, in IODs
MAX_MOUTH_ERROR = 0.11  # ... over the mouth
FORMAT_VERSION = 1
FACE_FRACTION = 0.50  # Haar face box width / image width, before the subject's scale jitter

README = """\
# SYNTHETIC demo dataset - not real facial expressions

Built by `fer_compare.datasets.demo.build_demo_set` so that the pipeline can run without a
licensed dataset. For smoke runs only: accuracies measured on it say nothing about emotion
recognition.

* Sources (public domain): Grace Hopper, US Navy photo (matplotlib's `grace_hopper.jpg`);
  Eileen Collins, NASA photo (scikit-image's `data.astronaut()`).
* Every image is one of these two photos, warped piecewise-affinely from its 68 dlib landmarks to
  target landmarks = source + a random per-subject identity jitter + a fixed displacement per
  emotion (mouth corners, lips, brows, eyelids, jaw). The "subjects" are random variants of
  the same two people (scale, rotation, shift, face shape, eye distance, exposure, noise).
* Layout: `<emotion>/<subject>_<emotion>.png`, {n} images, {subjects} subjects x {emotions} emotions,
  {size}x{size} BGR; seed {seed}.

Delete this folder to rebuild it; `{marker}` marks it as generated.
"""


# --- emotion displacements, in units of the inter-ocular distance (IOD), in the face's frame ----------
# x points from the image-left eye to the image-right eye, y points down (towards the chin).
# Indices are dlib's 68-point scheme, 0-based; _mirror copies image-left moves to the right side.

def _mirror(moves: dict[int, tuple[float, float]]) -> dict[int, tuple[float, float]]:
    """Add the image-right counterpart (x negated) of each image-left landmark move."""
    pairs = {}
    for a, b in [(0, 16), (1, 15), (2, 14), (3, 13), (4, 12), (5, 11), (6, 10), (7, 9),
                 (17, 26), (18, 25), (19, 24), (20, 23), (21, 22), (36, 45), (37, 44), (38, 43),
                 (39, 42), (41, 46), (40, 47), (31, 35), (32, 34), (48, 54), (49, 53), (50, 52),
                 (59, 55), (58, 56), (60, 64), (61, 63), (67, 65)]:
        pairs[a] = b
    out = dict(moves)
    for i, (dx, dy) in moves.items():
        if i in pairs:
            out[pairs[i]] = (-dx, dy)
    return out


def _brows(dy_outer: float, dy_inner: float, dx_inner: float = 0.0) -> dict[int, tuple[float, float]]:
    """Image-left brow 17 (outer) .. 21 (inner), interpolated; dx_inner > 0 pulls towards the midline."""
    return {17 + k: (dx_inner * k / 4, dy_outer + (dy_inner - dy_outer) * k / 4) for k in range(5)}


EMOTION_MOVES: dict[str, dict[int, tuple[float, float]]] = {
    "neutral": {},
    "happy": _mirror({
        48: (-0.11, -0.13), 49: (-0.05, -0.05), 59: (-0.06, -0.05), 58: (-0.02, 0.02), 57: (0.0, 0.03),
        60: (-0.09, -0.10), 61: (-0.03, -0.03), 67: (-0.03, -0.01), 66: (0.0, 0.01),
        2: (0.0, -0.03), 3: (0.01, -0.05), 4: (0.0, -0.04), 31: (-0.02, -0.02),
        41: (0.0, -0.035), 40: (0.0, -0.035),
    }),
    "sad": _mirror({
        **_brows(0.07, -0.15, 0.04),
        48: (0.02, 0.14), 59: (0.01, 0.06), 49: (0.0, 0.035), 60: (0.02, 0.10), 67: (0.0, 0.02),
        58: (0.0, 0.0), 57: (0.0, -0.03), 37: (0.0, 0.03), 38: (0.0, 0.02),
    }),
    "angry": _mirror({
        **_brows(0.05, 0.11, 0.06),
        37: (0.0, 0.02), 38: (0.01, 0.03), 41: (0.0, -0.03), 40: (0.0, -0.03),
        49: (0.0, 0.04), 50: (0.0, 0.045), 51: (0.0, 0.045), 59: (0.0, -0.045), 58: (0.0, -0.05),
        57: (0.0, -0.05), 48: (0.03, 0.01), 60: (0.02, 0.0), 31: (-0.015, 0.0),
    }),
    "disgusted": _mirror({
        **_brows(0.05, 0.09, 0.03),
        31: (-0.02, -0.07), 32: (-0.01, -0.05), 33: (0.0, -0.04), 30: (0.0, -0.02),
        49: (0.0, -0.10), 50: (0.0, -0.11), 51: (0.0, -0.10), 61: (0.0, -0.08), 62: (0.0, -0.08),
        48: (0.01, 0.03), 60: (0.01, 0.01), 59: (0.0, -0.02), 58: (0.0, -0.03), 57: (0.0, -0.03),
        41: (0.0, -0.04), 40: (0.0, -0.04),
    }),
    "surprised": _mirror({
        **_brows(-0.15, -0.17, 0.0),
        37: (0.0, -0.06), 38: (0.0, -0.06), 41: (0.0, 0.03), 40: (0.0, 0.03),
        48: (0.03, 0.09), 60: (0.05, 0.10), 49: (0.01, -0.02), 50: (0.0, -0.03), 51: (0.0, -0.03),
        61: (0.01, -0.02), 62: (0.0, -0.02),
        59: (0.02, 0.22), 58: (0.0, 0.27), 57: (0.0, 0.28), 67: (0.01, 0.24), 66: (0.0, 0.26),
        8: (0.0, 0.25), 7: (0.0, 0.22), 6: (0.0, 0.16), 5: (0.0, 0.09), 4: (0.0, 0.03),
    }),
    "fearful": _mirror({
        **_brows(-0.08, -0.16, 0.06),
        37: (0.0, -0.06), 38: (0.0, -0.06), 41: (0.0, 0.02), 40: (0.0, 0.02),
        48: (-0.14, 0.04), 49: (-0.07, 0.0), 59: (-0.08, 0.08), 58: (-0.03, 0.10), 57: (0.0, 0.10),
        60: (-0.12, 0.03), 61: (-0.04, 0.0), 67: (-0.04, 0.09), 66: (0.0, 0.10),
        8: (0.0, 0.08), 7: (0.0, 0.07), 6: (0.0, 0.04), 5: (0.0, 0.02),
    }),
    "contemptuous": {
        54: (0.12, -0.15), 64: (0.10, -0.11), 53: (0.05, -0.07), 55: (0.05, -0.06), 52: (0.01, -0.02),
        63: (0.03, -0.04), 65: (0.03, -0.03), 13: (0.0, -0.04), 12: (0.0, -0.03),
    },
}

# Eileen Collins smiles with her teeth showing: close and relax her mouth to make her neutral face.
BASE_MOVES: dict[str, dict[int, tuple[float, float]]] = {
    "astronaut": _mirror({
        48: (0.05, 0.05), 60: (0.05, 0.06), 49: (0.02, 0.04), 50: (0.0, 0.035), 51: (0.0, 0.03),
        61: (0.01, 0.065), 62: (0.0, 0.06), 59: (0.02, -0.035), 58: (0.0, -0.05), 57: (0.0, -0.05),
        67: (0.01, -0.06), 66: (0.0, -0.065),
    }),
}

# Both women's brows are faint (and Hopper's meet her glasses): darken them a little, so that they, and
# not the hair fringe or the frames, are what a landmark detector follows when they move.
BROW_DARKENING = {"astronaut": 0.35, "hopper": 0.25}


@dataclass(frozen=True)
class _Source:
    name: str
    image: np.ndarray        # BGR, pre-shrunk so that the warp only enlarges or slightly shrinks
    landmarks: np.ndarray    # [68, 2] in `image` pixels
    box: tuple[float, float, float, float]  # Haar box (x, y, w, h) in `image` pixels


def _load_sources(size: int, predictor: LandmarkPredictor) -> list[_Source]:
    """Detect and landmark the two public-domain faces (fixed photos: exactly one face each)."""
    from ..face.template import public_domain_faces

    detector = HaarFaceDetector(min_size=(0.1, 0.1))  # the astronaut's face is a fifth of her photo
    out = []
    for name, bgr in sorted(public_domain_faces().items()):
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        boxes = detector.detect(gray)
        if not boxes:
            raise RuntimeError(f"demo set: no face found in the public-domain photo {name!r}")
        b = boxes[0]
        landmarks = predictor(gray, (b.x, b.y, b.w, b.h)).astype(np.float64)
        box = np.array([b.x, b.y, b.w, b.h], np.float64)
        # Shrink with INTER_AREA first, so the warp (bilinear) does not alias.
        f = min(1.0, 1.1 * size * FACE_FRACTION / b.w)
        if f < 1.0:
            shape = (round(bgr.shape[1] * f), round(bgr.shape[0] * f))
            bgr = cv2.resize(bgr, shape, interpolation=cv2.INTER_AREA)
            landmarks, box = landmarks * f, box * f
        out.append(_Source(name, bgr, landmarks, tuple(box)))
    return out


def _moves_to_offsets(moves: dict[int, tuple[float, float]], lm: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """Landmark offsets in pixels for moves given in IODs in the face's frame (see EMOTION_MOVES)."""
    ex, ey, iod = eye_frame(lm)
    off = np.zeros((68, 2))
    for i, (dx, dy) in moves.items():
        off[i] = gain * iod * (dx * ex + dy * ey)
    return off


@dataclass(frozen=True)
class _Subject:
    name: str
    source: _Source
    matrix: np.ndarray        # 2x3 affine, source photo -> output square
    identity: np.ndarray      # [68, 2] landmark offsets in output pixels (face shape, eye distance)
    gain: float               # expression intensity
    contrast: float
    brightness: float
    gamma: float
    noise: np.ndarray         # [size, size, 1] additive noise, same for all of the subject's images


def _make_subject(source: _Source, index: int, face_index: int,
                  seed: int, size: int, attempt: int) -> _Subject:
    rng = np.random.default_rng([seed % 2**32, face_index, index, attempt])

    def u(r: float) -> float:
        return float(rng.uniform(-r, r))

    scale = 1.0 + u(0.06)
    angle = np.deg2rad(u(6.0))
    stretch = np.diag([1.0 + u(0.05), 1.0 + u(0.05)])
    shift = np.array([u(0.04), u(0.04)]) * size
    w = source.box[2]
    centre = (source.landmarks.min(0) + source.landmarks.max(0)) / 2  # brows to chin: room for a dropped jaw
    k = size * FACE_FRACTION * scale / w
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    a = k * rot @ stretch
    t = np.array([size / 2, size / 2]) + shift - a @ centre
    matrix = np.hstack([a, t[:, None]])
    placed = source.landmarks @ a.T + t
    # Identity: eye distance, brow height, nose length, mouth width and height, jaw width, chin length.
    eyes, brows, nose, mouth_w = u(0.035), u(0.04), u(0.04), u(0.04)
    mouth_y, jaw, chin = u(0.03), u(0.04), u(0.05)
    moves: dict[int, tuple[float, float]] = {}
    for i in range(36, 42):
        moves[i] = (-eyes, 0.0)
    for i in range(17, 22):
        moves[i] = (-eyes / 2, -brows)
    for i in range(31, 36):
        moves[i] = (0.0, nose)
    for i in range(48, 60):
        moves[i] = (0.0, mouth_y + nose / 2)
    for i in range(60, 68):
        moves[i] = (0.0, mouth_y + nose / 2)
    moves[48] = (-mouth_w, mouth_y + nose / 2)
    moves[60] = (-mouth_w * 0.8, mouth_y + nose / 2)
    for i, f in enumerate((0.6, 0.8, 1.0, 1.0, 0.8, 0.5)):  # jaw 0-5
        moves[i] = (-jaw * f, 0.0)
    for i, f in zip(range(6, 9), (0.5, 0.8, 1.0), strict=True):  # chin 6-8
        moves[i] = (0.0, chin * f)
    identity = _moves_to_offsets(_mirror(moves), placed)
    identity += _moves_to_offsets(BASE_MOVES.get(source.name, {}), placed)
    noise = rng.normal(0.0, rng.uniform(1.0, 4.0), (size, size, 1))
    return _Subject(
        name=f"{source.name}{index + 1:02d}", source=source, matrix=matrix, identity=identity,
        gain=float(rng.uniform(0.9, 1.2)), contrast=1.0 + u(0.15), brightness=u(0.15) * 128,
        gamma=float(np.exp(u(0.15))), noise=noise,
    )


def _render(subject: _Subject, emotion: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The BGR image and its intended 68 landmarks."""
    m = subject.matrix
    placed = subject.source.landmarks @ m[:, :2].T + m[:, 2]
    shaped = placed + subject.identity
    target = shaped + _moves_to_offsets(EMOTION_MOVES[emotion], shaped, subject.gain)
    target = np.clip(target, 0, size - 1)
    anchors = fixed_anchors(placed, target, size)
    src = np.vstack([placed, anchors])
    dst = np.vstack([target, anchors])
    warped = inverse_map(src, dst, len(placed), size)  # output pixel -> placed-frame position
    inv = cv2.invertAffineTransform(m)
    photo = warped @ inv[:, :2].T + inv[:, 2]  # -> source-photo position
    map_x = photo[:, 0].reshape(size, size).astype(np.float32)
    map_y = photo[:, 1].reshape(size, size).astype(np.float32)
    image = cv2.remap(subject.source.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    image = darken_brows(image.astype(np.float64), target, BROW_DARKENING.get(subject.source.name, 0.0))
    image = darken_mouth(image, shaped, target)
    # Exposure: contrast about mid-grey, brightness, gamma, then sensor noise.
    image = (image - 128.0) * subject.contrast + 128.0 + subject.brightness
    image = 255.0 * (np.clip(image, 0, 255) / 255.0) ** subject.gamma + subject.noise
    return np.clip(np.round(image), 0, 255).astype(np.uint8), target


def _pose_subject(
    source: _Source, index: int, face_index: int, seed: int, size: int,
    detector: HaarFaceDetector, predictor: LandmarkPredictor,
) -> dict[str, np.ndarray]:
    """The subject's 8 images, checked as the pipeline will see them.

    Haar must find exactly one face in each (the format stage drops the others), and dlib's
    landmarks must land near the intended ones (not, say, the brows on a hair fringe). A subject
    that fails is drawn again with the next random identity, deterministically.
    """
    best: tuple[int, dict[str, np.ndarray]] | None = None
    for attempt in range(MAX_ATTEMPTS):
        subject = _make_subject(source, index, face_index, seed, size, attempt)
        images, misses = {}, 0
        for emotion in EMOTIONS:
            image, target = _render(subject, emotion, size)
            images[emotion] = image
            misses += not _looks_as_intended(image, target, detector, predictor)
        if misses == 0:
            return images
        if best is None or misses < best[0]:
            best = (misses, images)
    assert best is not None
    return best[1]


def _looks_as_intended(
    image: np.ndarray, target: np.ndarray, detector: HaarFaceDetector, predictor: LandmarkPredictor
) -> bool:
    """One Haar face, and dlib's brows and mouth close to the landmarks we warped them to."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    boxes = detector.detect(gray)
    if len(boxes) != 1:
        return False
    b = boxes[0]
    found = predictor(gray, (b.x, b.y, b.w, b.h))
    _, _, iod = eye_frame(target)
    error = np.linalg.norm(found - target, axis=1) / iod
    return bool(error[17:27].mean() < MAX_BROW_ERROR and error[48:68].mean() < MAX_MOUTH_ERROR)


def _expected(out: Path, subjects_per_face: int) -> list[Path]:
    return [out / emotion / f"{name}{i + 1:02d}_{emotion}.png"
            for name in ("astronaut", "hopper") for i in range(subjects_per_face) for emotion in EMOTIONS]


def build_demo_set(
    out: Path, subjects_per_face: int = 6, seed: int = 0, size: int = 256, landmark_model: str | Path = ""
) -> int:
    """Write `out/<emotion>/<subject>_<emotion>.png` for the 8 emotions; return the number of images.

    `out` must not exist, be empty, or be an earlier demo set (it holds the `.fer_compare_demo`
    marker); a complete demo set built with the same settings is left untouched, an incomplete
    one (say, after a crash) is rebuilt. `landmark_model` overrides dlib's 68-point model file.
    """
    out = Path(out)
    if subjects_per_face < 1 or size < 64:
        raise UserError(f"demo set: needs subjects_per_face >= 1 (got {subjects_per_face}) "
                        f"and size >= 64 (got {size})")
    settings = {"version": FORMAT_VERSION, "subjects_per_face": subjects_per_face, "seed": seed, "size": size}
    marker = out / MARKER
    expected = _expected(out, subjects_per_face)
    if out.exists():
        if not out.is_dir():
            raise UserError(f"demo set: {out} exists and is not a folder")
        if not marker.is_file():
            if any(out.iterdir()):
                raise UserError(f"demo set: {out} exists and is not a demo set (no {MARKER}); "
                                "not writing into it - choose another folder")
        elif _read_marker(marker) == settings and all(p.is_file() for p in [*expected, out / "README.md"]):
            return len(expected)
    # Claim the folder first: a crash part-way leaves a marked, incomplete set that the next call rebuilds.
    atomic_write_text(marker, json.dumps(settings, sort_keys=True) + "\n")
    keep = set(expected)
    for emotion in EMOTIONS:  # images of an earlier build with other settings
        for stale in (out / emotion).glob("*.png") if (out / emotion).is_dir() else []:
            if stale not in keep:
                stale.unlink()
    detector = HaarFaceDetector()  # the thesis's parameters, as the format stage uses them
    predictor = LandmarkPredictor(landmark_model)
    paths = iter(expected)
    for face_index, source in enumerate(_load_sources(size, predictor)):
        for i in range(subjects_per_face):
            images = _pose_subject(source, i, face_index, seed, size, detector, predictor)
            for emotion in EMOTIONS:
                path = next(paths)
                assert path.parent.name == emotion and path.name.startswith(f"{source.name}{i + 1:02d}_")
                write_image(path, images[emotion])
    readme = README.format(n=len(expected), subjects=2 * subjects_per_face, emotions=len(EMOTIONS),
                           size=size, seed=seed, marker=MARKER)
    atomic_write_text(out / "README.md", readme)
    return len(expected)


def _read_marker(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
