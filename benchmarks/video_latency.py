"""Per-frame latency of the video stage (640x480, one face) split by step, against `fer`'s detect_emotions.

    bash ../shared/tools/install-fer-peer.sh .fer-peer-venv      # once, ~2 min, git-ignored
    .venv/bin/python benchmarks/video_latency.py [--frames 300] [--clip moving|photos] [--xla]

Frames are London-set photos on a gray 640x480 canvas (shifted and slightly rotated), held in
memory. `--clip moving` (default) is a camera's view: one face drifting, a new subject every 30
frames; between whole-frame Haar detections (video_redetect_every) the stage follows each face (by
its landmarks, or for the CNN by a Haar search near where it was: video_follow). `--clip photos`
puts a new subject at a random place in every frame, so that shortcut rarely holds.
Capture/decoding is not timed, everything after it is (detection through drawing, i.e.
fer_compare.video.annotate). The models are untrained but full-size (gradient_fnn: the thesis's
4900-12000-4900-6, 117.6 M parameters), exported and loaded as the video stage loads them.
`fer` (FER(mtcnn=False).detect_emotions) runs in its own venv, in a child process that stays up.

This 2-core machine is shared, and a second user's job can double any timing. So the contenders
take turns: the frames are cut into chunks and every contender runs chunk 1, then every contender
runs chunk 2, and so on (one at a time, never two at once). A change in the machine's load then
hits all of them alike, and the ratios hold even when the absolute numbers drift. The first chunk
is warm-up; each chunk starts with two untimed frames (the other contenders evicted the caches).
The script first waits (up to --max-wait s) for other users' work to fall below 0.3 busy cores,
and records how busy the machine was over the run. With --xla, gradient_fnn is also timed
through an XLA-compiled forward pass of the same weights (`xla_forward`), the experiment behind
the XLA note in BENCHMARKS.md. JSON goes to benchmarks/results/ (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from common import LONDON, ROOT, machine, wait_for_idle_cores, write_results

sys.path.insert(0, str(ROOT))
if TYPE_CHECKING:
    from fer_compare.checkpoints import LoadedModel
    from fer_compare.settings import Settings

FER_PYTHON = ROOT / ".fer-peer-venv" / "bin" / "python"
W, H = 640, 480
GRAY = (128, 128, 128)
UNTIMED = 2  # frames at the start of each chunk that only warm the caches

# The fer child: frames from a .npy; on each stdin line "start end untimed" it times frames
# [start, end) and answers one JSON line.
FER_CHILD = r"""
import json, sys, time
import numpy as np
from fer.fer import FER
frames = np.load(sys.argv[1], mmap_mode="r")
detector = FER(mtcnn=False)
print("ready", flush=True)
for line in sys.stdin:
    start, end, untimed = map(int, line.split())
    seconds, faces = [], []
    for i in range(start, end):
        frame = np.ascontiguousarray(frames[i])
        t0 = time.perf_counter()
        found = detector.detect_emotions(frame)
        dt = time.perf_counter() - t0
        if i >= start + untimed:
            seconds.append(dt)
            faces.append(len(found))
    print(json.dumps({"seconds": seconds, "faces": faces}), flush=True)
