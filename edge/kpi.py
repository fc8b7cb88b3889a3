"""KPI series in Donut's CSV form (`timestamp,value[,label]`), with timestamp completion.

As Donut's reference does: the interval is the smallest step between timestamps; missing
timestamps are inserted with value 0 and marked missing, so windows keep true time.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from edge.errors import InputFileError


@dataclass(frozen=True)
class KpiSeries:
    """Completed series: timestamps (n,) int64 seconds, values (n,) float64, labels and missing (n,) bool."""

    path: Path
    timestamps: np.ndarray
    values: np.ndarray
    labels: np.ndarray
    missing: np.ndarray
    interval_s: int


def _parse_time(text: str) -> int:
    text = text.strip()
    try:
        return int(float(text))
    except ValueError:
        stamp = datetime.fromisoformat(text)
        if stamp.tzinfo is None:  # NAB and Donut write naive times: read them as UTC, not local time
            stamp = stamp.replace(tzinfo=UTC)
        return int(stamp.timestamp())


def read_kpi_csv(path: str | Path) -> KpiSeries:
    """Read and complete a KPI CSV; unsorted or duplicate timestamps are refused, naming the row."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file (expected a CSV with timestamp,value[,label])")
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows or [c.strip() for c in rows[0][:2]] != ["timestamp", "value"]:
        raise InputFileError(f"{path}: header {rows[0] if rows else []} (expected timestamp,value[,label])")
    has_label = len(rows[0]) > 2 and rows[0][2].strip() == "label"
    stamps, values, labels = [], [], []
    for line, row in enumerate(rows[1:], start=2):
        try:
            stamps.append(_parse_time(row[0]))
            values.append(float(row[1]))
            labels.append(bool(int(row[2])) if has_label else False)
        except (ValueError, IndexError):
            raise InputFileError(f"{path}: line {line}: {row!r} is not timestamp,value"
                                 f"{',label' if has_label else ''}") from None
    if len(stamps) < 2:
        raise InputFileError(f"{path}: {len(stamps)} data rows (expected at least 2)")
    ts = np.asarray(stamps, dtype=np.int64)
    steps = np.diff(ts)
    if (steps < 0).any():
        line = int(np.argmax(steps < 0)) + 3
        raise InputFileError(f"{path}: line {line}: timestamp goes backwards (expected sorted timestamps)")
    if (steps == 0).any():
        line = int(np.argmax(steps == 0)) + 3
        raise InputFileError(f"{path}: line {line}: duplicate timestamp {ts[line - 2]} (expected unique timestamps)")
    interval = int(steps.min())
    if ((ts - ts[0]) % interval).any():
        raise InputFileError(f"{path}: timestamps are not on a {interval} s grid (expected a regular interval)")
    index = (ts - ts[0]) // interval
    n = int(index[-1]) + 1
    full_values, full_labels, missing = np.zeros(n), np.zeros(n, dtype=bool), np.ones(n, dtype=bool)
    full_values[index], full_labels[index], missing[index] = values, labels, False
    return KpiSeries(path=path, timestamps=ts[0] + interval * np.arange(n, dtype=np.int64), values=full_values,
                     labels=full_labels, missing=missing, interval_s=interval)
