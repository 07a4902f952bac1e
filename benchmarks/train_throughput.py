"""Training throughput of our hand-built steps against the same architectures in Keras 3, on this CPU.

    .venv/bin/python benchmarks/train_throughput.py [--repeats N] [--models cnn landmark_fnn gradient_fnn]
                                                  [--rounds R] [--ablations]

For each model (thesis sizes, batch 32; 8, 8 and 6 classes) both sides train on the SAME
in-memory random data (320 examples by default: 10 steps an epoch). Ours: `fer_compare.training.
Trainer` built on a `ModelData`, timing whole epochs of `trainer.train_step` over
`trainer.training_epochs(...)` exactly as `Trainer.fit` drives them (losses kept as tensors, read once
per epoch), without the per-epoch validation and checkpointing. Keras: keras.Sequential/functional with matching
layers and initializers, Adam(1e-4), sparse categorical cross-entropy from logits,
`model.fit(x, y, batch_size=32, epochs=..., verbose=0)` with default settings, epoch times from a
callback. The first epoch of each side is a warm-up (tracing, XLA compilation); then epochs are
timed until `--repeats` of them (x4 for landmark_fnn, whose epochs take 0.1 s) were "clean" — other
processes used <= 0.25 core meanwhile (/proc/stat minus our own getrusage: this machine is shared)
and our process was not starved of its second core by the host (own CPU >= 75 % of its best epoch)
— or 3x that many ran; samples/s is the median over the clean epochs of all processes of a variant
(the median over all timed epochs is reported beside it). Each side runs in a fresh subprocess
(memory is isolated: peak anonymous memory, RssAnon sampled every 10 ms in that process, and peak
RSS, its VmHWM, which also counts every library page it touched).
`--memory` runs only our side, one process per model with one timed epoch, and reports its memory.
`--ablations` adds variants of ours (jit on/off, a float(loss) per step, a new dataset every epoch,
thread settings, gradient_fnn's layer-wise updates flipped, oneDNN left to TensorFlow's choice) and
Keras with jit_compile=True and with oneDNN switched on (and, for the CNN on a CPU with AVX512_BF16,
bfloat16 mixed precision on both sides), to explain the differences. oneDNN: ours switches it on
(fer_compare/tf_import.py); default Keras runs with TensorFlow's choice for the CPU, which is off on
an AVX2 CPU. The roofline column
is training FLOPs per example (3 x forward multiply-adds x 2) x samples/s over the measured matmul
peak (the matmul peak: a tf.matmul of two 4096x4096 float32 matrices, in its own subprocess
before and after).
JSON goes to benchmarks/results/ (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import (
    ROOT,
    CpuWatch,
    PeakMemory,
    load_1min,
    machine,
    median,
    peak_rss_mb,
    run_child,
    wait_for_idle_cores,
    wait_for_quiet,
    write_results,
)

CLASSES = {"cnn": 8, "landmark_fnn": 8, "gradient_fnn": 6}
MATMUL_N = 4096
# An epoch is "clean" when other processes used at most MAX_FOREIGN_CORES while it ran, and our process
# was not starved: it got at least MIN_OWN_SHARE of the CPU it got in its best epochs. (On this VM the
# host sometimes does not run the second vCPU for seconds: /proc/stat then shows that core idle, not
# stolen, our process runs on one core and the epoch takes 2x as long; seen alike on both sides.)
# Each process trains until it has `repeats` clean epochs, or MAX_EPOCHS_FACTOR * repeats epochs.
MAX_FOREIGN_CORES = 0.25
MIN_OWN_SHARE = 0.75
MAX_EPOCHS_FACTOR = 3
# landmark_fnn epochs take ~0.1 s (10 small steps): time this many times more of them.
EPOCHS_FACTOR = {"cnn": 1, "landmark_fnn": 4, "gradient_fnn": 1}


def clean(epoch: dict[str, float], best_own: float = 0.0) -> bool:
    quiet = epoch["foreign_cores"] + epoch["steal_cores"] <= MAX_FOREIGN_CORES
    return quiet and epoch["own_cores"] >= MIN_OWN_SHARE * best_own


def n_clean(epochs: list[dict[str, float]]) -> int:
    best = max((e["own_cores"] for e in epochs), default=0.0)
    return sum(clean(e, best) for e in epochs)


def gradient_fnn_flops_per_sample(classes: int = 6) -> float:
    """Forward + backward (3x) multiply-adds (2 FLOPs) of 4900-12000-4900-classes, per example (the issue's formula)."""
    return 3 * 2 * (4900 * 12000 + 12000 * 4900 + 4900 * classes)


def flops_per_sample(kind: str) -> float:
    """Training FLOPs per example: 3 x forward multiply-adds x 2 (the CNN's first layer has no input gradient)."""
    if kind == "gradient_fnn":
        return gradient_fnn_flops_per_sample(CLASSES[kind])
    if kind == "cnn":
        convs = [70 * 70 * 32 * 9 * 1, 35 * 35 * 64 * 9 * 32, 18 * 18 * 128 * 9 * 64]
        dense = 9 * 9 * 128 * 128 + 128 * 256 + 256 * CLASSES[kind]
        return 2 * (3 * (sum(convs) + dense) - convs[0])
    subnet = 42 * 42 + 42 * 256 + 256 * 256
    return 3 * 2 * (4 * subnet + 256 * 1024 + 1024 * 1024 + 1024 * CLASSES[kind])


# --- the children -------------------------------------------------------------------------------

def random_data(kind: str, n: int, classes: int, seed: int = 0) -> Any:
    """ModelData of random examples with the stage folders' dtypes: uint8 70x70 images or [4, 42] features."""
    import numpy as np

    from fer_compare.data import ModelData
    from fer_compare.emotions import EMOTIONS

    rng = np.random.default_rng(seed)
    if kind == "landmark_fnn":
        x = rng.normal(0, 1, (n, 4, 42)).astype(np.float32) * [[50.0], [50.0], [30.0], [0.5]]
        x = x.astype(np.float32)
    else:
        x = rng.integers(0, 256, (n, 70, 70), dtype=np.uint8)
    y = (np.arange(n) % classes).astype(np.int32)
    rng.shuffle(y)
    subjects = np.array([f"s{i // 2}" for i in range(n)])
    return ModelData(kind, x, y, [f"k{i}" for i in range(n)], subjects, np.array([""] * n),
                     list(EMOTIONS[:classes]), "random")


def child_ours(kind: str, n: int, batch: int, repeats: int, opts: dict[str, Any]) -> dict[str, Any]:
    """Time epochs of Trainer.train_step over Trainer.training_epochs, as Trainer.fit runs them."""
    import tempfile

    import numpy as np

    from fer_compare.tf_import import import_tensorflow

    import_tensorflow()  # as the CLI does: without Keras
    import tensorflow as tf

    if opts.get("intra") or opts.get("inter"):
        tf.config.threading.set_intra_op_parallelism_threads(int(opts.get("intra") or 0))
        tf.config.threading.set_inter_op_parallelism_threads(int(opts.get("inter") or 0))

    from fer_compare.settings import load_config
    from fer_compare.splits import Split
    from fer_compare.training import Trainer

    sets = [f"nn.{kind}.batch_size={batch}", "seed=0"]
    if opts.get("mixed_precision"):
        sets.append("mixed_precision=true")
    if "layerwise" in opts:
        sets.append(f"nn.{kind}.layerwise_updates={json.dumps(bool(opts['layerwise']))}")
    if opts.get("jit") is not None:
        sets.append(f"nn.{kind}.jit_compile={json.dumps(bool(opts['jit']))}")
    config = load_config(None, sets)
    data = random_data(kind, n, CLASSES[kind])
    index = np.arange(n)
    split = Split(index, index[:0], index[:0])
    rss_start = peak_rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        trainer = Trainer(kind, config, data, split, Path(tmp), summaries=False)
        build_s = time.perf_counter() - t0
        rss_built = peak_rss_mb()
        epochs_of_batches = trainer.training_epochs(index, 0, 10**6)

        def epoch(e: int) -> dict[str, float]:
            with CpuWatch() as watch:
                if opts.get("per_epoch_dataset"):  # what Trainer.fit did before: a new dataset + iterator per epoch
                    ds = trainer.pipeline.training_epochs(data.x, data.y, e, e + 1)
                else:
                    ds = next(epochs_of_batches)[1]
                if opts.get("sync") == "step":  # what Trainer.fit did before 540b25a: float(loss) per step
                    loss = float(np.mean([float(trainer.train_step(x, y)) for x, y in ds]))
                else:  # what Trainer.fit does: losses kept as tensors, read once per epoch
                    loss = float(tf.reduce_mean(tf.stack([trainer.train_step(x, y) for x, y in ds])))
            if not np.isfinite(loss):
                raise RuntimeError("loss not finite")
            return watch.record()

        warm = epoch(0)["seconds"]
        epochs: list[dict[str, float]] = []
        while n_clean(epochs) < repeats and len(epochs) < MAX_EPOCHS_FACTOR * repeats:
            epochs.append(epoch(len(epochs) + 1))
        jit = bool(trainer.hyper["jit_compile"])
    return {"side": "ours", "kind": kind, "jit_compile": jit, "epoch_seconds": [e["seconds"] for e in epochs],
            "epochs": epochs, "warmup_seconds": warm,
            "build_seconds": build_s, "rss_after_import_mb": rss_start, "rss_after_build_mb": rss_built,
            "peak_rss_mb": peak_rss_mb(), "peak_anon_mb": _child_memory.stop()["peak_anon_mb"],
            "threads": [tf.config.threading.get_intra_op_parallelism_threads(),
                                                       tf.config.threading.get_inter_op_parallelism_threads()]}


# The child's anonymous-memory sampler, started when the child starts (main()).
_child_memory = PeakMemory()


def keras_model(kind: str, classes: int, data: Any) -> Any:
    """The same architecture in Keras 3 layers, with the thesis's initializers (roughly, as ours)."""
    import keras
    from keras import initializers as ini
    from keras import layers

    if kind == "cnn":
        tn, c05 = ini.TruncatedNormal(stddev=0.05), ini.Constant(0.05)
        l2 = keras.regularizers.L2(1e-4 / 2)  # ours: l2 * tf.nn.l2_loss = l2 * sum(w^2) / 2
        model = keras.Sequential([keras.Input((70, 70, 1))])
        for f in (32, 64, 128):
            model.add(layers.Conv2D(f, 3, padding="same", activation="relu", kernel_initializer=tn,
                                    bias_initializer=c05))
            model.add(layers.MaxPooling2D(2, 2, padding="same"))
        model.add(layers.Flatten())
        model.add(layers.Dropout(0.0))
        model.add(layers.Dense(128, "relu", kernel_initializer=tn, bias_initializer=c05, kernel_regularizer=l2))
        model.add(layers.BatchNormalization(momentum=0.9, epsilon=1e-3))
        model.add(layers.Dropout(0.5))
        model.add(layers.Dense(256, "relu", kernel_initializer=tn, bias_initializer=c05, kernel_regularizer=l2))
        model.add(layers.Dense(classes, kernel_initializer="glorot_uniform", bias_initializer="glorot_uniform"))
        return model
    if kind == "landmark_fnn":
        inp = keras.Input((4, 42))
        mean = data.x.mean(axis=0)
        var = data.x.var(axis=0) + 1e-6
        z = layers.Normalization(axis=(1, 2), mean=mean, variance=var)(inp)
        outs = []
        for i in range(4):
            h = z[:, i, :]
            h = layers.Dense(42, "relu")(h)
            h = layers.Dense(256, "relu")(h)
            outs.append(layers.Dense(256)(h))
        h = layers.Add()(outs)
        h = layers.Dense(1024, "relu")(h)
        h = layers.Dropout(0.5)(h)
        h = layers.Dense(1024, "relu")(h)
        out = layers.Dense(classes, bias_initializer="glorot_uniform")(h)
        return keras.Model(inp, out)
    if kind == "gradient_fnn":
        return keras.Sequential([keras.Input((4900,)), layers.Dense(12000, "relu"), layers.Dense(4900, "relu"),
                                 layers.Dropout(0.0), layers.Dense(classes)])
    raise ValueError(kind)


def child_keras(kind: str, n: int, batch: int, repeats: int, opts: dict[str, Any]) -> dict[str, Any]:
    """Keras 3 model.fit with default settings; epoch times from a callback."""
    import keras
    import numpy as np

    from fer_compare.data import to_network_input

    keras.utils.set_random_seed(0)
    if opts.get("mixed_precision"):
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    data = random_data(kind, n, CLASSES[kind])
    x, y = to_network_input(kind, data.x), data.y
    rss_start = peak_rss_mb()
    t0 = time.perf_counter()
    model = keras_model(kind, CLASSES[kind], data)
    compile_args: dict[str, Any] = {}
    if opts.get("jit") is not None:
        compile_args["jit_compile"] = bool(opts["jit"])
    model.compile(optimizer=keras.optimizers.Adam(1e-4),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), **compile_args)
    build_s = time.perf_counter() - t0
    rss_built = peak_rss_mb()

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.epochs: list[dict[str, float]] = []
            self._watch = CpuWatch()

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._watch = CpuWatch().__enter__()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self._watch.__exit__(None, None, None)
            self.epochs.append(self._watch.record())
            if n_clean(self.epochs[1:]) >= repeats:
                self.model.stop_training = True

    timer = EpochTimer()
    hist = model.fit(x, y, batch_size=batch, epochs=1 + MAX_EPOCHS_FACTOR * repeats, verbose=0, callbacks=[timer])
    if not np.isfinite(hist.history["loss"][-1]):
        raise RuntimeError("loss not finite")
    return {"side": "keras", "kind": kind, "jit_compile": bool(model.jit_compile), "epochs": timer.epochs[1:],
            "epoch_seconds": [e["seconds"] for e in timer.epochs[1:]], "warmup_seconds": timer.epochs[0]["seconds"],
            "build_seconds": build_s, "rss_after_import_mb": rss_start, "rss_after_build_mb": rss_built,
            "peak_rss_mb": peak_rss_mb(), "peak_anon_mb": _child_memory.stop()["peak_anon_mb"],
            "parameters": int(model.count_params()), "keras": keras.__version__}


