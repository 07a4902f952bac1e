"""What following faces between whole-frame detections changes in the video stage's results.

    .venv/bin/python benchmarks/follow_agreement.py --model PATH [--frames 300]

Runs one exported model through the video stage's FramePredictor on video_latency.py's moving clip
(London faces drifting on a 640x480 canvas, a new subject every 30 frames) three ways: Haar on the
whole of every frame (video_redetect_every 1, the thesis's way), and the default redetection with
each face followed by its landmarks or searched near its last box (video_follow). Against the
whole-frame run it reports, per way, how often the predicted class agrees, the box overlap (IoU)
and the largest class probability difference per frame. Untimed. JSON goes to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from common import ROOT, write_results
from video_latency import make_frames

sys.path.insert(0, str(ROOT))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True, help="an exported model (a trained one: the class matters)")
    p.add_argument("--frames", type=int, default=300)
    args = p.parse_args()

    from fer_compare.tf_import import import_tensorflow

    import_tensorflow()
    from fer_compare.checkpoints import LoadedModel
    from fer_compare.settings import load_config
    from fer_compare.video import FramePredictor
    from fer_compare.video.tracking import iou

    model = LoadedModel(args.model)
    frames = make_frames(args.frames)
    base = [f"align_template={ROOT / 'templates' / 'template.png'}"]
    ways = {"whole frame every frame": ["video_redetect_every=1"],
            "followed by landmarks": ["video_follow=landmarks"], "searched near the last box": ["video_follow=haar"]}
    runs = {}
    for name, sets in ways.items():
        predictor = FramePredictor(load_config(None, base + sets), model)
        runs[name] = [predictor.predict(frame) for frame in frames]
        runs[name + " (whole-frame detections)"] = predictor.full_detections
    reference = runs["whole frame every frame"]
    report = {"model": str(args.model), "kind": model.kind, "frames": args.frames, "ways": {}}
    for name in list(ways)[1:]:
        overlaps, differences, same, compared = [], [], 0, 0
        for a_faces, b_faces in zip(reference, runs[name], strict=True):
            if len(a_faces) != 1 or len(b_faces) != 1:
                continue
            a, b = a_faces[0], b_faces[0]
            compared += 1
            overlaps.append(iou(a.box, b.box))
            differences.append(float(np.abs(a.probabilities - b.probabilities).max()))
            same += int(np.argmax(a.probabilities) == np.argmax(b.probabilities))
        row = {"frames_compared": compared, "same_class": same,
               "iou_median": float(np.median(overlaps)), "iou_p5": float(np.percentile(overlaps, 5)),
               "iou_min": float(np.min(overlaps)),
               "probability_difference_median": float(np.median(differences)),
               "probability_difference_p95": float(np.percentile(differences, 95)),
               "probability_difference_max": float(np.max(differences)),
               "whole_frame_detections": runs[name + " (whole-frame detections)"],
               "frames_with_one_face": sum(len(f) == 1 for f in runs[name])}
        report["ways"][name] = row
        print(f"{name}: same class in {same}/{compared} frames; IoU median {row['iou_median']:.3f} "
              f"(5th percentile {row['iou_p5']:.3f}, lowest {row['iou_min']:.3f}); probability difference median "
              f"{row['probability_difference_median']:.4f}, 95th percentile {row['probability_difference_p95']:.4f}, "
              f"largest {row['probability_difference_max']:.3f}; Haar on the whole frame in "
              f"{row['whole_frame_detections']} frames; one face in {row['frames_with_one_face']}/{args.frames}")
    print(f"whole frame every frame: one face in {sum(len(f) == 1 for f in reference)}/{args.frames}")
    print(f"wrote {write_results('follow_agreement', report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
