"""Seeded fuzzing: hundreds of generated bad configs through the loader, a few through the CLI, and a folder
of generated broken images through the format stage. None may end in a traceback; every refusal is one line
naming the key or the file. The seed makes every run the same cases (FUZZ_SEED picks others)."""

from __future__ import annotations

import csv
import json
import math
import os
import random
import struct
import zlib
from pathlib import Path
from typing import Any

import cv2
import pytest
from faultkit import case, error_line, london_subjects, london_tree, run_cli, succeeded, workspace

from fer_compare.errors import UserError
from fer_compare.settings import DEFAULTS, load_config

SEED = int(os.environ.get("FUZZ_SEED", "16"))
CONFIGS = 400


def _keys(d: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        out += _keys(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"]
    return out


KEYS = _keys(DEFAULTS)


def garbage(rng: random.Random, depth: int = 0) -> Any:
    """A JSON value of a random kind: NaN, infinities, huge, negative, fractional, strings, nested garbage."""
    kind = rng.randrange(14 if depth < 2 else 10)
    if kind == 0:
        return math.nan
    if kind == 1:
        return rng.choice([math.inf, -math.inf])
    if kind == 2:
        return rng.choice([10**30, 2**63, 2**31, 10**9, -(10**12)])
    if kind == 3:
        return rng.randint(-5, 5)
    if kind == 4:
        return rng.uniform(-1e6, 1e6)
    if kind == 5:
        return rng.choice([0.5, 1e-300, -0.0, 1.5, 1e308])
    if kind == 6:
        return rng.choice(["", "NaN", "x" * 300, "../../etc", "1e999", "\u00e9\u0000", "true"])
    if kind == 7:
        return rng.choice([True, False])
    if kind == 8:
        return None
    if kind == 9:
        return [rng.choice([1, 0, -1, 0.5, math.nan, 10**12, "a"]) for _ in range(rng.randrange(4))]
    if kind in (10, 11):
        return [garbage(rng, depth + 1) for _ in range(rng.randrange(1, 4))]
    return {rng.choice(["a", "size", "cnn", "x.y"]): garbage(rng, depth + 1) for _ in range(rng.randrange(1, 3))}


def nest(path: str, value: Any) -> dict[str, Any]:
    out: Any = value
    for part in reversed(path.split(".")):
        out = {part: out}
    return out


def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    for k, v in b.items():
        a[k] = merge(a[k], v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
    return a


def fuzzed_configs(seed: int, n: int) -> list[tuple[dict[str, Any], list[str]]]:
    """(config object, the key paths it sets) — some keys real, some deformed, values garbage."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        config: dict[str, Any] = {"format": False, "align": False, "gradient": False, "train": False,
                                  "test": False}
        keys = []
        for _ in range(rng.randrange(1, 4)):
            key = rng.choice(KEYS)
            if rng.random() < 0.1:
                key = key[:-1] + "_" if rng.random() < 0.5 else key + ".deeper"
            keys.append(key)
            merge(config, nest(key, garbage(rng)))
        out.append((config, keys))
    return out


def names_a_key(message: str, keys: list[str], path: Path) -> bool:
    """The message names the file, one of the keys set, or one of their parents."""
    if str(path) in message:
        return True
    for key in keys:
        parts = key.split(".")
        if any(".".join(parts[:i]) in message for i in range(1, len(parts) + 1)):
            return True
    return False


@case("config", "generated bad configs (seeded fuzzing)")
def test_generated_configs_are_accepted_or_refused_in_one_line(tmp_path: Path) -> None:
    """400 configs through the loader in-process: a config or a one-line UserError naming a key, nothing else."""
    refused = 0
    for i, (config, keys) in enumerate(fuzzed_configs(SEED, CONFIGS)):
        path = tmp_path / f"fuzz-{i}.json"
        path.write_text(json.dumps(config))
        try:
            load_config(path)
        except UserError as e:
            refused += 1
            message = str(e)
            assert "\n" not in message and message, f"case {i} {config}: {message!r}"
            assert names_a_key(message, keys, path), f"case {i} {config}: {message!r} names none of {keys}"
        except Exception as e:  # the point of the test: anything else is a crash the user would see
            pytest.fail(f"case {i} (seed {SEED}) {json.dumps(config)}: {type(e).__name__}: {e}")
    assert refused > CONFIGS // 2  # the generator makes mostly bad configs: the checks were exercised


@case("config", "generated bad configs (seeded fuzzing)")
def test_generated_configs_through_the_cli(tmp_path: Path) -> None:
    """A few refused configs through the real CLI: the same one line, exit 2, no traceback; also as --set."""
    shown = 0
    for i, (config, _) in enumerate(fuzzed_configs(SEED + 1, 60)):
        path = tmp_path / f"fuzz-{i}.json"
        path.write_text(json.dumps(config))
        try:
            load_config(path)
            continue
        except UserError as e:
            expected = f"fer-compare: error: {e}"
        assert error_line(run_cli({}, tmp_path, config=path)) == expected
        shown += 1
        if shown == 6:
            break
    assert shown == 6
    # --set values go through the same checks.
    for override in ("detection.scale_factor=NaN", "nn.input=[1e400, 1]", "seed={\"a\": [1, {}]}", "image.size=-1"):
        line = error_line(run_cli({"format": False, "train": False, "test": False, "align": False,
                                   "gradient": False, override.split("=")[0]: override.split("=", 1)[1]}, tmp_path))
        assert line.startswith(f"fer-compare: error: {override.split('=')[0]}"), line


# --- broken images ---------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def broken_images(seed: int, jpeg: bytes, png: bytes) -> dict[str, bytes]:
    """Seeded damaged files: truncations, flipped bytes, forged headers, random bytes behind real magic."""
    rng = random.Random(seed)
    out: dict[str, bytes] = {}
    n = 0

    def add(suffix: str, data: bytes) -> None:
        nonlocal n
        out[f"9{n:02d}_08{suffix}"] = data
        n += 1

    for source, suffix in ((jpeg, ".jpg"), (png, ".png")):
        for _ in range(6):
            add(suffix, source[: rng.randrange(1, len(source))])
        for _ in range(6):
            data = bytearray(source)
            for _ in range(rng.randrange(1, 20)):
                i = rng.randrange(min(len(data), 700))
                data[i] = rng.randrange(256)
            add(suffix, bytes(data))
    for width, height in ((60000, 60000), (0, 10), (1, 100000), (2**31 - 1, 2**31 - 1), (70000, 1)):
        header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
        add(".png", b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + _png_chunk(b"IEND", b""))
    for magic, suffix in ((b"\xff\xd8\xff\xe0", ".jpg"), (b"\x89PNG\r\n\x1a\n", ".png"), (b"GIF89a", ".gif"),
                          (b"BM", ".bmp"), (b"II*\x00", ".tif"), (b"RIFF\x00\x00\x00\x00WEBPVP8 ", ".webp"),
                          (b"P5\n", ".pgm")):
        add(suffix, magic + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 4000))))
    sof = jpeg.find(b"\xff\xc0")
    if sof > 0:
        for dims in (b"\x00\x00\x00\x00", b"\xff\xff\xff\xff"):
            add(".jpg", jpeg[: sof + 5] + dims + jpeg[sof + 9:])
    add(".jpg", b"")
    add(".png", b"\x89")
    return out


@case("images", "generated broken images (seeded fuzzing)")
def test_a_folder_of_generated_broken_images_ends_in_rejects(london: Path, tmp_path: Path) -> None:
    """Every damaged file is either formatted or a reject with a reason; the run ends with exit 0."""
    subjects = london_subjects(london)[:2]
    raw = london_tree(london, tmp_path / "raw", subjects)
    photo = cv2.imread(str(next((raw / "happy").glob("*.jpg"))))
    jpeg = cv2.imencode(".jpg", photo)[1].tobytes()
    png = cv2.imencode(".png", cv2.resize(photo, (128, 128)))[1].tobytes()
    files = broken_images(SEED, jpeg, png)
    for name, data in files.items():
        (raw / "happy" / name).write_bytes(data)
    run = run_cli(workspace(tmp_path, raw, format=True), tmp_path)
    succeeded(run)

    out = tmp_path / "formatted"
    with open(out / "rejects.csv", newline="") as f:
        rejected = {Path(row["source"]).name: row["reason"] for row in csv.DictReader(f)}
    with open(out / "manifest.csv", newline="") as f:
        kept = {Path(row["key"]).name for row in csv.DictReader(f)}
    for name in files:
        assert name in rejected or Path(name).stem in kept, f"{name}: neither formatted nor a reject"
        assert rejected.get(name, "x"), name
    assert any("too large" in reason for reason in rejected.values())  # the forged 60000×60000 header