def child_matmul(reps: int = 7) -> dict[str, Any]:
    """Median GFLOP/s of tf.matmul on two 4096x4096 float32 matrices (the CPU's practical matmul peak).

    TensorFlow is imported as ours imports it (oneDNN on): on an AVX2 CPU its Eigen matmul, built
    without FMA, reaches about half of that.
    """
    from fer_compare.tf_import import import_tensorflow

    import_tensorflow()
    import tensorflow as tf

    a = tf.random.normal([MATMUL_N, MATMUL_N], seed=1)
    b = tf.random.normal([MATMUL_N, MATMUL_N], seed=2)
    mm = tf.function(lambda: tf.matmul(a, b)[0, 0])
    float(mm())
    float(mm())
    runs = []
    while n_clean(runs) < reps and len(runs) < MAX_EPOCHS_FACTOR * reps:
        with CpuWatch() as watch:
            float(mm())
        runs.append(watch.record())
    flops = 2.0 * MATMUL_N**3
    best = max(r["own_cores"] for r in runs)
    good = [r["seconds"] for r in runs if clean(r, best)] or [r["seconds"] for r in runs]
    return {"side": "matmul", "runs": runs, "gflops": flops / median(good) / 1e9,
            "gflops_each": [flops / t / 1e9 for t in good]}


