"""Benchmarks, reproductions of the reports' figures (here), load runs (load/) and one-off studies (studies/).

Each runs from the repository root as `python -m benchmarks.NAME` (or benchmarks.load.NAME,
benchmarks.studies.NAME). None of it is installed: the products (edge, train) never import it.
"""

import os

# Before any module here imports TensorFlow: its C++ start-up lines would bury the figures printed.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
