"""Quiet training by default: TensorFlow's native log lines, converter chatter and library warnings
are held back unless ``-v`` is given.

TensorFlow 2.21 logs through absl from C++ straight to file descriptor 2 ("oneDNN custom
operations are on", "Could not find cuda drivers", "fully_quantize: 0 ..."), whatever
TF_CPP_MIN_LOG_LEVEL says. So fd 2 is pointed at a temporary file while the work runs, and
Python's own stderr (vigil's messages, the progress bar) is moved to a copy of the real fd 2.
If the work fails with anything but a user error, the held-back lines are shown after all:
they may explain the failure.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator

from edge.errors import VigilError, file_system_error


@contextlib.contextmanager
def quiet_native(verbose: bool) -> Iterator[None]:
    """Hold back native stderr and library warnings inside the block unless `verbose`."""
    if verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
        yield
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("absl").setLevel(logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    sys.stderr.flush()
    saved_fd = os.dup(2)
    held = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below)
    os.dup2(held.fileno(), 2)
    saved_stderr = sys.stderr
    wrapper = io.TextIOWrapper(os.fdopen(os.dup(saved_fd), "wb", buffering=0), write_through=True)
    sys.stderr = wrapper
    handlers = [h for h in logging.getLogger().handlers  # vigil's own notices must still be seen
                if isinstance(h, logging.StreamHandler) and h.stream is saved_stderr]
    for handler in handlers:
        handler.setStream(wrapper)
    failed = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # converter, matplotlib ("No artists with labels"), keras
            yield
    except (VigilError, KeyboardInterrupt, SystemExit):  # said in one line, or asked for: TF's lines explain nothing
        raise
    except BaseException as exc:
        failed = file_system_error(exc) is None
        raise
    finally:
        sys.stderr.flush()
        sys.stderr = saved_stderr
        for handler in handlers:
            handler.setStream(saved_stderr)
        wrapper.close()
        os.dup2(saved_fd, 2)
        os.close(saved_fd)
        if failed:  # an unexpected failure: the native lines may say why
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
        held.close()
