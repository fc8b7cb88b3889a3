"""`vigil record --ble`: the vigil wearable over BLE to EDF+ (BDF+ for a 24-bit device).

One signal per device channel with its label, in uV, the digital values being the device's ADC
counts (physical = counts x uV/LSB from the device info, the header's range written exactly), data
records of 1 s. EDF has no missing value: a sample the link lost is written as 0 and every run of
lost samples gets an EDF+ annotation "vigil: lost samples (written as 0)" at its onset with its
duration; ``edge.io.edf`` reads them back as lost samples, and Donut scoring/training treats them as
missing. (Writing only the contiguous runs, as separate files, would lose the time axis between
them.) File naming and never-overwrite rules are those of ``edge.commands.record``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from pathlib import Path
from typing import Any

import numpy as np

from edge.commands.record import Aligner, Recorded, claim
from edge.errors import ConfigError
from edge.io.edf import LOST_MARK

log = logging.getLogger(__name__)

ANNOTATION_SLOTS = 4  # EDF+ annotations per 1 s data record (edflib: one per annotation signal)


def _exact_bound(digital: int, scale: float, step: int) -> tuple[int, int | float]:
    """(digital, physical) range end whose physical value digital x scale is written exactly in the
    8 characters of an EDF header field, moving the digital end inwards (by `step`) if it must, so
    that physical = counts x scale holds exactly (a 24-bit range at 0.5 uV/LSB: 4194303.5 would be
    cut to 8 characters; 8388606 x 0.5 = 4194303 fits)."""
    for d in range(digital, digital - int(digital / 10), step):  # within 10 % of the full range
        value = d * scale
        for decimals in range(8):
            rounded = round(value, decimals)
            text = str(int(rounded)) if rounded == int(rounded) else str(rounded)
            if len(text) <= 8 and abs(rounded - value) <= 1e-9 * max(1.0, abs(value)):
                return d, int(text) if "." not in text else float(text)
    return digital, digital * scale  # no exact 8-character value near the end: edflib rounds it


class EdfClipWriter:
    """Consecutive blocks of the wearable, (n, channels) uV + missing (n,), into EDF+/BDF+ files of
    exactly `seconds` (whole seconds: EDF data records of 1 s)."""

    def __init__(self, out_dir: Path, info: Any, *, seconds: int, clips: int, prefix: str) -> None:
        from firmware_bridge.protocol import FORMAT_INT24

        self.out_dir, self.info, self.clips, self.prefix = out_dir, info, clips, prefix
        self.rate = int(info.sample_rate)
        self.frames = seconds * self.rate
        self.bdf = info.fmt == FORMAT_INT24
        self.ext = "bdf" if self.bdf else "edf"
        full = (-(1 << 23), (1 << 23) - 1) if self.bdf else (-32768, 32767)
        self.scale = float(f"{info.uv_per_lsb:.7g}")  # the device sends float32: 0.1 arrives as 0.10000000149
        self.bounds = (_exact_bound(full[0], self.scale, +1), _exact_bound(full[1], self.scale, -1))
        self.result = Recorded(frames=self.frames)
        self._pending = np.empty((0, info.channels), dtype=np.int32)
        self._writer: Any = None
        self._path: Path | None = None
        self._index = 0
        self._written = 0
        self._gap_start: int | None = None  # sample (in this file) where the current run of lost samples began
        self._gaps: list[tuple[int, int, int]] = []  # (start, end, runs merged) in samples of this file

    @property
    def done(self) -> bool:
        return len(self.result.files) >= self.clips

    def _open(self) -> None:
        import pyedflib

        self._path, handle, self._index = claim(self.out_dir, self.prefix, self.ext, self._index)
        handle.close()  # the name is ours; edflib writes it
        kind = pyedflib.FILETYPE_BDFPLUS if self.bdf else pyedflib.FILETYPE_EDFPLUS
        self._writer = pyedflib.EdfWriter(str(self._path), self.info.channels, file_type=kind)
        (lo, p_lo), (hi, p_hi) = self.bounds
        self._writer.setSignalHeaders([{
            "label": label, "dimension": "uV", "sample_frequency": self.rate, "physical_min": p_lo,
            "physical_max": p_hi, "digital_min": lo, "digital_max": hi, "transducer": "",
            "prefilter": ""} for label in self.info.labels])
        self._writer.set_number_of_annotation_signals(ANNOTATION_SLOTS)
        self._writer.setEquipment("vigil_wearable_fw_{}.{}.{}".format(*self.info.fw_version))
        self._written = 0

    def _annotate_gap(self, end: int) -> None:
        if self._gap_start is not None:
            self._gaps.append((self._gap_start, end, 1))
            self._gap_start = None

    def _write_annotations(self) -> None:
        """One EDF+ annotation per run of lost samples. edflib stores ANNOTATION_SLOTS per data record:
        with more runs than that, the closest neighbouring runs are merged (the merged annotation
        then also covers the samples between them, which a reader masks too)."""
        gaps = self._gaps
        capacity = ANNOTATION_SLOTS * (self.frames // self.rate)
        while len(gaps) > capacity:
            i = int(np.argmin([b[0] - a[1] for a, b in itertools.pairwise(gaps)]))
            (s0, _, n0), (_, e1, n1) = gaps[i], gaps[i + 1]
            gaps[i : i + 2] = [(s0, e1, n0 + n1)]
        for start, end, runs in gaps:  # edflib keeps 40 characters of a description
            what = "(written as 0)" if runs == 1 else f"({runs} runs, as 0)"
            self._writer.writeAnnotation(start / self.rate, (end - start) / self.rate, f"{LOST_MARK} {what}")
        self.result.gaps += sum(runs for _, _, runs in gaps)
        self._gaps = []

    def write(self, uv: np.ndarray, missing: np.ndarray | None) -> None:
        """Append a block: uV (n, channels) float32, missing (n,) bool or None."""
        counts = np.round(uv / self.scale).clip(self.bounds[0][0], self.bounds[1][0]).astype(np.int32)
        lost = np.zeros(counts.shape[0], bool) if missing is None else missing.astype(bool)
        counts[lost] = 0
        self.result.lost += int(lost.sum())
        while counts.shape[0] and not self.done:
            if self._writer is None:
                self._open()
            take = min(counts.shape[0], self.frames - self._written)
            self._mark_gaps(lost[:take])
            self._pending = np.concatenate([self._pending, counts[:take]])
            self._written += take
            counts, lost = counts[take:], lost[take:]
            whole = self._pending.shape[0] // self.rate * self.rate
            for start in range(0, whole, self.rate):  # one data record: channel after channel
                record = np.ascontiguousarray(self._pending[start : start + self.rate].T).ravel()
                if self._writer.blockWriteDigitalSamples(record) < 0:  # edflib refused the header or the write
                    raise ConfigError(f"{self._path}: edflib could not write a data record (header {self.bounds})")
            self._pending = self._pending[whole:]
            if self._written == self.frames:
                self._annotate_gap(self.frames)
                self._write_annotations()
                self._writer.close()
                self._writer = None
                assert self._path is not None
                self.result.files.append(self._path)
                self._index += 1

    def _mark_gaps(self, lost: np.ndarray) -> None:
        """Open and close runs of lost samples (positions relative to the current file)."""
        edges = np.flatnonzero(np.diff(np.concatenate([[self._gap_start is not None], lost]).astype(np.int8)))
        for edge in edges:
            at = self._written + int(edge)
            if self._gap_start is None:
                self._gap_start = at
            else:
                self._annotate_gap(at)

    def abort(self) -> None:
        if self._writer is not None and self._path is not None:
            self._writer.close()
            self._path.unlink(missing_ok=True)
            log.warning("%s: removed (recording stopped after %d of %d samples)", self._path, self._written,
                        self.frames)
            self._writer = None


async def record_ble(source: Any, out_dir: Path, *, seconds: int, clips: int, prefix: str = "ecg",
                     timeout_s: float | None = None) -> Recorded:
    """Run a BleEcgSource (every channel of the device) and write what it delivers into EDF files
    (see the module docstring)."""
    await source.start()
    writers: list[EdfClipWriter] = []

    async def collect() -> None:
        aligner = Aligner()
        async for block in source.blocks():
            if not writers:
                writers.append(EdfClipWriter(out_dir, source.info, seconds=seconds, clips=clips, prefix=prefix))
            for samples, lost in aligner.align(block.start, block.samples, block.missing):
                writers[0].write(samples, lost)
            if writers[0].done:
                return

    try:
        await asyncio.wait_for(collect(), timeout_s)
        if not writers or not writers[0].done:  # the source ended: the device broke the contract
            raise ConfigError(f"BLE {source.device}: recording stopped ({source.failure or 'source ended'})")
    except TimeoutError:
        if writers:
            writers[0].abort()
        done = len(writers[0].result.files) if writers else 0
        raise ConfigError(f"BLE {source.device}: {done} of {clips} files recorded in {timeout_s:g} s "
                          "(--timeout); is the wearable on and in range?") from None
    except BaseException:
        if writers:
            writers[0].abort()
        raise
    finally:
        await asyncio.wait_for(source.stop(), 30)
    return writers[0].result
