"""distribute: multi_worker: two worker processes on 127.0.0.1 train the same weights as one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_training import learnable, trainer

from fer_compare.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
# Dropout off: a replica draws its mask for its half of the batch, one process for the whole. With a
# weight average (the CNN's default), so that what is kept is the average both ways.
SETS = {"nn__landmark_fnn__max_epochs": 6, "nn__landmark_fnn__dropout": 0, "nn__landmark_fnn__average_epochs": 1.0}
# The same global batches and the mean of two half-batch gradients instead of one; float32 sums
# in another order.
ATOL = 1e-5

WORKER = """
import json, os, sys
sys.path.insert(0, {tests!r})
from pathlib import Path
import numpy as np
from fer_compare.tf_import import import_tensorflow
import_tensorflow()
from test_training import learnable, trainer
t = trainer(Path({tmp!r}), learnable(), "mw", distribute="multi_worker", **{sets!r})
result = t.fit()
index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
np.savez(Path({tmp!r}) / f"worker{{index}}.npz", **{{v.name + str(i): v.numpy()
                                                  for i, v in enumerate(t.model.trainable_variables)}})
print("REPLICAS", t.strategy.num_replicas_in_sync, "CHIEF", t.chief, "FOLDER", t.folder,
      "EPOCHS", len(result.history), "BEST", result.best_epoch, flush=True)
"""


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_train_the_weights_of_one_process(tmp_path: Path) -> None:
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
    script = WORKER.format(tests=str(Path(__file__).parent), tmp=str(tmp_path), sets=SETS)
    workers = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        workers.append(subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    outputs = [w.communicate() for w in workers]
    for w, (_, err) in zip(workers, outputs, strict=True):
        assert w.returncode == 0, err[-3000:]
    reports = [dict(zip(out.split()[::2], out.split()[1::2], strict=True)) for out, _ in outputs]
    assert [r["REPLICAS"] for r in reports] == ["2", "2"]
    assert [r["CHIEF"] for r in reports] == ["True", "False"]
    # The chief keeps its checkpoints where it was told; the other worker's went to a deleted temp folder.
    assert Path(reports[0]["FOLDER"]) == tmp_path / "mw"
    assert (tmp_path / "mw" / "checkpoints").is_dir() and (tmp_path / "mw" / "epochs.csv").exists()
    assert not Path(reports[1]["FOLDER"]).exists()
    # Both stopped at the same epoch and restored the same best epoch.
    assert reports[0]["EPOCHS"] == reports[1]["EPOCHS"] and reports[0]["BEST"] == reports[1]["BEST"]

    single = trainer(tmp_path, learnable(), "single", **SETS)
    result = single.fit()
    assert str(len(result.history)) == reports[0]["EPOCHS"]
    for index in range(2):
        weights = np.load(tmp_path / f"worker{index}.npz")
        assert len(weights.files) == len(single.model.trainable_variables)
        for i, v in enumerate(single.model.trainable_variables):
            np.testing.assert_allclose(weights[v.name + str(i)], v.numpy(), atol=ATOL, rtol=0, err_msg=v.name)


def test_multi_worker_without_tf_config_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(UserError, match="TF_CONFIG"):
        trainer(tmp_path, learnable(), "x", distribute="multi_worker")
