"""fer_compare: the thesis's three facial-emotion approaches, rebuilt in low-level TensorFlow 2."""

__version__ = "0.1.0"
