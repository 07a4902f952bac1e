"""File helpers: checked atomic writes (temporary name, then rename), stale temporaries, robust image reading.

Every file the tool writes goes through a temporary name that carries the writer's pid
(`.<name>.<pid>.<random>.tmp`): a crashed writer's leftovers are recognised and swept
(`sweep_temporaries`), and a writer that fails (a full disk, say) removes its own and raises
WriteError, one line naming the file.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import socket
import tempfile
from pathlib import Path

import cv2
import numpy as np

_UMASK = os.umask(0)
os.umask(_UMASK)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".webp", ".gif"}
# A 10000x10000 photo decodes to 300 MB; we decode at reduced size above this many pixels.
MAX_PIXELS = 40_000_000
# Bigger photos are rejects, never decoded: a JPEG decodes at an eighth of its size, other formats
# in full before they are shrunk, so their limit is lower (160 MP: 480 MB of BGR pixels).
MAX_JPEG_PIXELS = 64 * MAX_PIXELS
MAX_OTHER_PIXELS = 4 * MAX_PIXELS
# errno values that mean "the disk cannot take this file", as opposed to a programming error.
DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM}
HOST = socket.gethostname()


class ImageError(Exception):
    """An image file that cannot be used; the message is the reject reason."""


class WriteError(Exception):
    """A file could not be written (disk full, read-only, ...); its temporary file is already gone.

    The message is one line naming the file; the CLI shows it as an error (exit 2). Not a
    UserError subclass so that it pickles from a worker process by its message alone.
    """

    exit_code = 2


def reason(e: BaseException) -> str:
    """The OS's words for an error ("No space left on device"), else its first line."""
    text = getattr(e, "strerror", None)
    if not text:
        lines = str(e).strip().splitlines()
        text = lines[0] if lines else type(e).__name__
    return str(text)[:200]


def write_failed(path: Path | str, e: BaseException) -> WriteError:
    return WriteError(f"cannot write {path} ({reason(e)})")


# --- temporary files ---------------------------------------------------------------------------------

_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[A-Za-z0-9_]+(?:\.tmp|\.partial(?:\.\w+)?)$")


def temporary_file(path: Path, suffix: str = ".tmp") -> tuple[int, str]:
    """mkstemp beside `path`, named `.<name>.<pid>.<random><suffix>` (the pid lets a sweep tell a dead writer's)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=suffix, dir=path.parent)


def commit_file(tmp: Path | str, path: Path) -> None:
    """Give a finished temporary file normal permissions (mkstemp makes 0600) and its final name."""
    fault_point("write:" + path.name)
    os.chmod(tmp, 0o666 & ~_UMASK)
    os.replace(tmp, path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_temporaries(folder: Path, recursive: bool = True) -> int:
    """Remove temporaries left by writers that died (kill -9, power loss); those of live processes stay."""
    removed = 0
    if not folder.is_dir():
        return 0
    walker = os.walk(folder) if recursive else [(str(folder), [], [p.name for p in folder.iterdir()])]
    for dirpath, _dirs, names in walker:
        for name in names:
            m = _TEMP.match(name)
            if m and int(m["pid"]) != os.getpid() and not _alive(int(m["pid"])):
                try:
                    target = Path(dirpath, name)
                    if target.is_dir() and not target.is_symlink():
                        import shutil

                        shutil.rmtree(target)
                    else:
                        target.unlink()
                    removed += 1
                except OSError:
                    pass
    return removed


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: a crash never leaves half a file.

    Raises WriteError (the temporary removed) when the disk refuses the file.
    """
    tmp = None
    try:
        fd, tmp = temporary_file(path)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        commit_file(tmp, path)
    except OSError as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise write_failed(path, e) from None
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def probe_write(folder: Path) -> None:
    """Raise OSError now, not halfway through, when the folder cannot be written."""
    fd, tmp = tempfile.mkstemp(prefix=".probe.", dir=folder)
    os.close(fd)
    os.unlink(tmp)


# --- test hooks: a fault at a known point ---------------------------------------------------------------

FAULT_ENV = "FER_COMPARE_FAULT"
_fault_counts: dict[str, int] = {}


def fault_point(point: str) -> None:
    """Tests only: FER_COMPARE_FAULT="<point>:<n>[:<SIGNAL>]" sends this process SIGNAL (default KILL)
    the n-th time `point` is passed (e.g. "train:epoch:2:TERM", "format:photo:5", "write:comparison.json:1").

    Lets a test interrupt a run at a known place instead of after a guessed delay.
    """
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    parts = spec.rsplit(":", 2)
    signame = "KILL"
    if len(parts) == 3 and not parts[2].isdigit():
        where, count, signame = parts[0], parts[1], parts[2]
    else:
        where, count = spec.rsplit(":", 1)
    if where != point or not count.isdigit():
        return
    _fault_counts[point] = _fault_counts.get(point, 0) + 1
    if _fault_counts[point] == int(count):
        os.kill(os.getpid(), getattr(signal, f"SIG{signame}"))


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
    # ANYDEPTH | ANYCOLOR, not UNCHANGED: 16-bit and gray files keep their depth and channels, and
    # the EXIF orientation of a rotated phone photo is applied (IMREAD_UNCHANGED ignores it).
    flags = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR
    header = _probe_size(data)
    limit = MAX_JPEG_PIXELS if data[0] == 0xFF else MAX_OTHER_PIXELS
    if header is not None and header[0] * header[1] > limit:
        raise ImageError(f"image too large ({header[0]}x{header[1]})")
    if header is not None and header[0] * header[1] > MAX_PIXELS:
        small = header[0] * header[1] < 16 * MAX_PIXELS
        flags = cv2.IMREAD_REDUCED_GRAYSCALE_4 if small else cv2.IMREAD_REDUCED_GRAYSCALE_8
    try:
        image = cv2.imdecode(data, flags)
    except cv2.error as e:  # OpenCV refuses some headers (too large, bad dimensions) by raising
        lines = [x for x in str(e).splitlines() if x.strip()]
        raise ImageError(f"not a readable image ({lines[-1].strip()[:120] if lines else 'decoder error'})") from None
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
