"""tf_import: TensorFlow imported quietly, without Keras, and still whole."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import sys
    from fer_compare.tf_import import import_tensorflow
    import_tensorflow()
    import tensorflow as tf
    print("keras loaded:", "keras" in sys.modules, "sklearn loaded:", "sklearn" in sys.modules)

    class Doubler(tf.Module):
        def __init__(self):
            self.w = tf.Variable(2.0)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def __call__(self, x):
            return self.w * x

    tf.saved_model.save(Doubler(), sys.argv[1])
    print("reloaded:", tf.saved_model.load(sys.argv[1])(tf.constant([1.5])).numpy().tolist())
    import keras  # hidden only while TensorFlow imports
    print("keras afterwards:", keras.__name__)
""")


def test_tensorflow_imports_without_keras_and_saves_models(tmp_path) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "doubler")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "keras loaded: False sklearn loaded: False"
    assert lines[1] == "reloaded: [3.0]"
    assert lines[2] == "keras afterwards: keras"


def test_tensorflow_import_prints_nothing() -> None:
    done = subprocess.run([sys.executable, "-c", "from fer_compare.tf_import import import_tensorflow; "
                           "import_tensorflow()"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0
    assert done.stdout == "" and done.stderr == ""


ONEDNN_SCRIPT = ("from fer_compare.tf_import import import_tensorflow; import_tensorflow(); "
                 "from tensorflow.python.util import _pywrap_util_port as port; print(port.IsMklEnabled())")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="TensorFlow's Linux wheels carry oneDNN")
@pytest.mark.parametrize("setting, enabled", [(None, "True"), ("0", "False"), ("1", "True")])
def test_onednn_is_on_unless_the_user_turned_it_off(setting: str | None, enabled: str) -> None:
    """On whatever CPU: TensorFlow on its own leaves oneDNN off on CPUs without AVX-512 (this machine's)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if setting is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = setting
    done = subprocess.run([sys.executable, "-c", ONEDNN_SCRIPT], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == enabled
