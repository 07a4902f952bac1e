"""The stage table: every stage in one place, read by the pipeline and by the CLI."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import ROOT

from fer_compare.pipeline import STAGE_ORDER, STAGES, needs_tensorflow, stage_folders
from fer_compare.settings import DEFAULTS, load_config


def test_each_stage_has_a_switch_and_writes_a_folder_the_config_names() -> None:
    assert STAGE_ORDER == ("format", "align", "gradient", "blur", "train", "test", "video")
    for stage in STAGES:
        assert isinstance(DEFAULTS[stage.name], bool), stage.name
        assert stage.folder is None or isinstance(DEFAULTS[stage.folder], str), stage.name
    assert stage_folders() == (("format", "formatted"), ("align", "aligned"), ("gradient", "gradients"),
                               ("blur", "blurred"))
    assert [s.name for s in STAGES if s.needs_tensorflow] == ["train", "test", "video"]


def test_tensorflow_is_needed_only_when_a_stage_that_uses_it_is_on() -> None:
    preprocessing = ["train=false", "test=false", "video=false", "blur=true"]
    assert not needs_tensorflow(load_config(None, preprocessing))
    for name in ("train", "test", "video"):
        assert needs_tensorflow(load_config(None, [*preprocessing, f"{name}=true"]))


SCRIPT = textwrap.dedent("""
    import sys
    from fer_compare.__main__ import main
    code = main(sys.argv[1:])
    print(code, "tensorflow" in sys.modules)
""")


def test_a_preprocessing_run_writes_each_folder_and_never_imports_tensorflow(london: Path, tmp_path: Path) -> None:
    (tmp_path / "raw" / "happy").mkdir(parents=True)
    shutil.copy(london / "happy" / "001_08.jpg", tmp_path / "raw" / "happy")
    sets = [f"raw_source={tmp_path / 'raw'}", "demo_set=false", "workers=1", "blur=true", "train=false",
            "test=false", f"align_template={ROOT / 'templates' / 'template.png'}"]
    sets += [f"{key}={tmp_path / key}" for _, key in stage_folders()]
    args = [a for s in sets for a in ("--set", s)]
    done = subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "0 False"
    for name, key in stage_folders():
        assert (tmp_path / key / "manifest.csv").is_file() and (tmp_path / key / "config.json").is_file(), name
        assert f"[{name}]" in done.stdout
