"""TensorFlow Lite exports: each model.tflite, run by the TFLite interpreter on London faces, equals its SavedModel."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from fer_compare.__main__ import main
from fer_compare.checkpoints import TFLITE, LoadedModel, ServingModule, export_saved_model, export_tflite
from fer_compare.data import load_model_data, to_network_input
from fer_compare.nn.models import build_model
from fer_compare.settings import load_config, updated

# Float32 in both; the interpreter (XNNPACK) sums in another order than TensorFlow's kernels.
ATOL = 1e-5


def tflite_probabilities(path: Path, x: np.ndarray) -> np.ndarray:
    """The flatbuffer's serving_default signature on x, one photo at a time (the live case)."""
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "tf.lite.Interpreter is deprecated ... use ai_edge_litert"
        if hasattr(tf, "lite") and hasattr(tf.lite, "Interpreter"):
            interpreter = tf.lite.Interpreter(model_path=str(path))
        else:  # TensorFlow versions without it: the same interpreter as its own package
            from ai_edge_litert.interpreter import Interpreter

            interpreter = Interpreter(model_path=str(path))
    run = interpreter.get_signature_runner("serving_default")
    return np.concatenate([run(inputs=row[None])["probabilities"] for row in x.astype(np.float32)])


@pytest.fixture(scope="module")
def exported(london_subset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The three models, small, trained and exported through the CLI on 24 London photos of 12 subjects."""
    tmp = tmp_path_factory.mktemp("tflite")
    sets = [f"raw_source={london_subset}", f"formatted={tmp / 'formatted'}", f"aligned={tmp / 'aligned'}",
            f"gradients={tmp / 'gradients'}", f"runs_dir={tmp / 'runs'}", f"model_to_save={tmp / 'models'}",
            "demo_set=false", "workers=1", "test=false", f"align_template={ROOT / 'templates' / 'template.png'}",
            "nn.cnn.max_epochs=3", "nn.landmark_fnn.max_epochs=3", "nn.gradient_fnn.max_epochs=3",
            "nn.gradient_fnn.hidden=[64,32]", "nn.gradient_fnn.emotions=null", "nn.cnn.hidden=[32,32]",
            "nn.landmark_fnn.hidden=[64,64]", "learning_rate=0.001"]
    assert main([a for s in sets for a in ("--set", s)]) == 0
    return {"config": load_config(None, sets), "models": tmp / "models"}


@pytest.mark.parametrize("kind", ["cnn", "landmark_fnn", "gradient_fnn"])
def test_tflite_export_agrees_with_the_saved_model_on_london_faces(exported: dict, kind: str) -> None:
    folder = exported["models"] / kind
    assert (folder / TFLITE).stat().st_size > 0
    data = load_model_data(exported["config"], kind)
    x = to_network_input(kind, data.x)
    assert len(x) >= 20
    saved = LoadedModel(folder).predict(x)
    lite = tflite_probabilities(folder / TFLITE, x)
    assert lite.shape == saved.shape
    assert (lite.argmax(1) == saved.argmax(1)).all()
    np.testing.assert_allclose(lite, saved, atol=ATOL, rtol=0)


def test_without_tflite_only_the_saved_model_is_written(exported: dict, tmp_path: Path) -> None:
    config = exported["config"]
    model = build_model("cnn", ["neutral", "happy"], config.hyper("cnn"), config.nn.input, 0)
    out = export_saved_model(model, tmp_path / "cnn", config.model_record("cnn"), tflite=False)
    assert (out / "saved_model.pb").exists() and not (out / TFLITE).exists()


@pytest.mark.slow
def test_the_full_size_gradient_fnn_fits_in_a_flatbuffer(exported: dict, tmp_path: Path) -> None:
    """117.6 M float32 weights: 470 MB, under the 2 GB FlatBuffer limit (untrained, thesis sizes)."""
    config = load_config(None, ["nn.gradient_fnn.emotions=null"])
    data = load_model_data(updated(exported["config"], {"nn": config.to_dict()["nn"]}), "gradient_fnn")
    x = to_network_input("gradient_fnn", data.x[:8])
    model = build_model("gradient_fnn", data.classes, config.hyper("gradient_fnn"), config.nn.input, 0)
    expected = ServingModule(model).serve(x)["probabilities"].numpy()
    assert export_tflite(model, tmp_path / TFLITE) is None
    assert (tmp_path / TFLITE).stat().st_size > 470e6
    lite = tflite_probabilities(tmp_path / TFLITE, x)
    assert (lite.argmax(1) == expected.argmax(1)).all()
    np.testing.assert_allclose(lite, expected, atol=ATOL, rtol=0)
