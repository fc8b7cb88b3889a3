"""Checks `vigil evaluate --bundle DONUT FILE...` makes before scoring: recordings the bundle was
trained on are refused (matched by sha256, as audio evaluation leaves out seen clips), and a KPI
CSV needs labels: its own label column, or NAB's label windows (``--labels combined_windows.json``).
And the checks `vigil train ecg/kpi` makes before training (``check_training_series``).
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle.loader import Bundle, sha256_file
from edge.errors import ConfigError, InputFileError


def _stamp(text: str) -> int:
    stamp = datetime.fromisoformat(text.strip())
    return int((stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp())  # naive times are UTC, as kpi.py


def nab_windows(labels: Path, path: Path) -> list[tuple[int, int]]:
    """Windows [start, end] in epoch seconds NAB lists for the CSV at `path` (matched by folder/name)."""
    try:
        table = json.loads(labels.read_text())
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{labels}: not a readable JSON label file ({exc}); expected NAB's "
                             "combined_windows.json") from None
    if not isinstance(table, dict):
        raise InputFileError(f"{labels}: expected a JSON object {{\"folder/file.csv\": [[start, end], ...]}}")
    key = f"{path.parent.name}/{path.name}"
    matches = [k for k in table if k == key] or [k for k in table if Path(k).name == path.name]
    if len(matches) != 1:
        raise InputFileError(f"{labels}: {'no' if not matches else 'several'} entries for {key} "
                             f"({len(table)} entries; expected one per NAB file)")
    try:
        return [(_stamp(a), _stamp(b)) for a, b in table[matches[0]]]
    except (TypeError, ValueError) as exc:
        raise InputFileError(f"{labels}: {matches[0]}: windows must be [start, end] timestamps ({exc})") from None


def _has_label_column(path: Path) -> bool:
    """A `label` header in the third column, or a headerless file (read by position) with a third column."""
    from edge.io.kpi_csv import _is_header

    with open(path, newline="") as handle:
        header = next(csv.reader(handle), [])
    return len(header) > 2 and (header[2].strip() == "label" or not _is_header(header))


def check_series_inputs(bundle: Bundle, files: list[Path], labels: Path | None,
                        allow_seen: bool) -> dict[Path, list[tuple[int, int]]] | None:
    """Refuse seen recordings and unlabelled KPI CSVs; return NAB windows per file when --labels is given."""
    seen = {f["sha256"]: f["file"] for f in bundle.manifest.provenance.get("fit_files", [])}
    for path in files:
        if path.is_file() and not allow_seen and (name := seen.get(sha256_file(path))):
            raise ConfigError(f"{path}: the bundle was trained on this recording ({name}, same sha256); "
                              "evaluate on a recording it has not seen, or pass --allow-seen for an optimistic figure")
    if not bundle.input_modality.timestamped:  # NAB windows name timestamps
        if labels is not None:
            raise ConfigError(f"--labels {labels}: label windows apply to KPI CSVs; EDF labels come from the "
                              "bundle's rule or --inject-seed")
        return None
    if labels is None:
        for path in files:
            if path.is_file() and not _has_label_column(path):
                raise InputFileError(f"{path}: no label column, so nothing to evaluate against; expected "
                                     "timestamp,value,label or NAB windows with --labels combined_windows.json")
        return None
    return {path: nab_windows(labels, path) for path in files}


def window_labels(timestamps: np.ndarray, windows: list[tuple[int, int]]) -> np.ndarray:
    """Points (n,) whose timestamp lies in any [start, end] window: bool (n,)."""
    out = np.zeros(timestamps.shape, dtype=bool)
    for start, end in windows:
        out |= (timestamps >= start) & (timestamps <= end)
    return out


def check_training_series(series: list[Any], valid_fraction: float, window: int) -> None:
    """Refuse series whose validation part (the last `valid_fraction` by time) holds less than one window, or
    with no normal point (neither missing nor labelled) to fit on or in the validation parts that set the
    threshold, before minutes of training end in a traceback."""
    for s in series:
        if int(len(s.values) * valid_fraction) < window:
            need = next(n for n in range(window, 10 * window) if int(n * valid_fraction) >= window)
            raise InputFileError(f"{s.path}: {len(s.values)} points; its last {round(100 * valid_fraction)} % by "
                                 f"time validates the model and must hold one window ({window} points): expected "
                                 f"at least {need} points")
    cuts = [len(s.values) - int(len(s.values) * valid_fraction) for s in series]
    normal = [~(s.missing | s.labels) for s in series]
    names = ", ".join(str(s.path) for s in series)
    for part, counts in (("fit", [int(n[:c].sum()) for n, c in zip(normal, cuts, strict=True)]),
                         ("validation", [int(n[c:].sum()) for n, c in zip(normal, cuts, strict=True)])):
        if sum(counts) == 0:
            share = 1 - valid_fraction if part == "fit" else valid_fraction
            where = f"{'first' if part == 'fit' else 'last'} {round(100 * share)} %"
            purpose = "fit on" if part == "fit" else "set the threshold"
            raise InputFileError(f"{names}: no normal point in the {where} by time (every value there is missing or "
                                 f"labelled); expected normal points to {purpose}")
    fit_values = np.concatenate([s.values[:c][n[:c]] for s, n, c in zip(series, normal, cuts, strict=True)])
    if np.ptp(fit_values) == 0:  # a stuck sensor: no variance to learn, and a threshold of 0 flags every change
        raise InputFileError(f"{names}: every normal value to fit on is {fit_values[0]:g}; expected a varying series "
                             "(a stuck sensor or a constant column?)")
