"""Import TensorFlow quietly and without Keras, before anything else in the process does."""

from __future__ import annotations

import os
import sys


def import_tensorflow() -> None:
    """Import TensorFlow with its start-up banner hidden and Keras 3 kept out.

    TensorFlow 2.21 imports all of Keras 3 while it is imported (to register Keras's optimizers
    for SavedModels), and Keras pulls in scikit-learn, SciPy, matplotlib.pyplot and OpenCV: about
    1,400 modules and 120 MiB of resident memory in every process, 6 % of the gradient FNN's
    training peak (benchmarks/BENCHMARKS.md). fer_compare uses no Keras. Keras is hidden only
    while TensorFlow imports; `import keras` works afterwards. Does nothing if TensorFlow
    is already imported.

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
