"""Import TensorFlow quietly and without Keras, before anything else in the process does."""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

MADV_PAGEOUT = 21  # Linux 5.4+: reclaim these pages now; data is never lost (clean pages are re-read)


def import_tensorflow(page_out: bool = True) -> None:
    """Import TensorFlow with its start-up banner hidden and Keras 3 kept out.

    TensorFlow 2.21 imports all of Keras 3 while it is imported (to register Keras's optimizers
    for SavedModels), and Keras pulls in scikit-learn, SciPy, matplotlib.pyplot and OpenCV: about
    1,400 modules and 120 MiB of resident memory in every process, 6 % of the gradient FNN's
    training peak (benchmarks/BENCHMARKS.md). fer_compare uses no Keras. Keras is hidden only
    while TensorFlow imports; `import keras` works afterwards. Does nothing if TensorFlow
    is already imported. With `page_out`, TensorFlow's start-up pages are then released
    (`page_out_tensorflow_libraries`).

    oneDNN's kernels are switched on for every x86 CPU (`TF_ENABLE_ONEDNN_OPTS=1`, unless the
    user set it). TensorFlow turns them on by itself only where the CPU has AVX-512 VNNI, BF16
    or AMX; on an AVX2 CPU it falls back to its Eigen kernels, which the wheel builds without
    FMA. On the AVX2 EPYC this project was measured on, oneDNN trained the CNN 1.53x, the
    landmark FNN 1.45x and the gradient FNN 1.11x faster (benchmarks/BENCHMARKS.md).
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    hide_keras = "keras" not in sys.modules
    if hide_keras:
        sys.modules["keras"] = None  # type: ignore[assignment]  # find_spec("keras") -> None, import -> ImportError
    # TF 2.21 prints oneDNN notices through absl before any log level applies: hide stderr for the import.
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        if hide_keras and sys.modules.get("keras", 0) is None:
            del sys.modules["keras"]
    if page_out:
        page_out_tensorflow_libraries()


def page_out_tensorflow_libraries() -> int:
    """Ask Linux to page out TensorFlow's shared-library pages; returns the bytes of mappings advised.

    Importing TensorFlow touches 300-450 MB of its 850 MB of libraries (how much depends on the
    page cache), mostly code and tables that register its thousands of ops once and are not
    read again. They count as resident memory until the kernel needs the room. MADV_PAGEOUT
    hands them back now; what training and inference use later comes back on its first touch
    (~130 MB for the gradient FNN). Pages the process wrote (relocations) cannot be paged out
    without swap and stay. 0 where /proc or madvise is missing (not Linux, kernels before 5.4).
    """
    import tensorflow

    folder = str(Path(tensorflow.__file__).resolve().parent) + os.sep
    try:
        maps = Path("/proc/self/maps").read_text().splitlines()
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return 0
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    advised = 0
    for line in maps:
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5].startswith(folder):
            start, end = (int(a, 16) for a in fields[0].split("-"))
            if madvise(start, end - start, MADV_PAGEOUT) == 0:
                advised += end - start
    return advised
