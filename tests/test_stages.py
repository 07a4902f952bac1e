"""The preprocessing stages on real photos: outputs, rejects with reasons, resume, and safety of the user's files."""

from __future__ import annotations

import os
import shutil

import cv2
import numpy as np
import pytest
from conftest import stage_config

from fer_compare.errors import UserError
from fer_compare.records import read_manifest, read_rejects
from fer_compare.settings import updated
from fer_compare.stages import align, blur, format, gradient


@pytest.fixture(scope="module")
def raw(london_subset, tmp_path_factory):
    """The London subset plus every kind of bad or awkward file."""
    root = tmp_path_factory.mktemp("raw")
    shutil.copytree(london_subset, root, dirs_exist_ok=True)
    good = cv2.imread(str(next((root / "happy").glob("*.jpg"))))
    data = (root / "happy" / "001_08.jpg").read_bytes()
    (root / "happy" / "900_08.jpg").write_bytes(data[: len(data) // 2])  # truncated JPEG
    (root / "happy" / "901_08.jpg").write_text("not a photo")  # text named .jpg
    (root / "happy" / "902_08.jpg").write_bytes(b"")  # empty
    cv2.imwrite(str(root / "neutral" / "903_03.png"), np.full((512, 512), 128, np.uint8))  # no face
    cv2.imwrite(str(root / "neutral" / "904_03.png"), np.hstack([good, good, good]))  # group of three
    cv2.imwrite(str(root / "neutral" / "905_03.png"), cv2.cvtColor(good, cv2.COLOR_BGR2BGRA))  # RGBA
    cv2.imwrite(str(root / "neutral" / "906_03.png"), good.astype(np.uint16) * 257)  # 16-bit
    cv2.imwrite(str(root / "neutral" / "907_03.png"), cv2.cvtColor(good, cv2.COLOR_BGR2GRAY))  # grayscale
    cv2.imwrite(str(root / "neutral" / "908_03.png"), np.zeros((1, 1), np.uint8))  # 1x1
    (root / "happy" / "notes.txt").write_text("ignored")
    return root


@pytest.fixture(scope="module")
def processed(raw, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("out")
    config = stage_config(tmp, raw, workers=2, blur=True)
    results = {"format": format.run(config), "align": align.run(config), "gradient": gradient.run(config),
               "blur": blur.run(config)}
    return config, results


def test_format_keeps_faces_and_explains_every_reject(processed):
    config, results = processed
    fmt = results["format"]
    reasons = {r.source.split("/")[-1]: r.reason for r in fmt.rejects}
    assert reasons["900_08.jpg"].startswith("truncated JPEG")
    assert reasons["901_08.jpg"].startswith("not a readable image")
    assert reasons["902_08.jpg"] == "empty file"
    assert reasons["903_03.png"] == "no face found"
    assert reasons["904_03.png"].startswith("3 faces found")
    assert reasons["908_03.png"].startswith("image too small")
    kept = {r.key for r in fmt.records}
    assert {"neutral/905_03", "neutral/906_03", "neutral/907_03"} <= kept  # RGBA, 16-bit, grayscale
    assert fmt.read == len(fmt.records) + len(fmt.rejects)
    on_disk = read_manifest(config.formatted and __import__("pathlib").Path(config.formatted), "formatted")
    assert {r.key for r in on_disk} == kept
    assert len(read_rejects(__import__("pathlib").Path(config.formatted))) == len(fmt.rejects)
    img = cv2.imread(fmt.records[0].path, cv2.IMREAD_UNCHANGED)
    assert img.shape == (100, 100) and img.dtype == np.uint8


def test_labels_and_subjects_survive_every_stage(processed):
    _, results = processed
    fmt = {r.key: (r.emotion, r.subject) for r in results["format"].records}
    for stage in ("align", "gradient", "blur"):
        for r in results[stage].records:
            assert fmt[r.key] == (r.emotion, r.subject)
    assert fmt["happy/003_08"] == ("happy", "003")


def test_align_stores_landmarks_and_features(processed):
    _, results = processed
    r = results["align"].records[0]
    with np.load(r.path.replace(".png", ".npz")) as z:
        assert z["landmarks"].shape == (68, 2) and z["features"].shape == (4, 42)


def test_gradient_images_are_masked_and_a_montage_is_written(processed):
    config, results = processed
    from pathlib import Path

    g = cv2.imread(results["gradient"].records[0].path, cv2.IMREAD_UNCHANGED)
    assert g.shape == (100, 100) and g[0, 0] == 0 and g[-1, -1] == 0 and g.max() > 0
    montage = cv2.imread(str(Path(config.gradients) / "montage.png"))
    assert montage is not None and montage.shape[0] >= 4 * 100


def test_a_second_run_resumes_and_redoes_only_what_changed(raw, processed):
    config, _ = processed
    again = format.run(config)
    assert again.written == 0 and again.reused == len(again.records)
    src = raw / "happy" / "003_08.jpg"
    # Times prove nothing (cp -p and rsync -a keep them): a newer photo with the same content is up to date ...
    later = os.stat(src).st_mtime + 5
    os.utime(src, (later, later))
    out = next(r for r in again.records if r.key == "happy/003_08")
    os.utime(out.path, (later - 10, later - 10))
    assert format.run(config).written == 0
    # ... and another photo under the old time is not.
    original = src.read_bytes()
    stat = os.stat(src)
    try:
        cv2.imwrite(str(src), cv2.flip(cv2.imread(str(src)), 1))
        os.utime(src, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert format.run(config).written == 1
    finally:
        src.write_bytes(original)
        os.utime(src, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert format.run(config).written == 1


def test_half_written_temporary_files_are_never_taken_for_outputs(processed):
    config, _ = processed
    from pathlib import Path

    folder = Path(config.aligned)
    (folder / "happy" / ".003_08.png.abc.tmp").write_bytes(b"partial")
    (folder / "happy" / ".003_08.png.999999999.abc.tmp").write_bytes(b"partial, from a dead writer")
    keys = {r.key for r in align.run(config).records}
    assert not any(k.endswith(".tmp") or "/." in k for k in keys)
    assert not (folder / "happy" / ".003_08.png.999999999.abc.tmp").exists()  # swept


def test_output_inside_input_is_refused(raw, tmp_path):
    config = stage_config(tmp_path, raw)
    config = updated(config, {"formatted": str(raw / "formatted")})
    with pytest.raises(UserError, match="inside the input folder raw_source"):
        format.run(config)


def test_a_folder_of_someone_elses_files_is_not_written_into(raw, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.docx").write_text("precious")
    config = stage_config(tmp_path, raw)
    config = updated(config, {"formatted": str(tmp_path / "mine")})
    with pytest.raises(UserError, match="did not write"):
        format.run(config)
    assert (tmp_path / "mine" / "thesis.docx").read_text() == "precious"


def test_a_folder_without_images_is_one_clear_error(tmp_path):
    (tmp_path / "empty" / "happy").mkdir(parents=True)
    config = stage_config(tmp_path, tmp_path / "empty")
    with pytest.raises(UserError, match="no images found"):
        format.run(config)
