"""format: grayscale -> Haar face detection -> exactly one face kept -> crop -> resize to image.size."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from ..datasets import detect_layout, load_gray, read_dataset
from ..errors import UserError
from ..face.chain import FaceChain
from ..face.detection import Box, HaarFaceDetector
from ..files import ImageError, write_image
from ..progress import say
from ..records import Record, Reject
from ..settings import Settings
from .runner import StageResult, prepare_output, run_stage, worker_pool


class FaceCropper:
    """Turns one raw photo into a grayscale face crop, or a Reject saying why not."""

    def __init__(self, config: Settings, out: Path, whole_image: bool) -> None:
        d = config.detection
        self.detector = HaarFaceDetector(d.scale_factor, d.min_neighbors, tuple(d.min_size), d.detect_width)
        self.chain = FaceChain.from_config(config)
        self.out = out
        self.whole_image = whole_image  # FER2013 rows are already 48x48 face crops

    def __call__(self, record: Record) -> Record | Reject:
        try:
            gray = load_gray(record.path)
        except ImageError as e:
            return _reject(record, str(e))
        if self.whole_image:
            boxes = [Box(0, 0, gray.shape[1], gray.shape[0])]
        else:
            boxes = self.detector.detect(gray)
        if len(boxes) != 1:
            reason = "no face found" if not boxes else f"{len(boxes)} faces found (need exactly one)"
            return _reject(record, reason)
        path = self.out / f"{record.key}.png"
        write_image(path, self.chain.crop(gray, boxes[0]))
        return record.at(path)


def _reject(record: Record, reason: str) -> Reject:
    return Reject(record.source or record.path, reason, record.key, record.emotion, record.subject)


def sources(config: Settings) -> list[tuple[str, str, Path]]:
    """(part, config key, folder): the thesis's train/test sources when given, else raw_source."""
    if config.train_source:
        return [("train", "train_source", Path(config.train_source)),
                ("test", "test_source", Path(config.test_source))]
    return [("", "raw_source", Path(config.raw_source))]


def ensure_demo_set(config: Settings) -> None:
    """Build the synthetic demo set into raw_source when asked and absent."""
    root = Path(config.raw_source)
    if not config.demo_set or config.train_source:
        return
    ours = (root / ".fer_compare_demo").exists()
    if root.exists() and any(root.iterdir()) and not ours:
        return  # a user's folder: read it as it is
    from ..datasets.demo import build_demo_set

    if not ours:
        say(f"  building the synthetic demo set into {root} (public-domain faces posed by landmark warps)")
    # Safe to call on a finished set (returns at once); completes one a crash left half-built.
    build = partial(build_demo_set, root, seed=config.seed, landmark_model=config.landmark_model)
    # In a worker when there are workers: the build loads dlib, matplotlib and scikit-image, whose
    # ~250 MB the training that follows in this process would otherwise carry.
    n = worker_pool(config.workers).apply(build) if config.workers > 1 else build()
    say(f"  demo set: {n} synthetic images in {root}")


def read_sources(config: Settings) -> tuple[list[Record], list[Reject], str]:
    """All raw records (keys prefixed by part when train/test are separate) and the readers' rejects."""
    records: list[Record] = []
    rejects: list[Reject] = []
    layouts = []
    for part, key, root in sources(config):
        if not root.exists():
            raise UserError(f"{key}: {root} does not exist")
        layout = config.dataset.layout
        if layout == "auto":
            layout = detect_layout(root)
        layouts.append(layout)
        found, bad = read_dataset(root, layout, config.dataset.subject_pattern, config.dataset.emotions)
        if not found:
            raise UserError(f"{key}: no usable labelled photos in {root} ({len(bad)} rejected)")
        prefix = f"{part}/" if part else ""
        records += [Record(prefix + r.key, r.path, r.emotion, r.subject, part, r.source) for r in found]
        rejects += bad
        say(f"  {key}: {root} read as '{layout}': {len(found)} photos, "
            f"{len({r.subject for r in found})} subjects, {len(bad)} not usable")
    return records, rejects, layouts[0]


def run(config: Settings) -> StageResult:
    ensure_demo_set(config)
    out = Path(config.formatted)
    records, rejects, layout = read_sources(config)  # a missing source stops us before the output is made
    prepare_output(out, "formatted", [(key, root) for _, key, root in sources(config)])
    cropper = partial(FaceCropper, config, out, layout == "fer2013")
    return run_stage(
        "format", records, out, cropper,
        outputs=lambda r: ([out / f"{r.key}.png"], [Path(r.path.split("#")[0])]),
        workers=config.workers, settings={"image": config.image, "detection": config.detection},
        earlier_rejects=rejects,
    )