"""


def make_frames(n: int, clip: str = "moving", seed: int = 0, hold: int = 30) -> np.ndarray:
    """n BGR frames [n, 480, 640, 3] of London photos on a gray canvas, shifted and tilted a little.

    clip "moving" is what a camera sees: one face drifting smoothly (≤ 4.2 px and 0.45° a frame),
    a new subject every `hold` frames (a cut, at a new size). clip "photos" is a new subject at a
    random place in every frame, so nothing carries over from one frame to the next.
    """
    photos = sorted(LONDON.glob("*/*.jpg"))
    if not photos:
        sys.exit(f"the London set is not at {LONDON} (see ../shared/datasets/README.md)")
    rng = np.random.default_rng(seed)
    frames = np.empty((n, H, W, 3), np.uint8)
    face, size = None, 0
    for i in range(n):
        if clip == "photos" or i % hold == 0:
            size = int(rng.integers(340, 420))
            which = i if clip == "photos" else i // hold
            face = cv2.resize(cv2.imread(str(photos[which % len(photos)])), (size, size), interpolation=cv2.INTER_AREA)
        room = (H - size) // 2
        if clip == "photos":
            dx, dy, angle = int(rng.integers(-60, 61)), int(rng.integers(-room, room + 1)), float(rng.uniform(-5, 5))
        else:
            dx = round(60 * np.sin(2 * np.pi * i / 90))
            dy = round(room * np.sin(2 * np.pi * i / 130))
            angle = 5 * np.sin(2 * np.pi * i / 70)
        frame = np.full((H, W, 3), GRAY, np.uint8)
        x, y = (W - size) // 2 + dx, room + dy
        frame[y:y + size, x:x + size] = face
        m = cv2.getRotationMatrix2D((x + size / 2, y + size / 2), angle, 1.0)
        frames[i] = cv2.warpAffine(frame, m, (W, H), borderValue=GRAY)
    return frames


def export_models(folder: Path, kinds: list[str], config: Settings) -> dict[str, Path]:
    """Untrained models at the config's (thesis) sizes, exported as SavedModels the video stage loads."""
    from fer_compare.checkpoints import export_saved_model
    from fer_compare.emotions import EMOTIONS
    from fer_compare.nn.models import GradientFNN, GrayscaleCNN, LandmarkFNN

    out = {}
    for kind in kinds:
        h = config.hyper(kind)
        classes = list(h.emotions or EMOTIONS)
        size = tuple(config.nn.input)
        if kind == "gradient_fnn":
            model = GradientFNN(classes, size, h.hidden, h.dropout, row_blocks=h.row_blocks)
        elif kind == "landmark_fnn":
            model = LandmarkFNN(classes, h.subnet, h.hidden, h.dropout)
        else:
            model = GrayscaleCNN(classes, size, h.filters, h.kernel_size, h.hidden, h.dropout,
                                 h.l2)
        model(np.zeros([1, *model.input_shape], np.float32))  # variables are created on the first call
        out[kind] = export_saved_model(model, folder / kind, config.model_record(kind))
        del model
    return out


def percentiles(seconds: np.ndarray) -> dict[str, float]:
    """Median and p95 in milliseconds."""
    ms = np.asarray(seconds) * 1000.0
    return {"median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)),
            "mean_ms": float(ms.mean())}


def xla_forward(model: LoadedModel, atol: float = 1e-5) -> Callable[[np.ndarray], np.ndarray] | None:
    """gradient_fnn's dense stack as an XLA-compiled function of the SavedModel's own variables, or None.

    The experiment behind BENCHMARKS.md's XLA note (not used by the stage). The serving signature
    cannot be compiled as it is (it also returns the class names, strings), so the forward pass is
    rebuilt here and must reproduce the signature on a probe batch, else None.
    """
    import tensorflow as tf

    stack = model.dense_stack()
    if stack is None:
        return None

    @tf.function(jit_compile=True, input_signature=[tf.TensorSpec([None, *model.input_shape], tf.float32)])
    def probabilities(x: tf.Tensor) -> tf.Tensor:
        for i, (blocks, b) in enumerate(stack):
            starts = np.cumsum([0] + [int(w.shape[0]) for w in blocks])
            y = tf.add_n([tf.matmul(x[:, r0:r1], w) for w, r0, r1 in zip(blocks, starts[:-1], starts[1:], strict=True)])
            x = tf.nn.bias_add(y, b)
            if i < len(stack) - 1:
                x = tf.nn.relu(x)
        return tf.nn.softmax(x)

    def forward(x: np.ndarray) -> np.ndarray:
        return probabilities(tf.constant(x, tf.float32)).numpy()

    from fer_compare.video import matches_signature

    try:
        return forward if matches_signature(forward, model, atol) else None
    except tf.errors.OpError:
        return None


