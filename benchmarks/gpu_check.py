"""GPU check: a few epochs of each model on the GPU against the same run on the CPU (same seed, same data).

    .venv/bin/pip uninstall -y tensorflow-cpu && .venv/bin/pip install -e ".[gpu]"   # once, on the GPU machine
    .venv/bin/python benchmarks/gpu_check.py                                          # ~2-5 min

Each side runs in a child process of its own (the CPU side with CUDA_VISIBLE_DEVICES=""), with
TensorFloat-32 off and TensorFlow's op determinism on, so the GPU computes in float32 as the CPU
does. It prints, per model, the devices, samples/s of both and the largest difference between the
two loss curves (training and validation loss per epoch), and fails (exit 1) when a difference
exceeds the tolerance: float32 sums in another order drift apart a little with every Adam step.
Without a GPU it says so and exits 0 (nothing to check; CI does not run it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("cnn", "landmark_fnn", "gradient_fnn")
# |gpu - cpu| <= ABS + REL * |cpu| for every epoch's training and validation loss.
ABS, REL = 0.02, 0.02


def child(kind: str, device: str, epochs: int, examples: int, small: bool) -> dict[str, Any]:
    """One side: train `kind` for `epochs` on synthetic data with a class signal; losses and speed."""
    sys.path.insert(0, str(ROOT))
    from fer_compare.tf_import import import_tensorflow

    import_tensorflow()
    import tensorflow as tf
    tf.config.experimental.enable_tensor_float_32_execution(False)
    tf.config.experimental.enable_op_determinism()
    import numpy as np

    from fer_compare.data import ModelData
    from fer_compare.settings import load_config
    from fer_compare.splits import make_split
    from fer_compare.training import Trainer, describe_devices

    rng = np.random.default_rng(0)
    classes = ["neutral", "happy"]
    y = np.arange(examples) % 2
    if kind == "landmark_fnn":
        x = rng.normal(size=(examples, 4, 42)).astype(np.float32)
        x[:, 1, :10] += 1.5 * y[:, None]
    else:
        x = rng.integers(0, 60, size=(examples, 70, 70)).astype(np.uint8)
        x[y == 1, 40:55, 20:50] = 200  # a "smile" band
    subjects = np.array([f"s{i // 2:03d}" for i in range(examples)])
    data = ModelData(kind, x, y.astype(np.int32), [f"k{i}" for i in range(examples)], subjects,
                     np.array([""] * examples), classes, "synthetic")
    sets = [f"runs_dir={ROOT / 'benchmarks' / 'results' / 'gpu_check_runs'}", f"nn.{kind}.max_epochs={epochs}",
            "nn.gradient_fnn.emotions=null", "stopping.min_epochs=1000", "checkpoint_seconds=3600"]
    if small:
        sets += ["nn.gradient_fnn.hidden=[256,128]", "nn.landmark_fnn.hidden=[64,64]", "nn.cnn.hidden=[32,32]"]
    config = load_config(None, sets)
    split = make_split(data.subjects, data.parts, "subject", 0.2, 0.0, 0)
    folder = ROOT / "benchmarks" / "results" / "gpu_check_runs" / f"{kind}-{device}-{os.getpid()}"
    trainer = Trainer(kind, config, data, split, folder, summaries=False)
    result = trainer.fit()
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    # The first epoch holds tracing and (GPU) kernel selection: speed from the others.
    later = result.history[1:] or result.history
    return {"devices": describe_devices(trainer.strategy),
            "gpus": [d.name for d in tf.config.list_logical_devices("GPU")],
            "train_loss": [r["train_loss"] for r in result.history],
            "validation_loss": [r["validation_loss"] for r in result.history],
            "samples_per_second": len(split.train) * len(later) / sum(r["seconds"] for r in later)}


def run_side(kind: str, device: str, args: argparse.Namespace) -> dict[str, Any]:
    env = dict(os.environ)
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    command = [sys.executable, __file__, "--child", kind, device, "--epochs", str(args.epochs),
               "--examples", str(args.examples)] + (["--small"] if args.small else [])
    out = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{kind} on {device} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def gpu_visible() -> list[str]:
    code = ("from fer_compare.tf_import import import_tensorflow; tf = import_tensorflow(); "
            "print(len(tf.config.list_physical_devices('GPU')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    return ["GPU"] * int(out.stdout.strip() or 0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--examples", type=int, default=320)
    p.add_argument("--small", action="store_true", help="smaller hidden layers (a quick look)")
    p.add_argument("--cpu-against-cpu", action="store_true",
                   help="run both sides on the CPU: checks this script where there is no GPU")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.epochs, args.examples, args.small)))
        return 0
    if not args.cpu_against_cpu and not gpu_visible():
        print("gpu_check: TensorFlow sees no GPU here (tf.config.list_physical_devices('GPU') is empty): nothing "
              "to check. On a machine with an NVIDIA GPU: pip uninstall tensorflow-cpu; pip install -e \".[gpu]\".")
        return 0
    fast = "cpu" if args.cpu_against_cpu else "gpu"
    failed = False
    results = {}
    print(f"{'model':<13} {'device':<45} {'samples/s':>10} {'max |Δ loss|':>13}  {'within':>6}")
    for kind in args.models:
        cpu, other = run_side(kind, "cpu", args), run_side(kind, fast, args)
        worst, ok = 0.0, True
        for key in ("train_loss", "validation_loss"):
            for a, b in zip(cpu[key], other[key], strict=True):
                worst = max(worst, abs(a - b))
                ok &= abs(a - b) <= ABS + REL * abs(a)
        failed |= not ok
        results[kind] = {"cpu": cpu, fast: other, "max_abs_difference": worst, "within_tolerance": ok}
        print(f"{kind:<13} {cpu['devices'].split(', strategy')[0][:45]:<45} {cpu['samples_per_second']:>10.0f}")
        where = other["devices"].split(", strategy")[0][:45]
        print(f"{'':<13} {where:<45} {other['samples_per_second']:>10.0f} {worst:>13.2e}  {'yes' if ok else 'NO':>6}"
              f"   ({other['samples_per_second'] / cpu['samples_per_second']:.1f}x)")
    out = ROOT / "benchmarks" / "results" / f"gpu_check-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"tolerance": {"abs": ABS, "rel": REL}, "epochs": args.epochs, **results}, indent=2))
    print(f"tolerance per epoch: |Δ loss| <= {ABS} + {REL} x |cpu loss|; results: {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
