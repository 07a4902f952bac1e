"""What share of the gradient FNN's training time its checkpoint saves take, now and the old way.

Trains the gradient FNN of the default main job (the demo set, formatted, aligned and made into
gradients first when they are missing) through the CLI, in this process, with the checkpoint
calls timed. Two variants, alternating, each in its own child process:
- "best with the state": the tool's way (best weights copied in memory, written with the state);
- "best at every improvement": the earlier way (best/ written whenever the validation loss improves).

    .venv/bin/python benchmarks/checkpoint_share.py [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ROOT, machine, median, run_child, wait_for_idle_cores, write_results

VARIANTS = ("best with the state", "best at every improvement")


def _child(variant: str, work: str) -> None:
    """One training run with the checkpoint calls timed; prints one JSON line."""
    sys.path.insert(0, str(ROOT))
    from fer_compare import checkpoints, training
    from fer_compare.__main__ import main

    spent = {"state": 0.0, "best": 0.0, "best_copy": 0.0, "best_writes": 0, "state_writes": 0}
    save = checkpoints.save_checkpoint

    def timed_save(manager: Any, checkpoint_number: int | None = None) -> str:
        t0 = time.perf_counter()
        path = save(manager, checkpoint_number=checkpoint_number)
        kind = "best" if Path(manager.directory).name == "best" else "state"
        spent[kind] += time.perf_counter() - t0
        spent[f"{kind}_writes"] += 1
        return path

    checkpoints.save_checkpoint = timed_save  # BestWeights calls it through the module
    training.save_checkpoint = timed_save
    improved = checkpoints.BestWeights.improved

    def timed_improved(self: Any, epoch: int) -> None:
        t0 = time.perf_counter()
        improved(self, epoch)
        spent["best_copy"] += time.perf_counter() - t0
        if variant == "best at every improvement":
            self.write()

    checkpoints.BestWeights.improved = timed_improved
    results: list[Any] = []
    fit = training.Trainer.fit

    def kept_fit(self: Any) -> Any:
        result = fit(self)
        results.append(result)
        return result

    training.Trainer.fit = kept_fit
    w = Path(work)
    sets = [f"raw_source={w / 'demo'}", f"formatted={w / 'formatted'}", f"aligned={w / 'aligned'}",
            f"gradients={w / 'gradients'}", f"runs_dir={w / 'runs'}", "save=false", "test=false",
            'models=["gradient_fnn"]']
    code = main(["parameters.json", *[a for s in sets for a in ("--set", s)]])
    assert code == 0, code
    (result,) = results
    print(json.dumps({"variant": variant, "training_seconds": result.seconds, "epochs": len(result.history),
                      **spent}))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        _child(*args.child)
        return 0
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as work:
        # Prepare the demo set's stage folders once (no training), so each child only trains.
        subprocess.run([sys.executable, "-m", "fer_compare", "parameters.json", "--set", f"raw_source={work}/demo",
                        "--set", f"formatted={work}/formatted", "--set", f"aligned={work}/aligned", "--set",
                        f"gradients={work}/gradients", "--set", "train=false", "--set", "test=false",
                        "--set", f"runs_dir={work}/runs"], check=True, cwd=ROOT, capture_output=True)
        busy = wait_for_idle_cores()
        for _ in range(args.repeats):
            for variant in VARIANTS:
                runs.append(run_child([__file__, "--child", variant, work]))
    summary = {}
    for variant in VARIANTS:
        mine = [r for r in runs if r["variant"] == variant]
        summary[variant] = {
            "training_seconds_median": median([r["training_seconds"] for r in mine]),
            "best_seconds_median": median([r["best"] + r["best_copy"] for r in mine]),
            "best_share_median": median([(r["best"] + r["best_copy"]) / r["training_seconds"] for r in mine]),
            "state_seconds_median": median([r["state"] for r in mine]),
            "best_writes": [r["best_writes"] for r in mine], "state_writes": [r["state_writes"] for r in mine],
        }
        s = summary[variant]
        print(f"{variant}: training {s['training_seconds_median']:.1f} s, best weights "
              f"{s['best_seconds_median']:.1f} s ({100 * s['best_share_median']:.1f} %, writes {s['best_writes']}), "
              f"state saves {s['state_seconds_median']:.1f} s (writes {s['state_writes']})")
    ratio = (summary[VARIANTS[1]]["training_seconds_median"] / summary[VARIANTS[0]]["training_seconds_median"])
    print(f"training time, old way / tool's way: {ratio:.2f}x")
    write_results("checkpoint_share", {"machine": machine(), "busy_cores_before": busy, "runs": runs,
                                       "summary": summary, "ratio": ratio})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
