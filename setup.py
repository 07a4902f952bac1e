"""fer_compare: facial emotion recognition from small data, three approaches in low-level TensorFlow 2."""

import os

from setuptools import find_packages, setup

# tensorflow-cpu and tensorflow[and-cuda] install the same `tensorflow` package, so they cannot both
# be requirements: an extra only adds. FER_COMPARE_GPU=1 swaps the CPU build for the CUDA build
# (README: "GPU"); `.[gpu]` brings the CUDA build and its NVIDIA libraries.
CUDA = "tensorflow[and-cuda]>=2.16,<3"
TENSORFLOW = CUDA if os.environ.get("FER_COMPARE_GPU") else "tensorflow-cpu>=2.16,<3"

setup(
    name="fer_compare",
    version="0.1.0",
    description="The thesis's three facial-emotion approaches rebuilt in low-level TensorFlow 2, compared honestly",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["fer_compare", "fer_compare.*"]),
    install_requires=[
        TENSORFLOW,  # the CPU build (half the download) unless FER_COMPARE_GPU is set
        "tensorboard>=2.16",  # recent TensorFlow no longer pulls it in
        "numpy>=1.24",
        "opencv-python-headless>=4.8,<5",  # OpenCV 5 dropped CascadeClassifier and the Haar files
        "dlib-bin>=19.24",  # prebuilt dlib: installs in seconds instead of an 8-minute compile
        "face_recognition_models>=0.3.0",  # ships shape_predictor_68_face_landmarks.dat
        "matplotlib>=3.7",  # plots; also ships grace_hopper.jpg (template and demo set)
        "scikit-image>=0.21",  # ships the public-domain astronaut photo (demo set)
        "scipy>=1.10",  # Delaunay triangles (demo set)
        "numba>=0.59",  # the video stage's sparse forward pass (nn/sparse.py)
        "rich>=13",  # the live progress display (progress.py)
    ],
    extras_require={"test": ["pytest>=7", "ruff>=0.4"], "gpu": [CUDA]},
    entry_points={"console_scripts": ["fer-compare=fer_compare.__main__:main"]},
)
