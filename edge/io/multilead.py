"""Multi-lead recordings read in blocks: EDF/EDF+ (pyedflib) and WFDB records (.hea/.dat, wfdb).

Both give float64 (n, leads) blocks in µV, so memory does not depend on a recording's length.
The wfdb package is a desktop dependency (the `train` extra) and is imported only when a WFDB
record is opened; the gateway reads EDF and BLE only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import ConfigError, InputFileError, MissingExtraError
from edge.io.edf import EdfFile, unit_factor

ABDOMINAL_PREFIXES = ("abdom", "aecg")  # adfecgdb: Abdomen_1..4; Challenge 2013 style: AECG1..4


@dataclass
class LeadRecording:
    """The chosen leads of one recording at ``fs`` Hz, ``n_samples`` long, read in blocks in µV."""

    path: Path
    fs: float
    labels: tuple[str, ...]  # the chosen leads
    n_samples: int
    _reader: EdfFile | Path  # the open EDF file, or the WFDB record's path (wfdb reads by path)
    _indices: tuple[int, ...]
    _scales: tuple[float, ...]
    kind: str  # "edf" or "wfdb"

    @property
    def seconds(self) -> float:
        return self.n_samples / self.fs

    def blocks(self, size: int) -> Iterator[np.ndarray]:
        """Consecutive (<= size, leads) float64 blocks in µV."""
        # wfdb parses the header on every read: read at least 30 s at a time, still bounded
        step = size if self.kind == "edf" else max(size, int(30 * self.fs))
        for start in range(0, self.n_samples, step):
            chunk = self._read(start, min(step, self.n_samples - start)) * np.asarray(self._scales)
            for i in range(0, chunk.shape[0], size):
                yield chunk[i:i + size]

    def lost_runs(self) -> list[tuple[int, int]]:
        """[start, end) sample ranges `vigil record` marked lost (EDF+ annotations; none in WFDB)."""
        return self._reader.lost_runs(self.fs) if isinstance(self._reader, EdfFile) else []

    def _read(self, start: int, n: int) -> np.ndarray:
        if isinstance(self._reader, EdfFile):
            return self._reader.read_leads(self.labels, start, n)
        import wfdb

        try:
            rec = wfdb.rdrecord(str(self._reader), sampfrom=start, sampto=start + n, channels=list(self._indices))
        except (ValueError, TypeError, IndexError, OSError) as exc:  # wfdb's errors on a short or bad .dat
            raise InputFileError(f"{self.path}: samples {start}-{start + n} not readable from its signal file "
                                 f"({type(exc).__name__}: {exc}; expected the {self.n_samples} samples the "
                                 "header gives)") from None
        return np.asarray(rec.p_signal, dtype=np.float64)

    def close(self) -> None:
        if isinstance(self._reader, EdfFile):
            self._reader.close()


def _choose(path: Path, available: Sequence[str], channels: Sequence[str] | None) -> tuple[int, ...]:
    if channels:
        twice = sorted({c for c in channels if list(channels).count(c) > 1})
        if twice:
            raise ConfigError(f"--channels: {twice[0]!r} given twice (expected each lead once)")
        missing = [c for c in channels if c not in available]
        if missing:
            raise ConfigError(f"{path}: no channel labelled {missing[0]!r} (channels: {', '.join(available)})")
        return tuple(available.index(c) for c in channels)
    chosen = tuple(i for i, name in enumerate(available) if name.lower().startswith(ABDOMINAL_PREFIXES))
    if not chosen:
        raise InputFileError(f"{path}: no abdominal channel (Abdomen_*) among {', '.join(available)}; "
                             "choose leads with --channels")
    return chosen


def open_leads(path: str | Path, channels: Sequence[str] | None = None) -> LeadRecording:
    """An EDF (.edf/.bdf) or WFDB record (.hea, or the path without extension) with the chosen leads."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".edf", ".bdf"):
        return _open_edf(path, channels)
    if suffix == ".hea" or (suffix in ("", ".dat") and path.with_suffix(".hea").is_file()):
        return _open_wfdb(path.with_suffix(""), channels)
    if not path.exists():
        raise InputFileError(f"{path}: no such file (expected an EDF recording or a WFDB record)")
    raise InputFileError(f"{path}: not an EDF (.edf) or WFDB (.hea) recording")


def _open_edf(path: Path, channels: Sequence[str] | None) -> LeadRecording:
    edf = EdfFile(path)
    try:
        idx = _choose(path, edf.labels, channels)
        chosen = tuple(edf.labels[i] for i in idx)
        rates = {edf.fs(label) for label in chosen}
        if len(rates) != 1:
            raise InputFileError(f"{path}: chosen leads at different rates {sorted(rates)} Hz (expected one rate)")
        n = min(edf.n_samples(label) for label in chosen)
        scales = tuple(edf.factor(label, "uV") for label in chosen)
    except Exception:
        edf.close()
        raise
    if n == 0:
        edf.close()
        raise InputFileError(f"{path}: no samples in the chosen leads")
    return LeadRecording(path, rates.pop(), chosen, n, edf, idx, scales, "edf")


def _open_wfdb(record: Path, channels: Sequence[str] | None) -> LeadRecording:
    try:
        import wfdb
    except ImportError:
        raise MissingExtraError(f"{record}.hea: WFDB records need the wfdb package: "
                                "pip install '.[train]' in the checkout") from None
    hea = record.with_suffix(".hea")
    if not hea.is_file():
        raise InputFileError(f"{hea}: no such file (expected a WFDB header)")
    try:
        header = wfdb.rdheader(str(record))
    except Exception as exc:  # wfdb raises plain ValueError/IndexError on malformed headers
        raise InputFileError(f"{hea}: not a readable WFDB header ({type(exc).__name__}: {exc})") from None
    names = list(header.sig_name or [])
    idx = _choose(hea, names, channels)
    n = int(header.sig_len or 0)
    if n == 0 or not header.fs:
        raise InputFileError(f"{hea}: no samples or no sampling frequency in the header")
    for f in sorted({header.file_name[i] for i in idx}):
        if not (record.parent / f).is_file():
            raise InputFileError(f"{record.parent / f}: no such file (the signal file named in {hea.name})")
        _check_size(record.parent / f, header, n, hea.name)
    scales = tuple(unit_factor(hea, names[i], header.units[i] or "mV", "uV") for i in idx)  # WFDB's default: mV
    return LeadRecording(hea, float(header.fs), tuple(names[i] for i in idx), n, record, idx, scales, "wfdb")


def _check_size(dat: Path, header: Any, n: int, hea: str) -> None:
    """Refuse a signal file shorter than its header says (a copy cut short), before any sample is read."""
    from wfdb.io._signal import BYTES_PER_SAMPLE

    mine = [i for i, name in enumerate(header.file_name) if name == dat.name]
    per_frame = sum(BYTES_PER_SAMPLE.get(str(header.fmt[i]), 0) * (header.samps_per_frame[i] or 1) for i in mine)
    offset = max((header.byte_offset[i] or 0) for i in mine)
    need = int(offset + n * per_frame)
    if dat.stat().st_size < need:
        raise InputFileError(f"{dat}: {dat.stat().st_size} bytes, shorter than the {n} samples {hea} gives "
                             f"({need} bytes expected; a file cut short?)")