class StageRunner:
    """One model through the video stage's per-frame work: FramePredictor + tracker + overlay."""

    def __init__(self, label: str, model: LoadedModel, config: Settings,
                 forward: Callable[[np.ndarray], np.ndarray] | None = None, forward_name: str = "") -> None:
        from fer_compare.video import FramePredictor, IouTracker

        self.label = label
        self.model = model
        self.predictor = FramePredictor(config, model)
        if forward is not None:
            self.predictor.forward = forward
        # What the stage itself uses for one face: the sparse forward for gradient_fnn, NumPy for the others.
        default = {"gradient_fnn": "sparse_forward"}.get(model.kind, "numpy_forward")
        self.forward_name = forward_name or (default if self.predictor.forward != model.predict
                                             else "LoadedModel.predict")
        self.tracker = IouTracker(config.video_smoothing)
        self.seconds: list[float] = []
        self.faces: list[int] = []
        self.steps: list[np.ndarray] = []
        self.whole = 0  # timed frames that ran Haar on the whole frame
        self._rate = 0.0

    def run(self, frames: np.ndarray, start: int, end: int, untimed: int, timed: bool) -> None:
        from fer_compare.video import annotate

        for i in range(start, end):
            frame = frames[i].copy()  # drawing writes into the frame
            whole = self.predictor.full_detections
            t0 = time.perf_counter()
            found, _ = annotate(frame, self.predictor, self.tracker, self._rate)
            dt = time.perf_counter() - t0
            self._rate = 1.0 / dt
            if timed and i >= start + untimed:
                self.whole += self.predictor.full_detections - whole
                self.seconds.append(dt)
                self.faces.append(len(found))
                self.steps.append(self.predictor.times.frames[-1].copy())

    def close(self) -> None:
        pass

    def result(self) -> dict[str, Any]:
        from fer_compare.video import STEPS

        steps = np.array(self.steps)
        return {
            "label": self.label, "kind": self.model.kind,
            "model_call": self.forward_name,
            "parameters": int(sum(np.prod(s) for s in self.model.description["variables"].values())),
            "frames": len(self.seconds), "frames_with_one_face": int(sum(n == 1 for n in self.faces)),
            "whole_frame_detections": self.whole, "end_to_end": percentiles(np.array(self.seconds)),
            "steps": {s: percentiles(steps[:, i]) for i, s in enumerate(STEPS)},
        }


class FerRunner:
    """fer's FER(mtcnn=False).detect_emotions in a child process of its own venv, kept up between chunks."""

    def __init__(self, python: Path, frames_file: Path) -> None:
        self.label = "fer"
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        pipe = subprocess.PIPE
        self._child = subprocess.Popen([str(python), "-c", FER_CHILD, str(frames_file)], text=True, env=env,
                                       stdin=pipe, stdout=pipe, stderr=subprocess.DEVNULL)
        self.pid = self._child.pid
        if self._child.stdout.readline().strip() != "ready":
            raise RuntimeError(f"fer did not start under {python}")
        self.seconds: list[float] = []
        self.faces: list[int] = []

    def run(self, frames: np.ndarray, start: int, end: int, untimed: int, timed: bool) -> None:
        self._child.stdin.write(f"{start} {end} {untimed}\n")
        self._child.stdin.flush()
        answer = json.loads(self._child.stdout.readline())
        if timed:
            self.seconds += answer["seconds"]
            self.faces += answer["faces"]

    def close(self) -> None:
        self._child.stdin.close()
        self._child.wait(timeout=60)

    def result(self) -> dict[str, Any]:
        return {"label": "fer", "kind": "fer (Haar at full size + mini-Xception, mtcnn=False)",
                "frames": len(self.seconds), "frames_with_one_face": int(sum(n == 1 for n in self.faces)),
                "end_to_end": percentiles(np.array(self.seconds))}


def cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / ticks, sum(fields[:8]) / ticks


def own_cpu_seconds(child_pid: int | None) -> float:
    """CPU seconds used by this process and the fer child."""
    t = os.times()
    own = t.user + t.system
    if child_pid is not None:
        try:
            stat = Path(f"/proc/{child_pid}/stat").read_text().rsplit(")", 1)[1].split()
            own += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return own