# --- the parent -------------------------------------------------------------------------------

def spawn(spec: dict[str, Any]) -> dict[str, Any]:
    """One measurement in a fresh process; other users' CPU use is checked (and waited out) first."""
    busy = wait_for_idle_cores()
    load = load_1min()
    # oneDNN: ours switches it on (tf_import.py) unless told otherwise; Keras gets TensorFlow's own
    # choice for this CPU (on where it has AVX-512 VNNI/BF16 or AMX, off on AVX2) unless told otherwise.
    onednn = spec.get("opts", {}).get("onednn")
    env = {"TF_ENABLE_ONEDNN_OPTS": None if onednn is None else str(int(onednn))}
    out = run_child([str(Path(__file__).resolve()), "--child", json.dumps(spec)], env=env)
    out.update(spec=spec, busy_cores_before=busy, load_1min_before=round(load, 2),
               load_1min_after=round(load_1min(), 2))
    return out


def clean_seconds(runs: list[dict[str, Any]]) -> tuple[list[float], int]:
    """Seconds of the clean epochs of these runs (all epochs if fewer than 3 are clean), and how many were clean."""
    epochs = [e for r in runs for e in r["epochs"]]
    best = max((e["own_cores"] for e in epochs), default=0.0)
    good = [e["seconds"] for e in epochs if clean(e, best)]
    return (good if len(good) >= 3 else [e["seconds"] for e in epochs]), len(good)


