"""blur: Gaussian blur of a stage's images (the thesis names the stage without describing it)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from ..face.chain import FaceChain
from ..files import ImageError, read_gray, write_image
from ..records import Record, Reject, read_manifest
from ..settings import Settings
from .ownership import check_made_with
from .runner import StageResult, prepare_output, run_stage


class BlurStep:
    """The chain's Gaussian blur (blur_options.ksize and sigma; 0: derived from ksize by OpenCV) of one image."""

    def __init__(self, config: Settings, out: Path) -> None:
        self.chain = FaceChain.from_config(config)
        self.out = out

    def __call__(self, record: Record) -> Record | Reject:
        try:
            gray = read_gray(record.path)
        except ImageError as e:
            return Reject(record.source, str(e), record.key, record.emotion, record.subject)
        path = self.out / f"{record.key}.png"
        write_image(path, self.chain.blur(gray))
        return record.at(path)


def run(config: Settings) -> StageResult:
    source_key = config.blur_options.source
    src, out = Path(config.path(source_key)), Path(config.blurred)
    records = read_manifest(src, source_key)
    check_made_with(src, source_key, config)
    prepare_output(out, "blurred", [(source_key, src)])  # only once the inputs are known good
    return run_stage(
        "blur", records, out, partial(BlurStep, config, out),
        outputs=lambda r: ([out / f"{r.key}.png"], [Path(r.path)]),
        workers=config.workers, settings={"blur_options": config.blur_options}, source=src,
    )
