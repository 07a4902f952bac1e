"""File helpers: atomic writes (temporary name, then rename) and robust image reading."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

_UMASK = os.umask(0)
os.umask(_UMASK)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".webp"}
# A 10000x10000 photo decodes to 300 MB; we decode at reduced size above this many pixels.
MAX_PIXELS = 40_000_000


class ImageError(Exception):
    """An image file that cannot be used; the message is the reject reason."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def probe_write(folder: Path) -> None:
    """Raise OSError now, not halfway through, when the folder cannot be written."""
    fd, tmp = tempfile.mkstemp(prefix=".probe.", dir=folder)
    os.close(fd)
    os.unlink(tmp)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_image(path: Path, image: np.ndarray) -> None:
    """Encode by the path's suffix and write atomically."""
    ok, buf = cv2.imencode(path.suffix or ".png", image)
    if not ok:
        raise ImageError(f"could not encode {path.name}")
    atomic_write_bytes(path, buf.tobytes())


def write_array(path: Path, **arrays: np.ndarray) -> None:
    """Save arrays as one .npz, atomically."""
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def read_gray(path: Path | str) -> np.ndarray:
    """Read any supported photo as 8-bit grayscale; raise ImageError with a reason otherwise.

    Handles grayscale, BGR, BGRA and 16-bit files, and decodes very large photos at reduced
    size so that memory stays bounded.
    """
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise ImageError(f"unreadable file ({e.strerror})") from None
    if data.size == 0:
        raise ImageError("empty file")
    if _truncated_jpeg(data):
        raise ImageError("truncated JPEG (no end-of-image marker)")
    flags = cv2.IMREAD_UNCHANGED
    header = _probe_size(data)
    if header is not None and header[0] * header[1] > MAX_PIXELS:
        small = header[0] * header[1] < 16 * MAX_PIXELS
        flags = cv2.IMREAD_REDUCED_GRAYSCALE_4 if small else cv2.IMREAD_REDUCED_GRAYSCALE_8
    image = cv2.imdecode(data, flags)
    if image is None:
        raise ImageError("not a readable image (corrupt, truncated or not an image)")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if image.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code)
    if image.shape[0] < 8 or image.shape[1] < 8:
        raise ImageError(f"image too small ({image.shape[1]}x{image.shape[0]})")
    return image


def _truncated_jpeg(data: np.ndarray) -> bool:
    if data.size < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return False
    tail = data[-64:].tobytes()
    return b"\xff\xd9" not in tail


def _probe_size(data: np.ndarray) -> tuple[int, int] | None:
    """Width and height from a PNG or JPEG header, without decoding."""
    raw = data[:65536].tobytes()
    if raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) >= 24:
        return int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")
    if raw[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(raw):
            if raw[i] != 0xFF:
                i += 1
                continue
            marker = raw[i + 1]
            if marker in (0xC0, 0xC1, 0xC2):
                h = int.from_bytes(raw[i + 5 : i + 7], "big")
                w = int.from_bytes(raw[i + 7 : i + 9], "big")
                return w, h
            length = int.from_bytes(raw[i + 2 : i + 4], "big")
            i += 2 + length
    return None


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def is_inside(inner: Path, outer: Path) -> bool:
    """True when `inner` is `outer` or lies below it (after resolving links)."""
    inner, outer = inner.resolve(), outer.resolve()
    return inner == outer or outer in inner.parents