def summarize(run: dict[str, Any], n: int) -> dict[str, Any]:
    sec = median(clean_seconds([run])[0])
    run["median_epoch_seconds"] = sec
    run["samples_per_second"] = n / sec
    return run


def label(spec: dict[str, Any]) -> str:
    extra = [f"{k}={v}" for k, v in sorted(spec.get("opts", {}).items())]
    return spec["side"] + (f" [{', '.join(extra)}]" if extra else "")


def cpu_has(flag: str) -> bool:
    """Whether /proc/cpuinfo lists this CPU flag."""
    try:
        return f" {flag} " in Path("/proc/cpuinfo").read_text().replace("\n", " \n")
    except OSError:
        return False


def ablation_specs(kind: str, default_jit: bool) -> list[dict[str, Any]]:
    """Variants that separate XLA, per-step sync, per-epoch dataset building and thread settings."""
    from fer_compare.settings import DEFAULTS

    specs = [{"side": "ours", "opts": {"jit": not default_jit}},
             {"side": "ours", "opts": {"sync": "step"}},
             {"side": "ours", "opts": {"per_epoch_dataset": True}},
             {"side": "ours", "opts": {"intra": 2, "inter": 1}},
             {"side": "keras", "opts": {"jit": True}},
             # oneDNN's share of our speed: ours with TensorFlow's choice for this CPU, Keras with oneDNN on
             {"side": "ours", "opts": {"onednn": False}},
             {"side": "keras", "opts": {"onednn": True}}]
    if kind == "gradient_fnn" and "layerwise_updates" in DEFAULTS["nn"]["gradient_fnn"]:
        # the other way round from the default: one tape over all weights, or layer-by-layer updates
        specs.append({"side": "ours", "opts": {"layerwise": not DEFAULTS["nn"]["gradient_fnn"]["layerwise_updates"]}})
    if kind == "cnn" and cpu_has("avx512_bf16"):  # what bfloat16 compute buys on both sides (emulated without it)
        specs += [{"side": "ours", "opts": {"mixed_precision": True}},
                  {"side": "keras", "opts": {"mixed_precision": True}}]
    return specs


