"""KPI series in Donut's CSV form (`timestamp,value[,label]`), with timestamp completion.

Headerless files (the AIOps Challenge's) are read by position: timestamp, value, label. A file
whose first row does not parse as numbers has a header, and columns are found by name. Either
way, `KpiColumns` picks other columns by name or 0-based position. NaN, inf and empty values are
missing points: counted (`nonfinite`, with the first line) so the caller can say so once.
As Donut's reference does: the interval is the smallest step between timestamps; missing
timestamps are inserted with value 0 and marked missing, so windows keep true time.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import numpy as np

from edge.errors import ConfigError, InputFileError

MAX_GAP_POINTS = 100_000  # the most missing points one gap may insert (or 10 per row, when more): real KPIs show < 2000


@dataclass(frozen=True)
class KpiColumns:
    """Which columns hold timestamp, value and label: a header name or a 0-based position.

    label None: no label column (a headerless file's third column, or a header's `label`, is used
    when present unless `label_given` says the choice was explicit).
    """

    timestamp: str | int = "timestamp"
    value: str | int = "value"
    label: str | int | None = "label"

    @classmethod
    def parse(cls, text: str) -> KpiColumns:
        """`TIMESTAMP,VALUE[,LABEL]`: names or 0-based positions, e.g. `0,2` or `time,cpu,is_anomaly`."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) not in (2, 3) or not all(parts):
            raise ConfigError(f"--columns {text!r}: expected TIMESTAMP,VALUE[,LABEL] (names or 0-based positions)")
        picked = [int(p) if p.isdigit() else p for p in parts]
        return cls(picked[0], picked[1], picked[2] if len(picked) == 3 else None)


@dataclass(frozen=True)
class KpiSeries:
    """Completed series: timestamps (n,) int64 seconds, values (n,) float64, labels and missing (n,) bool.

    nonfinite: rows whose value was NaN, inf or empty (now missing points); first_nonfinite_line its first line.
    """

    path: Path
    timestamps: np.ndarray
    values: np.ndarray
    labels: np.ndarray
    missing: np.ndarray
    interval_s: int
    nonfinite: int = 0
    first_nonfinite_line: int = 0