def versions() -> dict[str, Any]:
    """Library versions and the date, beside common.machine()'s facts."""
    import tensorflow as tf

    return {"tensorflow": tf.__version__, "opencv": cv2.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M:%S"), "load_average": os.getloadavg()}


def table(results: list[dict[str, Any]]) -> str:
    """A plain-text table: per-step medians, end-to-end median and p95, fer's median over ours."""
    from fer_compare.video import STEPS

    fer = next((r for r in results if r["label"] == "fer"), None)
    head = (f"{'contender':<20}{'params':>9}" + "".join(f"{s:>10}" for s in STEPS)
            + f"{'median':>9}{'p95':>9}{'fer/ours':>10}")
    lines = [head + "   (ms per frame; steps are medians)", "-" * len(head)]
    for r in results:
        e = r["end_to_end"]
        if r is fer:
            lines.append(f"{'fer':<20}{'':>9}" + "".join(f"{'':>10}" for _ in STEPS)
                         + f"{e['median_ms']:>9.2f}{e['p95_ms']:>9.2f}")
            continue
        ratio = f"{fer['end_to_end']['median_ms'] / e['median_ms']:.2f}x" if fer else "-"
        lines.append(f"{r['label']:<20}{r['parameters'] / 1e6:>8.1f}M"
                     + "".join(f"{r['steps'][s]['median_ms']:>10.2f}" for s in STEPS)
                     + f"{e['median_ms']:>9.2f}{e['p95_ms']:>9.2f}{ratio:>10}")
    return "\n".join(lines)


def london_agreement(model: LoadedModel, config: Settings, precision: str) -> dict[str, Any]:
    """The stage's float32 one-face forward against `precision`'s on every London photo (one face each,
    centred on a 640x480 canvas, through the stage's own detection and preprocessing)."""
    from fer_compare.video import FramePredictor, sparse_forward

    predictor = FramePredictor(config, model)
    float32, other = predictor.forward, sparse_forward(model, precision)
    assert other is not None
    inputs: list[np.ndarray] = []

    def recording(x: np.ndarray) -> np.ndarray:
        inputs.append(x.copy())
        return float32(x)

    predictor.forward = recording
    for path in sorted(LONDON.glob("*/*.jpg")):
        face = cv2.resize(cv2.imread(str(path)), (380, 380), interpolation=cv2.INTER_AREA)
        frame = np.full((H, W, 3), GRAY, np.uint8)
        frame[50:430, 130:510] = face
        predictor.predict(frame)
    x = np.concatenate([i for i in inputs if len(i) == 1])
    p32 = np.concatenate([float32(row[None]) for row in x])
    p8 = np.concatenate([other(row[None]) for row in x])
    signature = model.predict(x)
    return {"precision": precision, "faces": len(x), "same_class": float((p32.argmax(1) == p8.argmax(1)).mean()),
            "max_abs_probability_difference": float(np.abs(p32 - p8).max()),
            "median_abs_probability_difference": float(np.median(np.abs(p32 - p8).max(1))),
            "float32_against_signature_max_abs": float(np.abs(p32 - signature).max())}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=300, help="timed frames per contender")
    p.add_argument("--chunk", type=int, default=30, help="frames per turn (plus the untimed ones)")
    p.add_argument("--models", nargs="+", default=["landmark_fnn", "gradient_fnn", "cnn"])
    p.add_argument("--fer-python", type=Path, default=FER_PYTHON, help="python of the venv with `fer`")
    p.add_argument("--no-fer", action="store_true", help="skip the fer comparison")
    p.add_argument("--xla", action="store_true", help="also time gradient_fnn with an XLA-compiled forward")
    p.add_argument("--gradient-fnn-export", type=Path, default=None,
                   help="a trained gradient_fnn SavedModel to time instead of the untrained one (the sparse "
                        "forward's speed depends on how many hidden units a face switches on)")
    p.add_argument("--detect-width", type=int, default=None, help="override video_detect_width (default 320)")
    p.add_argument("--redetect-every", type=int, default=None,
                   help="override video_redetect_every (default 10; 1 = Haar on the whole of every frame)")
    p.add_argument("--follow", choices=["landmarks", "haar"], default=None,
                   help="override video_follow (default landmarks: faces followed by their landmarks between "
                        "whole-frame detections; haar: searched near their last box)")
    p.add_argument("--clip", choices=["moving", "photos"], default="moving",
                   help="moving: one face drifting, a new subject every 30 frames (a camera); photos: a new "
                        "subject at a random place in every frame")
    p.add_argument("--int8", action="store_true",
                   help="also time gradient_fnn with video_precision int8, and compare its classes and probabilities "
                        "with float32's on every London photo")
    p.add_argument("--max-wait", type=float, default=300.0,
                   help="seconds to wait first for other work to drop below 0.3 busy cores")
    args = p.parse_args()
    if not args.no_fer and not args.fer_python.exists():
        sys.exit(f"{args.fer_python} not found; install the peer with "
                 f"bash ../shared/tools/install-fer-peer.sh .fer-peer-venv, or pass --no-fer")

    from fer_compare.tf_import import import_tensorflow

    import_tensorflow()
    from fer_compare.checkpoints import LoadedModel
    from fer_compare.settings import load_config

    sets = [f"align_template={ROOT / 'templates' / 'template.png'}"]
    if args.detect_width is not None:
        sets.append(f"video_detect_width={args.detect_width}")
    if args.redetect_every is not None:
        sets.append(f"video_redetect_every={args.redetect_every}")
    if args.follow is not None:
        sets.append(f"video_follow={args.follow}")
    config = load_config(None, sets)
    chunks = -(-args.frames // args.chunk) + 1  # the first round is warm-up
    frames = make_frames(chunks * (args.chunk + UNTIMED), args.clip)
    info = {**machine(), **versions()}
    with tempfile.TemporaryDirectory() as tmp:
        paths = export_models(Path(tmp), args.models, config)
        if args.gradient_fnn_export:
            paths["gradient_fnn"] = args.gradient_fnn_export
        runners: list[StageRunner | FerRunner] = []
        for kind in args.models:
            model = LoadedModel(paths[kind])
            runners.append(StageRunner(kind, model, config))
            # the signature call the stage made before its one-face forward passes (sparse / NumPy)
            runners.append(StageRunner(f"{kind}, {'dense ' if kind == 'gradient_fnn' else ''}signature", model,
                                       config, model.predict, "LoadedModel.predict"))
            if kind == "gradient_fnn" and args.int8:
                from fer_compare.video import sparse_forward

                runners.append(StageRunner("gradient_fnn, int8", model, config, sparse_forward(model, "int8"),
                                           "sparse_forward int8"))
                info["int8_agreement"] = london_agreement(model, config, "int8")
                print(f"int8 against float32 on London faces: {json.dumps(info['int8_agreement'])}", flush=True)
            if kind == "gradient_fnn" and args.xla:
                forward = xla_forward(model)
                if forward is None:
                    sys.exit("gradient_fnn: the XLA forward does not reproduce the SavedModel's output")
                runners.append(StageRunner("gradient_fnn (XLA)", model, config, forward, "xla_forward"))
        if not args.no_fer:
            np.save(Path(tmp) / "frames.npy", frames)
            runners.append(FerRunner(args.fer_python, Path(tmp) / "frames.npy"))
        info["other_busy_cores_at_start"] = wait_for_idle_cores(max_wait=args.max_wait)
        print(f"{args.frames} timed frames {W}x{H} per contender, {len(runners)} contenders taking turns in "
              f"chunks of {args.chunk}; {info['cores']} cores ({info['cpu']}); clip {args.clip}; video_detect_width "
              f"{config.video_detect_width}, video_redetect_every {config.video_redetect_every}, video_follow "
              f"{config.video_follow}", flush=True)
        child = runners[-1].pid if isinstance(runners[-1], FerRunner) else None
        busy0, total0 = cpu_seconds()
        own0, wall0 = own_cpu_seconds(child), time.monotonic()
        for c in range(chunks):
            start = c * (args.chunk + UNTIMED)
            for runner in runners:
                runner.run(frames, start, start + args.chunk + UNTIMED, UNTIMED, timed=c > 0)
        busy1, total1 = cpu_seconds()
        own1, wall1 = own_cpu_seconds(child), time.monotonic()
        for runner in runners:
            runner.close()
    cores = info["cores"] or 1
    info["other_busy_cores_during"] = round(((busy1 - busy0) - (own1 - own0)) / max(wall1 - wall0, 1e-9), 2)
    info["busy_cores_during"] = round((busy1 - busy0) / max(total1 - total0, 1e-9) * cores, 2)
    results = [r.result() for r in runners]
    print(table(results))
    for r in results:
        whole = f"; Haar on the whole frame in {r['whole_frame_detections']}" if "whole_frame_detections" in r else ""
        print(f"{r['label']}: one face found in {r['frames_with_one_face']}/{r['frames']} frames{whole}")
    print(f"other users' work during the run: {info['other_busy_cores_during']:.2f} of {cores} cores "
          f"(at start {info['other_busy_cores_at_start']:.2f})")
    info["load_average_end"] = os.getloadavg()
    out = write_results("video_latency", {
        "machine": info, "frame_size": [W, H], "clip": args.clip, "chunk": args.chunk, "untimed_per_chunk": UNTIMED,
        "config": {k: v for k, v in config.to_dict().items()
                   if k in ("video_detect_width", "video_redetect_every", "video_follow", "image", "detection")},
        "contenders": results})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
