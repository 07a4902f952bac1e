"""A model's examples read from its stage folder: real London photos in, arrays and labels out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import stage_config

from fer_compare.data import choose_classes, load_model_data
from fer_compare.errors import UserError
from fer_compare.files import read_gray, write_image
from fer_compare.records import Record, write_manifest
from fer_compare.stages.ownership import record_stage


def formatted_folder(london: Path, tmp: Path, subjects: int = 3) -> Path:
    """A formatted-stage folder: grayscale London photos at 100x100 and their manifest."""
    out = tmp / "formatted"
    records = []
    for number in sorted(p.name[:3] for p in (london / "neutral").glob("*_03.jpg"))[:subjects]:
        for emotion, take in (("neutral", "03"), ("happy", "08")):
            gray = read_gray(london / emotion / f"{number}_{take}.jpg")
            path = out / emotion / f"{number}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_image(path, np.ascontiguousarray(gray[::4, ::4][:100, :100]))
            records.append(Record(key=f"{emotion}/{number}", path=str(path), emotion=emotion, subject=number))
    write_manifest(out, records)
    record_stage(out, "format", {"image.size": [100, 100]})  # what the format stage records when it finishes
    return out


def test_images_are_resized_to_the_network_input_with_their_labels(london: Path, tmp_path: Path) -> None:
    folder = formatted_folder(london, tmp_path)
    data = load_model_data(stage_config(tmp_path, tmp_path / "raw"), "cnn")
    assert data.x.shape == (6, 70, 70) and data.x.dtype == np.uint8
    assert data.classes == ["neutral", "happy"]
    assert sorted(data.y.tolist()) == [0, 0, 0, 1, 1, 1]
    assert len(set(data.subjects.tolist())) == 3 and data.source == str(folder)
    for key, label in zip(data.keys, data.y, strict=True):
        assert key.startswith(data.classes[label])  # each image stays with its own label


def test_a_folder_whose_images_cannot_be_read_is_one_clear_error(london: Path, tmp_path: Path) -> None:
    folder = formatted_folder(london, tmp_path, subjects=2)
    for png in folder.rglob("*.png"):
        png.write_bytes(png.read_bytes()[:40])  # cut short, as by a full disk
    with pytest.raises(UserError, match=rf"^formatted: none of the 4 photos in {folder} could be read \(first: "):
        load_model_data(stage_config(tmp_path, tmp_path / "raw"), "cnn")


def test_one_emotion_left_names_the_dataset_filter_that_left_it(tmp_path: Path) -> None:
    config = stage_config(tmp_path, tmp_path / "raw", dataset__emotions=["joy"])  # "joy" is read as happy
    records = [Record(key=f"happy/{n}", path="x.png", emotion="happy", subject=n) for n in ("001", "002")]
    with pytest.raises(UserError, match=r"^nn\.cnn\.emotions: the data has photos of \['happy'\] only "
                                        r"\(dataset\.emotions keeps only \['joy'\]\)"):
        choose_classes(config, "cnn", [r.emotion for r in records])