def _parse_time(text: str) -> float:
    """Seconds since the epoch (a number, or an ISO time; naive times are UTC); rounded to whole seconds later."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        stamp = datetime.fromisoformat(text)
        if stamp.tzinfo is None:  # NAB and Donut write naive times: read them as UTC, not local time
            stamp = stamp.replace(tzinfo=UTC)
        return stamp.timestamp()


def _is_header(row: list[str]) -> bool:
    """A header has no number in any field and no time in the first (a data row may lack its value)."""
    for field in row:
        try:
            float(field)
            return False
        except ValueError:
            pass
    try:
        _parse_time(row[0])
        return False
    except (ValueError, IndexError):
        return True


def _resolve(path: Path, header: list[str] | None, columns: KpiColumns) -> tuple[int, int, int | None]:
    """Column positions (timestamp, value, label or None) for this file."""
    names = [c.strip() for c in header] if header is not None else None

    def find(col: str | int, what: str) -> int:
        if isinstance(col, int):
            return col
        if names is None:
            if (what, col) in (("timestamp", "timestamp"), ("value", "value"), ("label", "label")):
                return {"timestamp": 0, "value": 1, "label": 2}[what]  # headerless: by position
            raise InputFileError(f"{path}: no header row, so no column named {col!r} (give a 0-based position)")
        if col not in names:
            raise InputFileError(f"{path}: header {names} has no {what} column {col!r} (choose one with --columns)")
        return names.index(col)

    ts, value = find(columns.timestamp, "timestamp"), find(columns.value, "value")
    default_absent = columns.label == "label" and names is not None and "label" not in names
    label = None if columns.label is None or default_absent else find(columns.label, "label")
    return ts, value, label


def _read_rows(path: Path, columns: KpiColumns) -> tuple[list[float], list[float], list[bool], int, int, bool]:
    """Timestamps, values, labels of the data rows; the NaN/inf/empty count and first line; whether a header."""
    stamps: list[float] = []
    values: list[float] = []
    labels: list[bool] = []
    nonfinite, first_bad = 0, 0
    # utf-8-sig: spreadsheets save CSVs with a byte-order mark, which would stick to the first field
    with open(path, newline="", encoding="utf-8-sig") as handle:  # row by row
        reader = csv.reader(handle, delimiter=_delimiter(handle))
        first = next(reader, None)
        if first is None:
            raise InputFileError(f"{path}: empty file (expected a CSV with timestamp,value[,label])")
        header = first if _is_header(first) else None
        ts_col, value_col, label_col = _resolve(path, header, columns)
        if header is None and label_col == 2 and columns.label == "label" and len(first) < 3:
            label_col = None  # a headerless timestamp,value file has no labels
        expected = "timestamp,value" + (",label" if label_col is not None else "")
        rows: Iterable[list[str]] = reader if header is not None else _chain(first, reader)
        for line, row in enumerate(rows, start=2 if header is not None else 1):
            if not row:
                continue
            try:
                stamps.append(_parse_time(row[ts_col]))
                text = row[value_col].strip()
                value = float(text) if text else math.nan
                labels.append(bool(int(float(row[label_col]))) if label_col is not None else False)
            except (ValueError, IndexError, OverflowError):
                raise InputFileError(f"{path}: line {line}: {row!r} is not {expected} "
                                     f"(columns {ts_col},{value_col}{'' if label_col is None else f',{label_col}'})"
                                     ) from None
            if not math.isfinite(value):
                nonfinite += 1
                first_bad = first_bad or line
            values.append(value)
    return stamps, values, labels, nonfinite, first_bad, header is not None


def read_kpi_csv(path: str | Path, columns: KpiColumns | None = None) -> KpiSeries:
    """Read and complete a KPI CSV; unsorted or duplicate timestamps are refused, naming the line."""
    path = Path(path)
    columns = columns or KpiColumns()
    if not path.is_file():
        raise InputFileError(f"{path}: no such file (expected a CSV with timestamp,value[,label])")
    try:
        stamps, values, labels, nonfinite, first_bad, has_header = _read_rows(path, columns)
    except (UnicodeDecodeError, csv.Error) as exc:  # a binary file (an EDF, a WAV) given as a CSV
        raise InputFileError(f"{path}: not a text CSV ({exc}; expected UTF-8 text rows "
                             "timestamp,value[,label])") from None
    if len(stamps) < 2:
        raise InputFileError(f"{path}: {len(stamps)} data rows (expected at least 2)")
    raw = np.asarray(stamps, dtype=np.float64)
    if not np.isfinite(raw).all():
        line = int(np.argmax(~np.isfinite(raw))) + (2 if has_header else 1)
        raise InputFileError(f"{path}: line {line}: timestamp {raw[line - (2 if has_header else 1)]} "
                             "(expected seconds since 1970 or an ISO time)")
    ts = np.rint(raw).astype(np.int64)  # a logger's sub-second jitter rounds away
    offset = 2 if has_header else 1  # line of row 0
    steps = np.diff(ts)
    if (steps < 0).any():
        line = int(np.argmax(steps < 0)) + 1 + offset
        raise InputFileError(f"{path}: line {line}: timestamp goes backwards (expected sorted timestamps)")
    if (steps == 0).any():
        dup = int(np.argmax(steps == 0)) + 1
        if raw[dup] != raw[dup - 1]:  # 0.0 and 0.5: a series faster than whole seconds
            stamp = f"{raw[dup]:.6f}".rstrip("0").rstrip(".")
            raise InputFileError(f"{path}: line {dup + offset}: timestamp {stamp} is {raw[dup] - raw[dup - 1]:.3g} s "
                                 "after the previous one (expected steps of whole seconds, 1 s or more)")
        raise InputFileError(f"{path}: line {dup + offset}: duplicate timestamp {ts[dup]} "
                             "(expected unique timestamps)")
    interval = int(steps.min())
    if ((ts - ts[0]) % interval).any():
        raise InputFileError(f"{path}: timestamps are not on a {interval} s grid (expected a regular interval)")
    # a gap is filled with missing points; a mistyped timestamp (one digit too many) would fill gigabytes
    limit = max(MAX_GAP_POINTS, 10 * ts.size)
    if (steps // interval - 1 > limit).any():
        at = int(np.argmax(steps // interval - 1 > limit)) + 1
        raise InputFileError(f"{path}: line {at + offset}: timestamp {ts[at]} is {int(steps[at - 1] // interval)} "
                             f"intervals of {interval} s after the previous one ({ts[at - 1]}), a gap of more than "
                             f"{limit} missing points (expected a gap in the series, not a mistyped timestamp)")
    index = (ts - ts[0]) // interval
    n = int(index[-1]) + 1
    v = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(v)
    full_values, full_labels, missing = np.zeros(n), np.zeros(n, dtype=bool), np.ones(n, dtype=bool)
    full_values[index], full_labels[index], missing[index] = np.where(bad, 0.0, v), labels, bad
    return KpiSeries(path=path, timestamps=ts[0] + interval * np.arange(n, dtype=np.int64), values=full_values,
                     labels=full_labels, missing=missing, interval_s=interval, nonfinite=nonfinite,
                     first_nonfinite_line=first_bad)


def _delimiter(handle: TextIO) -> str:
    """`,`, or `;` / tab when the first line has those and no comma (European spreadsheets); rewinds."""
    line = handle.readline()
    handle.seek(0)
    if "," not in line:
        for other in (";", "\t"):
            if other in line:
                return other
    return ","


def _chain(first: list[str], rest: Iterable[list[str]]) -> Iterator[list[str]]:
    yield first
    yield from rest
