"""Import TensorFlow without its start-up banner on the user's console."""

from __future__ import annotations

import os


def import_tensorflow_quietly() -> None:
    """TF 2.21 prints oneDNN notices through absl before any log level applies; hide stderr for the import only."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
