"""The video stage: camera, video file or image folder -> the stages' preprocessing per face -> a model.

`run` is the stage's entry point; one module per concern: capture (sources), predict (faces through
face/chain.py and the model), forward (which forward pass), tracking (smoothing across frames),
overlay (drawing), outputs (video, window, CSV), choice (which model), stage (the loop).
"""

from .capture import DEFAULT_FPS, FrameSource, open_source
from .choice import choose_kind, exported_kinds, latest_winner, load_model
from .forward import matches_signature, one_face_numpy_forward, sparse_forward
from .outputs import WINDOW, PredictionsCsv, VideoFile, Window, letterbox, output_paths
from .overlay import draw
from .predict import STEPS, FacePrediction, FramePredictor, StepTimes, expected_input_shape, to_gray
from .stage import annotate, run
from .tracking import IouTracker, Track, iou

__all__ = [
    "DEFAULT_FPS", "STEPS", "WINDOW", "FacePrediction", "FramePredictor", "FrameSource", "IouTracker",
    "PredictionsCsv", "StepTimes", "Track", "VideoFile", "Window", "annotate", "choose_kind", "draw",
    "expected_input_shape", "exported_kinds", "iou", "latest_winner", "letterbox", "load_model", "matches_signature",
    "one_face_numpy_forward", "open_source", "output_paths", "run", "sparse_forward", "to_gray",
]
