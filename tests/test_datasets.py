"""Tests of the dataset readers on small real-photo trees of every layout, and on the FRL London set."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from matplotlib import cbook

from fer_compare.datasets import LAYOUTS, detect_layout, load_gray, read_dataset
from fer_compare.datasets import fer2013 as fer2013_reader
from fer_compare.datasets.rafd import parse_name
from fer_compare.errors import UserError
from fer_compare.files import ImageError

FRL_LONDON = Path(__file__).resolve().parents[2] / "shared/datasets/frl-london"


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    """A real face photo (Grace Hopper), small, in colour."""
    image = cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    assert image is not None
    return cv2.resize(image, (40, 48), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def face48(face: np.ndarray) -> np.ndarray:
    return cv2.resize(cv2.cvtColor(face, cv2.COLOR_BGR2GRAY), (48, 48), interpolation=cv2.INTER_AREA)


def _write(root: Path, rel: str, image: np.ndarray) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


def _keys(records: list) -> list[str]:
    return [r.key for r in records]


# --- builders: one small tree per layout ---------------------------------------------------------

def build_rafd(root: Path, face: np.ndarray) -> Path:
    for name in (
        "Rafd090_01_Caucasian_female_angry_frontal.jpg",
        "Rafd090_01_Caucasian_female_happy_left.jpg",
        "Rafd045_02_Moroccan_male_contemptuous_right.jpg",
        "sub/Rafd090_02_Moroccan_male_neutral_frontal.jpg",
    ):
        _write(root, name, face)
    return root


def build_ckplus(root: Path, face: np.ndarray) -> Path:
    images, labels = root / "cohn-kanade-images", root / "Emotion"
    for frame in range(1, 5):
        _write(images, f"S005/001/S005_001_{frame:08d}.png", face)
    for frame in range(1, 4):
        _write(images, f"S010/002/S010_002_{frame:08d}.png", face)
        _write(images, f"S010/003/S010_003_{frame:08d}.png", face)  # never labelled
    (labels / "S005/001").mkdir(parents=True)
    (labels / "S005/001/S005_001_00000004_emotion.txt").write_text("   3.0000000e+00\n")
    (labels / "S010/002").mkdir(parents=True)
    (labels / "S010/002/S010_002_00000003_emotion.txt").write_text("   5.0000000e+00\n")
    (labels / "S010/003").mkdir(parents=True)
    return root


def build_jaffe(root: Path, face: np.ndarray) -> Path:
    for name in ("KA.AN1.39.tiff", "KA.HA2.30.tiff", "KM.NE1.50.tiff", "YM.SU3.60.tiff", "YM.FE1.61.tiff"):
        _write(root, name, face)
    return root


def build_fer2013(root: Path, face48: np.ndarray) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    pixels = " ".join(str(int(v)) for v in face48.ravel())
    inverted = " ".join(str(int(v)) for v in (255 - face48).ravel())
    (root / "fer2013.csv").write_text(
        f"emotion,pixels,Usage\n0,{pixels},Training\n3,{inverted},PublicTest\n6,{pixels},PrivateTest\n"
    )
    return root


def build_folders(root: Path, face: np.ndarray) -> Path:
    _write(root, "happy/001_08.jpg", face)
    _write(root, "happy/002_08.png", face)
    _write(root, "neutral/001_03.jpg", face)
    _write(root, "sadness/session2/003_01.jpg", face)
    (root / "README.md").write_text("not a photo")
    return root


BUILDERS = {
    "rafd": build_rafd, "ckplus": build_ckplus, "jaffe": build_jaffe, "fer2013": build_fer2013,
    "folders": build_folders,
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_detects_each_layout(layout: str, tmp_path: Path, face: np.ndarray, face48: np.ndarray) -> None:
    root = BUILDERS[layout](tmp_path / "ds", face48 if layout == "fer2013" else face)
    assert detect_layout(root) == layout
    records, rejects = read_dataset(root)
    assert records and not rejects


def test_ckplus_below_an_extra_level(tmp_path: Path, face: np.ndarray) -> None:
    root = build_ckplus(tmp_path / "ds", face)
    (root / "Emotion_labels").mkdir()
    (root / "Emotion").rename(root / "Emotion_labels/Emotion")
    assert detect_layout(root) == "ckplus"
    assert len(read_dataset(root)[0]) == 4


# --- what each reader makes of its layout --------------------------------------------------------

def test_rafd_fields(tmp_path: Path, face: np.ndarray) -> None:
    root = build_rafd(tmp_path / "ds", face)
    records, rejects = read_dataset(root, layout="rafd")
    assert not rejects
    assert [(r.key, r.emotion, r.subject) for r in records] == [
        ("Rafd045_02_Moroccan_male_contemptuous_right", "contemptuous", "02"),
        ("Rafd090_01_Caucasian_female_angry_frontal", "angry", "01"),
        ("Rafd090_01_Caucasian_female_happy_left", "happy", "01"),
        ("sub/Rafd090_02_Moroccan_male_neutral_frontal", "neutral", "02"),
    ]
    first = records[1]
    assert first.path == first.source == str((root / "Rafd090_01_Caucasian_female_angry_frontal.jpg").resolve())
    assert first.part == ""
    name = parse_name("Rafd090_01_Caucasian_female_angry_frontal.jpg")
    assert name is not None and (name.angle, name.gaze, name.gender) == ("090", "frontal", "female")


def test_rafd_unknown_emotion_and_bad_name_are_rejects(tmp_path: Path, face: np.ndarray) -> None:
    root = build_rafd(tmp_path / "ds", face)
    bored = _write(root, "Rafd090_03_Caucasian_male_bored_frontal.jpg", face)
    holiday = _write(root, "holiday.jpg", face)
    records, rejects = read_dataset(root)
    assert len(records) == 4
    reasons = {Path(r.source).name: r.reason for r in rejects}
    assert reasons == {
        bored.name: "unknown emotion 'bored' in file name",
        holiday.name: "name does not match the rafd pattern",
    }


def test_ckplus_first_frame_neutral_and_peak_labelled(tmp_path: Path, face: np.ndarray) -> None:
    root = build_ckplus(tmp_path / "ds", face)
    records, rejects = read_dataset(root)
    assert not rejects
    assert [(r.key, r.emotion, r.subject) for r in records] == [
        ("cohn-kanade-images/S005/001/S005_001_00000001", "neutral", "S005"),
        ("cohn-kanade-images/S005/001/S005_001_00000004", "disgusted", "S005"),
        ("cohn-kanade-images/S010/002/S010_002_00000001", "neutral", "S010"),
        ("cohn-kanade-images/S010/002/S010_002_00000003", "happy", "S010"),
    ]
    assert records[1].path.endswith("S005_001_00000004.png")


def test_ckplus_bad_label_and_missing_frame_are_rejects(tmp_path: Path, face: np.ndarray) -> None:
    root = build_ckplus(tmp_path / "ds", face)
    (root / "Emotion/S010/002/S010_002_00000003_emotion.txt").write_text("9.0\n")
    (root / "Emotion/S010/003/S010_003_00000007_emotion.txt").write_text("1.0\n")
    records, rejects = read_dataset(root)
    assert {r.subject for r in records} == {"S005"}
    reasons = sorted(r.reason for r in rejects)
    assert reasons[0].startswith("label file does not hold an emotion code")
    assert reasons[1].startswith("labelled frame S010_003_00000007 not found")


def test_jaffe_codes(tmp_path: Path, face: np.ndarray) -> None:
    root = build_jaffe(tmp_path / "ds", face)
    _write(root, "YM.XX1.62.tiff", face)
    records, rejects = read_dataset(root)
    assert [(r.key, r.emotion, r.subject) for r in records] == [
        ("KA.AN1.39", "angry", "KA"),
        ("KA.HA2.30", "happy", "KA"),
        ("KM.NE1.50", "neutral", "KM"),
        ("YM.FE1.61", "fearful", "YM"),
        ("YM.SU3.60", "surprised", "YM"),
    ]
    assert [r.reason for r in rejects] == ["unknown emotion 'XX' in file name"]


def test_fer2013_rows(tmp_path: Path, face48: np.ndarray) -> None:
    root = build_fer2013(tmp_path / "ds", face48)
    csv_path = (root / "fer2013.csv").resolve()
    for where in (root, root / "fer2013.csv"):
        records, rejects = read_dataset(where)
        assert not rejects
        assert [(r.key, r.emotion, r.subject, r.path) for r in records] == [
            ("PrivateTest/000002", "neutral", "", f"{csv_path}#2"),
            ("PublicTest/000001", "happy", "", f"{csv_path}#1"),
            ("Training/000000", "angry", "", f"{csv_path}#0"),
        ]
        assert all(r.source == r.path for r in records)
    first = load_gray(f"{csv_path}#0")
    assert first.shape == (48, 48) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, face48)
    np.testing.assert_array_equal(load_gray(f"{csv_path}#1"), 255 - face48)


def test_fer2013_bad_rows(tmp_path: Path, face48: np.ndarray) -> None:
    pixels = " ".join(str(int(v)) for v in face48.ravel())
    path = tmp_path / "faces.csv"
    path.write_text(f"emotion,pixels\n2,{pixels}\n9,{pixels}\n4,1 2 3\n5,{pixels[:-1]}x\n\n")
    records, rejects = read_dataset(path)
    assert [(r.key, r.emotion) for r in records] == [("all/000000", "fearful")]
    assert [r.reason for r in rejects] == [
        "unknown emotion code '9' (FER2013 uses 0-6)",
        "row has 3 pixel values, expected 2304",
        "pixels are not all whole numbers",
    ]
    with pytest.raises(ImageError, match="expected 2304"):
        load_gray(f"{path.resolve()}#2")
    with pytest.raises(ImageError, match="no row 7"):
        load_gray(f"{path.resolve()}#7")


def test_fer2013_csv_is_parsed_once(tmp_path: Path, face48: np.ndarray) -> None:
    csv_path = build_fer2013(tmp_path / "ds", face48) / "fer2013.csv"
    assert fer2013_reader.table(csv_path) is fer2013_reader.table(csv_path)


def test_folders_records(tmp_path: Path, face: np.ndarray) -> None:
    root = build_folders(tmp_path / "ds", face)
    records, rejects = read_dataset(root, layout="folders")
    assert not rejects
    assert [(r.key, r.emotion, r.subject) for r in records] == [
        ("happy/001_08", "happy", "001"),
        ("happy/002_08", "happy", "002"),
        ("neutral/001_03", "neutral", "001"),
        ("sadness/session2/003_01", "sad", "003"),
    ]
    assert records[0].path == str((root / "happy/001_08.jpg").resolve())
    assert load_gray(records[0].path).shape == (48, 40)


def test_folders_rejects(tmp_path: Path, face: np.ndarray) -> None:
    root = build_folders(tmp_path / "ds", face)
    _write(root, "bored/004_01.jpg", face)
    _write(root, "happy/.hidden.jpg", face)
    _write(root, ".cache/happy.jpg", face)
    records, rejects = read_dataset(root, subject_pattern=r"^(\d{3})_")
    assert len(records) == 4
    assert [(Path(r.source).name, r.reason) for r in rejects] == [
        ("004_01.jpg", "unknown emotion folder 'bored'"),
    ]
    _write(root, "happy/portrait.jpg", face)
    records, rejects = read_dataset(root, subject_pattern=r"^(\d{3})_")
    assert len(records) == 4
    assert r"subject_pattern '^(\\d{3})_'" in rejects[-1].reason
    assert rejects[-1].source.endswith("portrait.jpg")


def test_duplicate_keys_keep_one(tmp_path: Path, face: np.ndarray) -> None:
    root = build_folders(tmp_path / "ds", face)
    _write(root, "happy/001_08.png", face)
    records, rejects = read_dataset(root)
    assert _keys(records).count("happy/001_08") == 1
    assert records[0].path.endswith("001_08.jpg")
    assert len(rejects) == 1 and "same key" in rejects[0].reason


def test_emotion_filter(tmp_path: Path, face: np.ndarray) -> None:
    root = build_folders(tmp_path / "ds", face)
    records, rejects = read_dataset(root, emotions=["Happiness", "sad"])
    assert [(r.key, r.emotion) for r in records] == [
        ("happy/001_08", "happy"), ("happy/002_08", "happy"), ("sadness/session2/003_01", "sad"),
    ]
    assert not rejects
    with pytest.raises(UserError, match="unknown emotion 'boredom'"):
        read_dataset(root, emotions=["boredom"])


def test_reading_is_deterministic(tmp_path: Path, face: np.ndarray) -> None:
    root = build_rafd(tmp_path / "ds", face)
    assert read_dataset(root) == read_dataset(root)


# --- mistakes ------------------------------------------------------------------------------------

def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no images found \(looked for .*\.jpg"):
        detect_layout(tmp_path)
    with pytest.raises(UserError, match="no images found"):
        read_dataset(tmp_path, layout="folders")


def test_only_non_image_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "happy").mkdir()
    (tmp_path / "happy" / "list.csv").write_text("a,b\n1,2\n")
    with pytest.raises(UserError, match=re.escape(f"{tmp_path}: no images found")):
        read_dataset(tmp_path)


def test_unknown_layout(tmp_path: Path, face: np.ndarray) -> None:
    _write(tmp_path, "holidays/beach.jpg", face)
    with pytest.raises(UserError, match="cannot tell the dataset layout; understood are rafd") as info:
        detect_layout(tmp_path)
    assert str(tmp_path) in str(info.value)
    with pytest.raises(UserError, match="no such file or folder"):
        read_dataset(tmp_path / "missing")
    with pytest.raises(UserError, match=r"dataset\.layout"):
        read_dataset(tmp_path, layout="affectnet")
    with pytest.raises(UserError, match="subject_pattern"):
        read_dataset(tmp_path, layout="folders", subject_pattern="^[^_]+")


def test_non_fer2013_csv_is_not_fer2013(tmp_path: Path, face: np.ndarray) -> None:
    root = build_folders(tmp_path / "ds", face)
    (root / "info.csv").write_text("face_id,face_age,emotion\n001,24,happy\n")
    assert detect_layout(root) == "folders"
    with pytest.raises(UserError, match="not a FER2013 csv"):
        detect_layout(root / "info.csv")


def test_two_fer2013_csvs_are_ambiguous(tmp_path: Path, face48: np.ndarray) -> None:
    root = build_fer2013(tmp_path / "ds", face48)
    (root / "train.csv").write_text((root / "fer2013.csv").read_text())
    with pytest.raises(UserError, match="several FER2013 csv files"):
        read_dataset(root)


# --- real photos ---------------------------------------------------------------------------------

def test_frl_london() -> None:
    if not FRL_LONDON.is_dir():
        pytest.skip(f"frl-london dataset not found at {FRL_LONDON}")
    assert (FRL_LONDON / "london_info.csv").is_file()
    assert detect_layout(FRL_LONDON) == "folders"
    records, rejects = read_dataset(FRL_LONDON)
    assert not rejects
    assert len(records) == 204
    subjects = {r.subject for r in records}
    assert len(subjects) == 102 and all(len(s) == 3 and s.isdigit() for s in subjects)
    assert {r.emotion for r in records} == {"neutral", "happy"}
    assert all(r.key.startswith(("happy/", "neutral/")) for r in records)
    assert records[0].key == "happy/001_08" and records[0].subject == "001"
    assert load_gray(records[0].path).dtype == np.uint8
