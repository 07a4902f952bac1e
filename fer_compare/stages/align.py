"""align: dlib 68 landmarks on each face crop, similarity-aligned onto the template; landmarks and features stored."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from ..errors import UserError
from ..face.chain import FaceChain
from ..face.landmarks import find_landmark_model
from ..face.template import check_face, resolve_template
from ..files import ImageError, read_gray, write_array, write_image
from ..records import Record, Reject, read_manifest
from ..settings import Settings
from .ownership import check_made_with
from .runner import StageResult, prepare_output, run_stage


class FaceAlignerStep:
    """The chain's alignment of one formatted crop; writes `<key>.png` and `<key>.npz` (landmarks, features)."""

    def __init__(self, config: Settings, out: Path) -> None:
        self.chain = FaceChain.from_config(config)
        self.out = out

    def __call__(self, record: Record) -> Record | Reject:
        try:
            gray = read_gray(record.path)
        except ImageError as e:
            return Reject(record.source, str(e), record.key, record.emotion, record.subject)
        aligned = self.chain.align(gray)
        if aligned.rejection is not None:
            return Reject(record.source, aligned.rejection, record.key, record.emotion, record.subject)
        path = self.out / f"{record.key}.png"
        write_array(self.out / f"{record.key}.npz", landmarks=aligned.landmarks, features=self.chain.features(aligned))
        write_image(path, aligned.image)
        return record.at(path)


def run(config: Settings) -> StageResult:
    src, out = Path(config.formatted), Path(config.aligned)
    # Fail early with one line, before workers start; the workers load dlib's model themselves
    # (loading it here too would cost 0.5 s on the critical path).
    find_landmark_model(config.landmark_model)
    template_path = resolve_template(config.align_template)
    if not template_path.is_file():
        raise UserError(f"align_template: {template_path} does not exist")
    try:
        check_face(read_gray(template_path), template_path)  # here, once, not as a reject of every photo
    except ImageError as e:
        raise UserError(f"align_template: {template_path} is not a usable image ({e})") from None
    records = read_manifest(src, "formatted")
    check_made_with(src, "formatted", config)
    prepare_output(out, "aligned", [("formatted", src)])  # only once the inputs are known good
    template = resolve_template(config.align_template)
    return run_stage(
        "align", records, out, partial(FaceAlignerStep, config, out),
        outputs=lambda r: ([out / f"{r.key}.png", out / f"{r.key}.npz"], [Path(r.path), template]),
        workers=config.workers, source=src,
        settings={"image": config.image, "landmark_model": config.landmark_model},
    )
