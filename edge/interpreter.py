"""The TFLite interpreter factory: LiteRT first, then tflite-runtime 2.14, then TensorFlow.

``ai_edge_litert`` is current and works with NumPy 2; ``tflite_runtime`` 2.14 needs numpy<2 (the
``edge-legacy`` extra); ``tensorflow.lite`` is the desktop fallback. Modules are imported lazily
by name so that importing ``edge`` never pulls TensorFlow in.
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

from edge.errors import MissingExtraError

_BACKENDS = (
    ("ai_edge_litert.interpreter", "ai-edge-litert"),
    ("tflite_runtime.interpreter", "tflite-runtime"),
    ("tensorflow.lite", "tensorflow"),
)


def interpreter_class(prefer: str | None = None) -> tuple[type, str]:
    """The first importable Interpreter class and its backend name (or the one named by prefer)."""
    for module_name, backend in _BACKENDS:
        if prefer and backend != prefer:
            continue
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        return module.Interpreter, backend
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
    """An Interpreter for model_path with tensors allocated; one thread by default (gateway)."""
    cls, _ = interpreter_class(prefer)
    with _runtime_stderr_to_log():
        interpreter = cls(model_path=str(model_path), num_threads=num_threads)
        interpreter.allocate_tensors()
    return interpreter