def table(rows: list[dict[str, Any]], matmul: float) -> str:
    lines = [f"{'model':14}{'variant':44}{'jit':>5}{'samples/s':>11}{'vs keras':>9}{'all ep.':>9}{'best':>8}"
             f"{'vs keras':>9}{'epoch s':>9}"
             f"{'peak anon MiB':>14}{'peak RSS MiB':>13}{'roofline':>9}{'clean':>7}{'other':>6}"]
    for r in rows:
        roof = f"{r['roofline_fraction']:.1%}" if r.get("roofline_fraction") is not None else ""
        ratio = f"{r['vs_keras']:.2f}x" if r.get("vs_keras") else ""
        lines.append(f"{r['kind']:14}{r['label']:44}{'on' if r['jit_compile'] else 'off':>5}"
                     f"{r['samples_per_second']:>11.1f}{ratio:>9}{r['samples_per_second_all_epochs']:>9.1f}"
                     f"{r['samples_per_second_best']:>8.1f}{r['vs_keras_best']:>8.2f}x"
                     f"{r['median_epoch_seconds']:>9.3f}"
                     f"{r['peak_anon_mb']:>14.0f}{r['peak_rss_mb']:>13.0f}{roof:>9}"
                     f"{str(r['clean_epochs']) + '/' + str(r['all_epochs']):>7}"
                     f"{r['foreign_cores_median']:>6.2f}")
    lines.append(f"matmul 4096^2 float32 peak: {matmul:.0f} GFLOP/s. samples/s: median over clean epochs (other "
                 f"processes <= {MAX_FOREIGN_CORES} core, ours not starved of a core); all ep.: median over all "
                 f"timed epochs; best: the fastest epoch; clean: clean/all timed epochs; other: median cores "
                 f"used by other processes")
    return "\n".join(lines)


