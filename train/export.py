"""Keras model -> TFLite flatbuffers: float32, and full-integer int8 with a representative dataset."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

import numpy as np

QUANTIZATION = {
    "int8": "int8 weights and activations, int8 input/output",
    "int16x8": "int8 weights, int16 activations (TFLite 16x8), int16 input/output",
}


def to_tflite(model: Any, *, representative: np.ndarray | None = None, seed: int = 0,
              quantization: str = "int8") -> bytes:
    """Convert a Keras model; with ``representative`` (n, dim) float32 rows, to an integer-only model.

    "int8": int8 inputs, outputs and activations (TFLITE_BUILTINS_INT8 only), what microcontrollers
    and the gateway's integer kernels run. "int16x8": int16 activations with int8 weights, for models
    whose sums of many small terms lose too much at 8 bits (the RBF SVM). Calibration: up to 500 rows.
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
        if quantization == "int8":
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = converter.inference_output_type = tf.int8
        elif quantization == "int16x8":
            ops = tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
            converter.target_spec.supported_ops = [ops]
            converter.inference_input_type = converter.inference_output_type = tf.int16
        else:
            raise ValueError(f"quantization {quantization!r} unknown (expected one of {sorted(QUANTIZATION)})")
    with contextlib.redirect_stdout(io.StringIO()):  # Keras prints "Saved artifact at ..." on stdout
        return bytes(converter.convert())
