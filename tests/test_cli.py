"""The command line, end to end: help, one-line errors, and the whole pipeline on the demo set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT


def cli(*args: str, cwd: Path = ROOT, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fer_compare", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def test_help_lists_the_stages_and_every_key():
    out = cli("--help")
    assert out.returncode == 0
    assert "format -> align -> gradient -> blur -> train -> test -> video" in out.stdout
    for key in ("raw_source", "image.size", "nn.input", "nn.gradient_fnn.hidden", "split.method", "video_source"):
        assert key in out.stdout


def test_a_user_mistake_is_one_line_and_exit_code_2(tmp_path):
    bad = tmp_path / "p.json"
    bad.write_text('{"raw_source": "/nowhere", "formatted": "%s"}' % (tmp_path / "f"))
    out = cli(str(bad), "--set", "demo_set=false")
    assert out.returncode == 2
    assert out.stderr.strip() == "fer-compare: error: raw_source: /nowhere does not exist"
    assert "Traceback" not in out.stderr
    out = cli(str(bad), "--set", "nn.cnn.dropuot=0.1")
    assert out.returncode == 2 and "did you mean 'nn.cnn.dropout'" in out.stderr


@pytest.mark.slow
def test_the_whole_pipeline_on_the_demo_set(tmp_path):
    """Format, align, gradient, blur, train (two epochs each), test: every output and report file."""
    sets = [f"raw_source={tmp_path / 'demo'}", f"formatted={tmp_path / 'formatted'}",
            f"aligned={tmp_path / 'aligned'}", f"gradients={tmp_path / 'gradients'}",
            f"blurred={tmp_path / 'blurred'}", f"runs_dir={tmp_path / 'runs'}",
            f"model_to_save={tmp_path / 'models'}", "blur=true", "run_name=e2e",
            "nn.cnn.max_epochs=2", "nn.landmark_fnn.max_epochs=2", "nn.gradient_fnn.max_epochs=2"]
    args = [str(ROOT / "parameters.json")]
    for s in sets:
        args += ["--set", s]
    out = cli(*args, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    runs = list((tmp_path / "runs").glob("*-e2e"))
    assert len(runs) == 1
    run = runs[0]
    assert f"run folder: {run.relative_to(tmp_path) if not run.is_absolute() else run}" in out.stdout
    assert "tensorboard --logdir" in out.stdout
    for name in ("comparison.json", "comparison.md", "learning_curves.png", "confusion_matrices.png",
                 "per_class_f1.png", "montage.png", "config.json"):
        assert (run / name).is_file(), name
    comparison = json.loads((run / "comparison.json").read_text())
    networks = {k for k, m in comparison["models"].items() if m["floor_of"] is None}
    assert networks == {"cnn", "landmark_fnn", "gradient_fnn"}
    assert {m["floor_of"] for m in comparison["models"].values()} == {None, *networks}  # one floor each
    assert comparison["winner"]["model"] in networks
    for kind in ("cnn", "landmark_fnn", "gradient_fnn"):
        assert list((run / kind / "train").glob("events.out.tfevents.*"))
        tags = summary_tags(run / kind / "validation")
        assert {"hparams", "images", "histograms", "scalars"} <= set(tags.values()), tags
        assert (tmp_path / "models" / kind / "saved_model.pb").is_file()
        assert (tmp_path / "models" / kind / "model.tflite").is_file()  # export_tflite: true by default
        assert (run / kind / "epochs.csv").read_text().count("\n") == 1 + 2  # header + two epochs
        history = comparison["models"][kind]["fold_results"][0]["history"]
        assert [row["epoch"] for row in history] == [0, 1]
    assert len(comparison["models"]["gradient_fnn"]["classes"]) == 6  # the thesis's six by default
    for folder in ("formatted", "aligned", "gradients", "blurred"):
        assert (tmp_path / folder / "manifest.csv").is_file() and (tmp_path / folder / "config.json").is_file()
    # an existing model_to_save is refused without overwrite, before any training
    again = cli(*args, "--set", "format=false", "--set", "align=false", "--set", "gradient=false",
                "--set", "blur=false", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr


def summary_tags(folder: Path) -> dict[str, str]:
    """Tag -> TensorBoard plugin of every summary in a folder's event files."""
    import tensorflow as tf

    tags = {}
    for path in folder.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                tags[value.tag] = value.metadata.plugin_data.plugin_name or tags.get(value.tag, "")
    return tags