def memory_only(args: argparse.Namespace) -> int:
    """`--memory`: our side's peak anonymous memory and peak RSS per model, no Keras, no matmul peak."""
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    repeats = args.repeats or 1
    runs = []
    for kind in args.models:
        # Not spawn(): memory does not depend on other users' CPU load, so there is nothing to wait out.
        spec = {"n": args.examples, "batch": args.batch, "repeats": repeats, "side": "ours", "kind": kind}
        run = run_child([str(Path(__file__).resolve()), "--child", json.dumps(spec)])
        print(f"  {kind:13} peak anon {run['peak_anon_mb']:.0f} MiB, peak RSS {run['peak_rss_mb']:.0f} MiB "
              f"(after building: RSS {run['rss_after_build_mb']:.0f} MiB; {len(run['epochs'])} timed epochs)",
              flush=True)
        runs.append(run)
    path = write_results("train_memory", {
        "command": "python benchmarks/train_throughput.py " + " ".join(sys.argv[1:]), "date": started,
        "machine": machine(), "runs": runs, "root": str(ROOT)})
    print(f"wrote {path}")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=None,
                   help="timed epochs per process, after one warm-up epoch (default 5; with --memory 1)")
    p.add_argument("--rounds", type=int, default=1, help="fresh processes per side (alternating order)")
    p.add_argument("--models", nargs="+", default=list(CLASSES), choices=list(CLASSES))
    p.add_argument("--examples", type=int, default=320)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--ablations", action="store_true", help="also run the explanatory variants")
    p.add_argument("--max-load", type=float, default=1.0, help="wait until the 1-minute load is at most this")
    p.add_argument("--memory", action="store_true",
                   help="only our side's memory: one process per model, --repeats timed epochs (default 1)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        _child_memory.start()
        spec = json.loads(args.child)
        if spec["side"] == "matmul":
            print(json.dumps(child_matmul()))
        elif spec["side"] == "ours":
            print(json.dumps(child_ours(spec["kind"], spec["n"], spec["batch"], spec["repeats"], spec.get("opts", {}))))
        else:
            print(json.dumps(child_keras(spec["kind"], spec["n"], spec["batch"], spec["repeats"],
                                         spec.get("opts", {}))))
        return 0

    if args.memory:
        return memory_only(args)
    args.repeats = args.repeats or 5
    quiet = wait_for_quiet(args.max_load)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    print(f"load {quiet['load_at_start']:.2f} (waited {quiet['waited_s']:.0f} s); "
          f"{args.examples} examples, batch {args.batch}, {args.repeats} timed epochs x {args.rounds} round(s)",
          flush=True)
    base = {"n": args.examples, "batch": args.batch, "repeats": args.repeats}
    matmuls = [spawn({"side": "matmul"})]
    runs: list[dict[str, Any]] = []
    for kind in args.models:
        repeats = args.repeats * EPOCHS_FACTOR[kind]
        for r in range(args.rounds):
            sides = ["ours", "keras"] if r % 2 == 0 else ["keras", "ours"]
            for side in sides:
                run = summarize(spawn({**base, "side": side, "kind": kind, "repeats": repeats}), args.examples)
                print(f"  {kind:13} {side:6} {run['samples_per_second']:8.1f} samples/s  "
                      f"peak anon {run['peak_anon_mb']:.0f} MiB, RSS {run['peak_rss_mb']:.0f} MiB", flush=True)
                runs.append(run)
        if args.ablations:
            default_jit = bool(next(r for r in runs if r["kind"] == kind and r["side"] == "ours")["jit_compile"])
            for spec in ablation_specs(kind, default_jit):
                run = summarize(spawn({**base, **spec, "kind": kind, "repeats": repeats}), args.examples)
                print(f"  {kind:13} {label(spec):40} {run['samples_per_second']:8.1f} samples/s", flush=True)
                runs.append(run)
    matmuls.append(spawn({"side": "matmul"}))
    peak = median([g for m in matmuls for g in m["gflops_each"]])

    # Pool the timed epochs of every process of the same variant; ratios against default Keras.
    rows: list[dict[str, Any]] = []
    for kind in args.models:
        variants: dict[str, list[dict[str, Any]]] = {}
        for run in runs:
            if run["kind"] == kind:
                variants.setdefault(label(run["spec"]), []).append(run)
        for name, group in variants.items():
            epochs, clean_count = clean_seconds(group)
            foreign = [e["foreign_cores"] + e["steal_cores"] for g in group for e in g["epochs"]]
            sec = median(epochs)
            all_sec = [e["seconds"] for g in group for e in g["epochs"]]
            row = {"clean_epochs": clean_count, "all_epochs": len(foreign), "foreign_cores_median": median(foreign),
                   "samples_per_second_all_epochs": args.examples / median(all_sec),
                   "samples_per_second_best": args.examples / min(all_sec),
                   "kind": kind, "label": name, "side": group[0]["side"], "jit_compile": group[0]["jit_compile"],
                   "median_epoch_seconds": sec, "samples_per_second": args.examples / sec,
                   "epoch_seconds": epochs, "peak_rss_mb": max(g["peak_rss_mb"] for g in group),
                   "peak_anon_mb": max(g["peak_anon_mb"] for g in group),
                   "rss_after_build_mb": max(g["rss_after_build_mb"] for g in group),
                   "busy_cores_before": max(g["busy_cores_before"] for g in group),
                   "own_cores_median": median([e["own_cores"] for g in group for e in g["epochs"]]),
                   "load_1min_before": max(g["load_1min_before"] for g in group), "processes": len(group)}
            achieved = flops_per_sample(kind) * row["samples_per_second"]
            row["achieved_gflops"] = achieved / 1e9
            row["roofline_fraction"] = achieved / 1e9 / peak
            rows.append(row)
        keras_row = next(r for r in rows if r["kind"] == kind and r["label"] == "keras")
        for r in rows:
            if r["kind"] == kind:
                r["vs_keras"] = r["samples_per_second"] / keras_row["samples_per_second"]
                r["vs_keras_best"] = r["samples_per_second_best"] / keras_row["samples_per_second_best"]
    print(table(rows, peak))

    targets = {"gradient_fnn": 1.5, "cnn": 1.2, "landmark_fnn": 1.2}
    verdicts = {}
    for kind in args.models:
        ours = next(r for r in rows if r["kind"] == kind and r["label"] == "ours")
        ok = ours["vs_keras"] >= targets[kind]
        verdicts[f"{kind} >= {targets[kind]}x keras (median, {ours['vs_keras']:.2f}x)"] = ok
        verdicts[f"{kind} >= {targets[kind]}x keras (fastest epochs, {ours['vs_keras_best']:.2f}x)"] = (
            ours["vs_keras_best"] >= targets[kind])
        if kind == "gradient_fnn":
            verdicts[f"gradient_fnn peak RSS <= 2.2 GB ({ours['peak_rss_mb'] * 1024**2 / 1e9:.2f} GB)"] = (
                ours["peak_rss_mb"] * 1024**2 <= 2.2e9)
    for name, ok in verdicts.items():
        print(f"  {'MET    ' if ok else 'NOT MET'} {name}")
    path = write_results("train_throughput", {
        "command": "python benchmarks/train_throughput.py " + " ".join(sys.argv[1:]), "date": started,
        "machine": machine(), "load": {**quiet, "end": round(load_1min(), 2)}, "rows": rows, "runs": runs,
        "matmul": matmuls, "matmul_peak_gflops": peak, "targets": verdicts, "root": str(ROOT),
    })
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
