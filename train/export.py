"""Keras model -> TFLite flatbuffers: float32, and full-integer int8 with a representative dataset."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

import numpy as np


def to_tflite(model: Any, *, representative: np.ndarray | None = None, seed: int = 0) -> bytes:
    """Convert a Keras model; with ``representative`` (n, dim) float32 rows, to full-integer int8.

    int8 models take int8 inputs and give int8 outputs (TFLITE_BUILTINS_INT8 only), which is what
    microcontrollers and the gateway's integer kernels run; calibration uses up to 500 rows.
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if representative is not None:
        rows = representative[np.random.default_rng(seed).permutation(representative.shape[0])[:500]]

        def dataset() -> Iterator[list[np.ndarray]]:
            for row in rows:
                yield [row[None, :].astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with contextlib.redirect_stdout(io.StringIO()):  # Keras prints "Saved artifact at ..." on stdout
        return bytes(converter.convert())
