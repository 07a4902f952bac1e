"""What exporting costs: the SavedModel alone against SavedModel + model.tflite, per model at full size.

    flock /tmp/fer-cpu.lock nice -n 19 .venv/bin/python benchmarks/export_cost.py   # ~5 min

Each export runs in a fresh child process (peak memory is per process): build the untrained model
at the thesis's sizes, then `export_saved_model(..., tflite=False)` or `tflite=True`. Reported: the
export's seconds (median of --repeats children), the child's peak RSS, the files' sizes.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine, write_results

MODELS = ("cnn", "landmark_fnn", "gradient_fnn")


def child(kind: str, tflite: bool) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from fer_compare.tf_import import import_tensorflow

    import_tensorflow()
    import numpy as np

    from fer_compare.checkpoints import TFLITE, export_saved_model
    from fer_compare.nn.models import build_model
    from fer_compare.settings import load_config

    config = load_config(None, ["nn.gradient_fnn.emotions=null"])
    hyper = config.model_record(kind)
    model = build_model(kind, ["neutral", "happy"], config.hyper(kind), config.nn.input, 0)
    model(np.zeros([1, *model.input_shape], np.float32), training=False)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        out = export_saved_model(model, Path(tmp) / kind, hyper, tflite=tflite)
        seconds = time.perf_counter() - t0
        files = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        lite = (out / TFLITE).stat().st_size if (out / TFLITE).exists() else 0
    return {"seconds": seconds, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_before_export_mib": before, "folder_bytes": files, "tflite_bytes": lite}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1] == "1")))
        return 0
    results = {}
    print(f"{'model':<13} {'export':<22} {'seconds':>8} {'peak RSS MiB':>13} {'tflite MB':>10}")
    for kind in args.models:
        runs: dict[str, list[dict[str, float]]] = {"saved_model": [], "saved_model+tflite": []}
        for _ in range(args.repeats):  # alternating, so a change in the machine's load hits both
            for name, flag in (("saved_model", "0"), ("saved_model+tflite", "1")):
                out = subprocess.run([sys.executable, __file__, "--child", kind, flag], capture_output=True, text=True,
                                     cwd=ROOT)
                if out.returncode != 0:
                    sys.exit(out.stderr[-3000:])
                runs[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
        results[kind] = {}
        for name, rows in runs.items():
            summary = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
            results[kind][name] = {"median": summary, "runs": rows}
            print(f"{kind:<13} {name:<22} {summary['seconds']:>8.2f} {summary['peak_rss_mib']:>13.0f} "
                  f"{summary['tflite_bytes'] / 1e6:>10.1f}")
        ratio = results[kind]["saved_model+tflite"]["median"]["seconds"] / results[kind]["saved_model"]["median"][
            "seconds"]
        print(f"{'':<13} with tflite / without: {ratio:.2f}x the time")
    out = write_results("export_cost", {"machine": machine(), "repeats": args.repeats, "models": results})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
