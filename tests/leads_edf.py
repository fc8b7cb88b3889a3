"""adfecgdb's five leads written back as an EDF (the fetal tests and the live-prime study alter them first)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

LABELS = ["Direct_1", "Abdomen_1", "Abdomen_2", "Abdomen_3", "Abdomen_4"]


def write_edf(path: Path, x: np.ndarray) -> Path:
    """x (n, 5) µV at 1 kHz as an EDF with LABELS; the physical range is the data's, rounded up to 100 µV."""
    import pyedflib

    lim = float(np.ceil(np.abs(x).max() / 100 + 1) * 100)
    headers = [{"label": label, "dimension": "uV", "sample_frequency": 1000, "physical_min": -lim,
                "physical_max": lim, "digital_min": -32768, "digital_max": 32767} for label in LABELS]
    pyedflib.highlevel.write_edf(str(path), [np.ascontiguousarray(c) for c in x.T], headers)
    return path
