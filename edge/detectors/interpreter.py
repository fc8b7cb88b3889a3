"""The TFLite interpreter factory: LiteRT first, then tflite-runtime 2.14, then TensorFlow.

``ai_edge_litert`` is current and works with NumPy 2; ``tflite_runtime`` 2.14 needs numpy<2 (the
``edge-legacy`` extra); TensorFlow's ``tf.lite.Interpreter`` is the desktop fallback. Modules are
imported lazily by name so that importing ``edge`` never pulls TensorFlow in.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import BundleError, MissingExtraError

_BACKENDS = (  # (module, attribute path of its Interpreter class, backend name)
    ("ai_edge_litert.interpreter", "Interpreter", "ai-edge-litert"),
    ("tflite_runtime.interpreter", "Interpreter", "tflite-runtime"),
    # TF 2.21's `tensorflow.lite` module lacks the class; the public API reaches it as tf.lite.Interpreter
    ("tensorflow", "lite.Interpreter", "tensorflow"),
)


def interpreter_class(prefer: str | None = None) -> tuple[type, str]:
    """The first importable Interpreter class and its backend name (or the one named by prefer)."""
    for module_name, attribute, backend in _BACKENDS:
        if prefer and backend != prefer:
            continue
        try:
            found: Any = importlib.import_module(module_name)
            for name in attribute.split("."):
                found = getattr(found, name)
        except (ImportError, AttributeError):  # not installed, or a build without the interpreter
            continue
        return found, backend
    raise MissingExtraError(
        "no TFLite interpreter found: install the 'edge' extra (ai-edge-litert) or 'edge-legacy' (tflite-runtime)"
    )


log = logging.getLogger(__name__)
_RUNTIME_CHATTER = ("INFO: Created TensorFlow Lite XNNPACK delegate",)


@contextlib.contextmanager
def _runtime_stderr_to_log() -> Iterator[None]:
    """Route what the C++ runtime writes on fd 2 to the log, dropping its XNNPACK banner.

    The runtime prints an INFO line on stderr when it first applies XNNPACK; a command's stderr
    is reserved for its own one-line errors, so that line is dropped and anything else is logged.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode(errors="replace").splitlines():
                if line.strip() and not line.startswith(_RUNTIME_CHATTER):
                    log.warning("tflite: %s", line)


def load_interpreter(model_path: Path, *, num_threads: int = 1, prefer: str | None = None) -> Any:
    """An Interpreter for model_path with tensors allocated; one thread by default (gateway). A file the
    runtime cannot load (not a FlatBuffer, an op it lacks) is a BundleError naming it."""
    cls, backend = interpreter_class(prefer)
    with _runtime_stderr_to_log():
        try:
            interpreter = cls(model_path=str(model_path), num_threads=num_threads)
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:  # what the runtimes raise for a file they cannot load
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BundleError(f"{model_path}: {backend} cannot load this model ({reason}); expected a TFLite "
                              "FlatBuffer its runtime supports") from None
    return interpreter


class TFLiteModel:
    """One TFLite model with a float interface: quantizes inputs and dequantizes outputs as needed.

    The batch dimension is resized only when the number of rows changes, so a stream that
    delivers the same number of windows per block never reallocates.
    """

    def __init__(self, interpreter: Any) -> None:
        self._interp = interpreter
        self._details()

    def _details(self) -> None:
        self._in = self._interp.get_input_details()[0]
        # the converter lists outputs in no fixed order; "...:k" names the model's k-th output
        self._outs = sorted(self._interp.get_output_details(), key=lambda d: int(d["name"].rsplit(":", 1)[-1])
                            if d["name"].rsplit(":", 1)[-1].isdigit() else 0)
        self._rows = int(self._in["shape"][0])

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """x: (n, ...) float32 -> every model output, in the model's order, float32."""
        if x.shape[0] != self._rows:
            self._interp.resize_tensor_input(self._in["index"], list(x.shape), strict=False)
            self._interp.allocate_tensors()
            self._details()
        self._interp.set_tensor(self._in["index"], _quantize(x, self._in))
        self._interp.invoke()
        return [_dequantize(self._interp.get_tensor(d["index"]), d) for d in self._outs]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x: (n, ...) float32 -> the model's first output (n, ...) float32."""
        return self.run(x)[0]


def _quantize(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    dtype = detail["dtype"]
    if dtype == np.float32:
        return x.astype(np.float32, copy=False)
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.rint(x / scale + zero), info.min, info.max).astype(dtype)


def _dequantize(y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return y
    scale, zero = detail["quantization"]
    return ((y.astype(np.float32) - zero) * scale).astype(np.float32)
