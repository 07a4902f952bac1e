"""Preprocessing speed: format + align + gradient over the 204 London photos, through the stages' run(config).

    .venv/bin/python benchmarks/preprocess_speed.py [--repeats N] [--workers 2 1] [--profile]
                                                  [--variants min_size=0.4 fork ...] [--no-cli]

Each repeat runs in a fresh process with fresh output folders (under a temporary directory; the
photos are read in place from ../shared/datasets/frl-london), so every stage really processes every
photo and the worker pool starts from nothing, as for a user. Timed: each stage's run(config), end
to end — including the spawn of the worker pool (shared by the stages since runner.worker_pool; closed
and timed at the end, as the pipeline does), each worker's set-up (Haar, dlib's model), manifest and
reject files and the gradient stage's montage. photos/s = 204 / that total. Also timed from outside:
the whole child process (Python start-up + imports), and the same three stages through the CLI
(`python -m fer_compare --set ...`). CPU use of our processes and of everything else is recorded
(/proc/stat) so a disturbed repeat can be seen. `--variants` times changes (config overrides or
monkeypatches, see VARIANTS) interleaved with the baseline; `--profile` adds a single-process
breakdown per photo. JSON goes to benchmarks/results/ (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import (
    LONDON,
    ROOT,
    CpuWatch,
    load_1min,
    machine,
    median,
    run_child,
    wait_for_idle_cores,
    wait_for_quiet,
    write_results,
)

STAGES = ("format", "align", "gradient")
COLUMNS = (*STAGES, "close_pool")


VARIANTS = {
    "default": "the stages as they are",
    "min_size=0.4": "Haar looks only for faces >= 0.4 of the photo's shorter side (config detection.min_size; "
                    "the default 0.25 sets the cost: the pyramid starts where such a face is 24 px)",
    "align_parent_light": "align.run checks only that the landmark model and template files exist, instead of "
                          "loading dlib's 100 MB predictor and the template in the parent (monkeypatched; a no-op "
                          "once align.run itself stopped loading them)",
    "fork": "worker pools started with the fork context instead of spawn (monkeypatched runner.mp)",
    "all": "align_parent_light + fork (both keep every output identical)",
}
# --profile adds per-photo costs (the JPEG decoded straight to grayscale, Haar with detect_width 320 or
# min_size 0.4 and how far their boxes agree with the default's), pool start-up and set-up costs.


def stage_config(tmp: Path, workers: int, extra: list[str] = ()) -> dict[str, Any]:
    """A resolved config whose outputs all live under tmp (as tests/conftest.py::stage_config builds it)."""
    from fer_compare.settings import load_config

    sets = [f"raw_source={LONDON}", f"formatted={tmp / 'formatted'}", f"aligned={tmp / 'aligned'}",
            f"gradients={tmp / 'gradients'}", f"blurred={tmp / 'blurred'}", f"runs_dir={tmp / 'runs'}",
            f"model_to_save={tmp / 'models'}", "demo_set=false", f"workers={workers}",
            f"align_template={ROOT / 'templates' / 'template.png'}", *extra]
    return load_config(None, sets)


class _ForkOnly:
    """Stands in for the multiprocessing module inside fer_compare.stages.runner: every context is fork."""

    def get_context(self, method: str | None = None) -> Any:
        import multiprocessing as mp

        return mp.get_context("fork")


def apply_variant(variant: str, workers: int) -> tuple[list[str], list[tuple[Any, str, Any]]]:
    """Config overrides and (object, attribute, replacement) patches for a variant (workers > 1 for patches)."""
    from fer_compare.stages import align, runner

    parts = {"align_parent_light", "fork"} if variant == "all" else {variant}
    sets = ["detection.min_size=[0.4, 0.4]"] if "min_size=0.4" in parts else []
    patches: list[tuple[Any, str, Any]] = []
    if "align_parent_light" in parts and workers > 1:
        from fer_compare.face.template import resolve_template

        def check_template(path: Any, predictor: Any, size: Any) -> None:
            if not resolve_template(path).is_file():
                raise FileNotFoundError(path)

        # Only the parent's names are replaced: spawned workers import the real ones. (align.py no longer
        # imports them since the stages share face/chain.py; then there is nothing to replace.)
        patches += [(align, name, value) for name, value in (("LandmarkPredictor", lambda *a, **k: None),
                                                              ("Template", check_template)) if hasattr(align, name)]
    if "fork" in parts:
        patches.append((runner, "mp", _ForkOnly()))
    return sets, patches


def child_stages(workers: int, variant: str = "default") -> dict[str, Any]:
    """Run format, align and gradient once into fresh folders, then close the worker pool; seconds per stage."""
    import contextlib
    import io

    from fer_compare.stages import align, format, gradient, runner

    modules = {"format": format, "align": align, "gradient": gradient}
    seconds: dict[str, float] = {}
    counts: dict[str, int] = {}
    sets, patches = apply_variant(variant, workers)
    with tempfile.TemporaryDirectory() as tmp:
        config = stage_config(Path(tmp), workers, sets)
        with CpuWatch(children=True) as watch:
            for name in STAGES:
                saved = []
                for obj, attr, value in patches:
                    if name == "align" or attr == "mp":  # align's patches only while the parent runs align
                        saved.append((obj, attr, getattr(obj, attr)))
                        setattr(obj, attr, value)
                t0 = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):
                    result = modules[name].run(config)
                seconds[name] = time.perf_counter() - t0
                counts[name] = len(result.records)
                for obj, attr, value in saved:
                    setattr(obj, attr, value)
            t0 = time.perf_counter()
            if hasattr(runner, "close_pool"):  # the shared pool, as the pipeline closes it after the last stage
                runner.close_pool()
            seconds["close_pool"] = time.perf_counter() - t0
    total = sum(seconds.values())
    return {"workers": workers, "variant": variant, "seconds": seconds, "total": total, "records": counts,
            "cpu": watch.record(), "own_cores": watch.own_cores, "foreign_cores": watch.foreign_cores}


def child_profile(limit: int = 0) -> dict[str, Any]:
    """Single-process cost per photo of each step, and the start-up of a 2-process pool per stage."""
    import contextlib
    import io
    import multiprocessing as mp
    from functools import partial

    import cv2
    import numpy as np

    from fer_compare.datasets import load_gray
    from fer_compare.face.alignment import FaceAligner
    from fer_compare.face.detection import HaarFaceDetector, crop_face
    from fer_compare.face.gradient import masked_gradient
    from fer_compare.face.landmarks import LandmarkPredictor
    from fer_compare.face.template import Template
    from fer_compare.files import write_image
    from fer_compare.stages import align, format, gradient
    from fer_compare.stages.runner import _init_worker

    cv2.setNumThreads(1)  # as in the workers
    photos = sorted(LONDON.glob("*/*.jpg"))
    if limit:
        photos = photos[:limit]
    t: dict[str, list[float]] = {k: [] for k in ("imread_bgr", "load_gray", "haar", "crop_resize", "png_write_crop",
                                                  "dlib_landmarks", "warp_align", "png_write_aligned",
                                                  "laplacian_mask", "png_write_gradient")}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        config = stage_config(out, 1)
        d = config.detection
        detector = HaarFaceDetector(d.scale_factor, d.min_neighbors, tuple(d.min_size), d.detect_width)
        t0 = time.perf_counter()
        predictor = LandmarkPredictor(config.landmark_model)
        template = Template(config.align_template, predictor, tuple(config.image.size))
        aligner = FaceAligner(template.landmarks, tuple(config.image.size))
        setup_align = time.perf_counter() - t0
        for p in photos:
            a = time.perf_counter()
            cv2.imread(str(p))
            t["imread_bgr"].append(time.perf_counter() - a)
            a = time.perf_counter()
            gray = load_gray(str(p))
            t["load_gray"].append(time.perf_counter() - a)
            a = time.perf_counter()
            boxes = detector.detect(gray)
            t["haar"].append(time.perf_counter() - a)
            if len(boxes) != 1:
                continue
            a = time.perf_counter()
            crop = crop_face(gray, boxes[0], tuple(config.image.size))
            t["crop_resize"].append(time.perf_counter() - a)
            a = time.perf_counter()
            write_image(out / f"c{len(t['imread_bgr'])}.png", crop)
            t["png_write_crop"].append(time.perf_counter() - a)
            a = time.perf_counter()
            lm = predictor(crop)
            t["dlib_landmarks"].append(time.perf_counter() - a)
            a = time.perf_counter()
            aligned, moved = aligner(crop, lm)
            t["warp_align"].append(time.perf_counter() - a)
            a = time.perf_counter()
            write_image(out / f"a{len(t['imread_bgr'])}.png", aligned)
            t["png_write_aligned"].append(time.perf_counter() - a)
            a = time.perf_counter()
            g = masked_gradient(aligned, moved, config.gradient_options.ksize,
                                config.gradient_options.negative)
            t["laplacian_mask"].append(time.perf_counter() - a)
            a = time.perf_counter()
            write_image(out / f"g{len(t['imread_bgr'])}.png", g)
            t["png_write_gradient"].append(time.perf_counter() - a)

        # Cheaper detection settings vs the default: same one-face decision? box IoU? time?
        alternatives = {
            "detect_width=320": HaarFaceDetector(d.scale_factor, d.min_neighbors, tuple(d.min_size), 320),
            "min_size=0.4": HaarFaceDetector(d.scale_factor, d.min_neighbors, (0.4, 0.4), d.detect_width),
        }
        agreement: dict[str, dict[str, float]] = {}
        for alt_name, alt in alternatives.items():
            same, ious, times = 0, [], []
            for p in photos:
                gray = load_gray(str(p))
                a = time.perf_counter()
                b_alt = alt.detect(gray)
                times.append(time.perf_counter() - a)
                b = detector.detect(gray)
                same += (len(b) == 1) == (len(b_alt) == 1)
                if len(b) == 1 and len(b_alt) == 1:
                    ious.append(_iou(b[0], b_alt[0]))
            t[f"haar_{alt_name}"] = times
            agreement[alt_name] = {"same_one_face_decision": same, "iou_median": float(np.median(ious)),
                                   "iou_min": float(np.min(ious))}
        # Decoding the JPEG straight to grayscale (libjpeg skips the colour planes) vs files.read_gray.
        t["imdecode_grayscale"] = []
        for p in photos:
            a = time.perf_counter()
            cv2.imdecode(np.fromfile(p, np.uint8), cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION)
            t["imdecode_grayscale"].append(time.perf_counter() - a)

        # Each stage's per-process set-up (what a worker does on its first photo of the stage), in this process.
        factories = {
            "format": partial(format.FaceCropper, config, out, False),
            "align": partial(align.FaceAlignerStep, config, out),
            "gradient": partial(gradient.GradientStep, config, out),
        }
        setup_s: dict[str, float] = {}
        for name, factory in factories.items():
            a = time.perf_counter()
            factory()
            setup_s[name] = time.perf_counter() - a
        # align.run's own check in the parent before any photo: loads the landmark model and the template.
        a = time.perf_counter()
        Template(config.align_template, LandmarkPredictor(config.landmark_model), tuple(config.image.size))
        parent_check = time.perf_counter() - a
        # Starting (and stopping) a spawn pool of 2, one trivial task per worker.
        a = time.perf_counter()
        ctx = mp.get_context("spawn")
        with contextlib.redirect_stdout(io.StringIO()), ctx.Pool(2, initializer=_init_worker) as pool:
            pool.map(abs, [1, 2], chunksize=1)
        pool_start = time.perf_counter() - a
    ms = {k: 1000 * float(np.median(v)) for k, v in t.items() if v}
    sums = {k: float(np.sum(v)) for k, v in t.items() if v}
    return {"photos": len(photos), "median_ms": ms, "total_s_single_process": sums,
            "align_setup_s": setup_align, "stage_setup_s": setup_s, "align_parent_check_s": parent_check,
            "pool_start_s": pool_start,
            "detection_alternatives": agreement}


def _iou(a: Any, b: Any) -> float:
    """Intersection over union of two Boxes."""
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / (a.w * a.h + b.w * b.h - inter)


def cli_command(tmp: Path, workers: int) -> list[str]:
    """The same three stages through the command line (python -m fer_compare), everything else off."""
    sets = [f"raw_source={LONDON}", f"formatted={tmp / 'formatted'}", f"aligned={tmp / 'aligned'}",
            f"gradients={tmp / 'gradients'}", f"blurred={tmp / 'blurred'}", f"runs_dir={tmp / 'runs'}",
            f"model_to_save={tmp / 'models'}", "demo_set=false", f"workers={workers}",
            f"align_template={ROOT / 'templates' / 'template.png'}", "format=true", "align=true",
            "gradient=true", "blur=false", "train=false", "test=false", "video=false", "save=false"]
    return ["-m", "fer_compare", *[a for s in sets for a in ("--set", s)]]


def run_cli(workers: int) -> dict[str, Any]:
    import os
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, *cli_command(Path(tmp), workers)], capture_output=True, text=True,
                              cwd=ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"CLI failed:\n{proc.stderr[-2000:]}")
    return {"workers": workers, "wall": wall}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--workers", type=int, nargs="+", default=[2, 1])
    p.add_argument("--profile", action="store_true", help="also the per-step single-process breakdown")
    p.add_argument("--no-cli", action="store_true", help="skip timing the same stages through python -m fer_compare")
    p.add_argument("--variants", nargs="*", default=[], choices=[v for v in VARIANTS if v != "default"],
                   help="also time these changes (config overrides / monkeypatches), workers=2, --repeats each")
    p.add_argument("--max-load", type=float, default=1.0)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        spec = json.loads(args.child)
        if spec["what"] == "profile":
            out = child_profile()
        else:
            out = child_stages(spec["workers"], spec.get("variant", "default"))
        print(json.dumps(out))
        return 0

    n_photos = len(sorted(LONDON.glob("*/*.jpg")))
    quiet = wait_for_quiet(args.max_load)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    print(f"load {quiet['load_at_start']:.2f} (waited {quiet['waited_s']:.0f} s); {n_photos} photos from {LONDON}",
          flush=True)
    runs: list[dict[str, Any]] = []
    cli: list[dict[str, Any]] = []

    def stage_run(r: int, workers: int, variant: str) -> None:
        busy = wait_for_idle_cores()
        t0 = time.perf_counter()
        run = run_child([str(Path(__file__).resolve()), "--child",
                         json.dumps({"what": "stages", "workers": workers, "variant": variant})])
        run["process_wall"] = time.perf_counter() - t0
        run["busy_cores_before"] = busy
        run["photos_per_second"] = n_photos / run["total"]
        runs.append(run)
        s = run["seconds"]
        name = f"workers={workers}" + ("" if variant == "default" else f" {variant}")
        print(f"  repeat {r} {name:30} {run['photos_per_second']:6.1f} photos/s  "
              + "  ".join(f"{k} {s[k]:.2f} s" for k in COLUMNS)
              + f"  (process {run['process_wall']:.2f} s; faces kept {run['records']['gradient']}; cores: ours "
                f"{run['own_cores']:.2f}, others {run['foreign_cores']:.2f})", flush=True)

    # Interleaved, so that the variants and the baseline see the same machine conditions.
    for r in range(args.repeats):
        for w in args.workers:
            stage_run(r, w, "default")
        if not args.no_cli:
            busy = wait_for_idle_cores()
            c = run_cli(max(args.workers))
            c["busy_cores_before"] = busy
            cli.append(c)
            print(f"  repeat {r} CLI workers={c['workers']}: {c['wall']:.2f} s", flush=True)
        for variant in args.variants:
            stage_run(r, max(args.workers), variant)
    profile = None
    if args.profile:
        wait_for_idle_cores()
        profile = run_child([str(Path(__file__).resolve()), "--child", json.dumps({"what": "profile"})])

    summary: dict[str, Any] = {}
    groups = [(f"workers={w}", [r for r in runs if r["workers"] == w and r["variant"] == "default"])
              for w in args.workers]
    groups += [(f"workers={max(args.workers)} {v}", [r for r in runs if r["variant"] == v]) for v in args.variants]
    for name, mine in groups:
        summary[name] = {
            "photos_per_second_median": median([r["photos_per_second"] for r in mine]),
            "total_s_median": median([r["total"] for r in mine]),
            "stage_s_median": {k: median([r["seconds"][k] for r in mine]) for k in COLUMNS},
            "process_wall_s_median": median([r["process_wall"] for r in mine]),
            "records": mine[0]["records"],
        }
    if cli:
        summary["cli"] = {"workers": cli[0]["workers"], "wall_s_median": median([c["wall"] for c in cli]),
                          "photos_per_second_median": n_photos / median([c["wall"] for c in cli])}
    print(f"\n{'':32}{'photos/s':>10}{'total s':>9}" + "".join(f"{k + ' s':>11}" for k in COLUMNS)
          + f"{'process s':>11}")
    for name, _ in groups:
        s = summary[name]
        print(f"{name:32}{s['photos_per_second_median']:>10.1f}{s['total_s_median']:>9.2f}"
              + "".join(f"{s['stage_s_median'][k]:>11.2f}" for k in COLUMNS) + f"{s['process_wall_s_median']:>11.2f}")
    if cli:
        print(f"CLI (python -m fer_compare, workers={summary['cli']['workers']}): "
              f"{summary['cli']['wall_s_median']:.2f} s = {summary['cli']['photos_per_second_median']:.1f} photos/s")
    if profile:
        print("single-process medians per photo (ms): "
              + ", ".join(f"{k} {v:.2f}" for k, v in profile["median_ms"].items()))
        print(f"spawn pool(2) start + stop: {profile['pool_start_s']:.2f} s; per-process set-up of each stage (s): "
              + ", ".join(f"{k} {v:.2f}" for k, v in profile["stage_setup_s"].items())
              + f"; align.run's check in the parent {profile['align_parent_check_s']:.2f} s")
        for alt_name, agree in profile["detection_alternatives"].items():
            print(f"Haar with {alt_name}: same one-face decision on {agree['same_one_face_decision']}/"
                  f"{profile['photos']} photos, box IoU median {agree['iou_median']:.3f}, min {agree['iou_min']:.3f}")
    best = summary[f"workers={max(args.workers)}"]["photos_per_second_median"]
    print(f"target >= 100 photos/s with workers={max(args.workers)}: {'MET' if best >= 100 else 'NOT MET'}")
    path = write_results("preprocess_speed", {
        "command": "python benchmarks/preprocess_speed.py " + " ".join(sys.argv[1:]), "date": started,
        "machine": machine(), "load": {**quiet, "end": round(load_1min(), 2)}, "photos": n_photos,
        "summary": summary, "runs": runs, "cli": cli, "profile": profile,
    })
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
