"""`vigil record`: capture training data on the gateway, never overwriting a file.

- Microphone (``edge.microphone.Microphone``, int16 from PortAudio) to WAV or FLAC (libsndfile via
  soundfile), 16-bit PCM, mono, ``--clips`` files of exactly ``--seconds`` each at ``--sr`` Hz. The
  clips are consecutive: the first sample of a clip follows the last of the one before. Samples the
  sound card dropped (input overflow) are written as 0 at their place and counted.
- The vigil wearable over BLE (``edge.ble.BleEcgSource``) to EDF+ (BDF+ for a 24-bit device): one
  signal per device channel with its label, in uV, the digital values being the device's ADC
  counts (physical = counts x uV/LSB from the device info), 1 s data records. EDF has no missing
  value: a sample the link lost is written as 0 and every run of lost samples gets an EDF+
  annotation "vigil: N samples lost (written as 0)" at its onset with its duration;
  ``edge.edf`` reads them back as lost samples, and Donut scoring/training treats them as missing.
  (Writing only the contiguous runs, as separate files, would lose the time axis between them.)

Names are ``PREFIX_0000.EXT``, ``PREFIX_0001.EXT``...: each name is claimed with an exclusive
create, so an existing file is skipped, never replaced. A clip cut short (Ctrl-C, link lost for
good) is removed, as it is vigil's own partial file.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import queue
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from edge.edf import LOST_MARK
from edge.errors import ConfigError

log = logging.getLogger(__name__)

ANNOTATION_SLOTS = 4  # EDF+ annotations per 1 s data record (edflib: one per annotation signal)


def claim(out_dir: Path, prefix: str, ext: str, start: int = 0) -> tuple[Path, BinaryIO, int]:
    """The first free ``prefix_NNNN.ext`` at index >= start, created exclusively: (path, file, index)."""
    index = start
    while True:
        path = out_dir / f"{prefix}_{index:04d}.{ext}"
        try:
            return path, open(path, "xb"), index  # closed by the writer that takes it
        except FileExistsError:
            index += 1


@dataclass
class Recorded:
    """What a recording wrote: files, frames per file, and how many samples were lost (written as 0)."""

    files: list[Path] = field(default_factory=list)
    frames: int = 0
    lost: int = 0
    gaps: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"files": [str(p) for p in self.files], "frames_per_file": self.frames, "lost_samples": self.lost,
                "gaps": self.gaps}


class Aligner:
    """Blocks numbered by their source into one gapless sequence: a block that starts after the next
    expected sample leaves the samples in between lost (returned as zeros, marked missing); a block
    that overlaps what was already taken is trimmed. Recording starts at the first block's start."""

    def __init__(self) -> None:
        self.next: int | None = None

    def align(self, start: int, samples: np.ndarray, missing: np.ndarray | None,
              ) -> list[tuple[np.ndarray, np.ndarray]]:
        """[(samples (n, channels), missing (n,) bool)] to append, in order."""
        if self.next is None:
            self.next = start
        out = []
        if start > self.next:
            gap = start - self.next
            out.append((np.zeros((gap, samples.shape[1]), samples.dtype), np.ones(gap, dtype=bool)))
        elif start < self.next:  # already taken (a repeated block): keep what is new only
            cut = min(self.next - start, samples.shape[0])
            samples = samples[cut:]
            missing = None if missing is None else missing[cut:]
            start += cut
        if samples.shape[0]:
            out.append((samples, np.zeros(samples.shape[0], bool) if missing is None else missing.astype(bool)))
        self.next = max(self.next, start + samples.shape[0])
        return out


class AudioClipWriter:
    """Consecutive int16 mono samples into files of exactly `frames` frames (WAV or FLAC, PCM 16)."""

    def __init__(self, out_dir: Path, *, sr: int, frames: int, clips: int, fmt: str, prefix: str) -> None:
        self.out_dir, self.sr, self.frames, self.clips, self.fmt, self.prefix = out_dir, sr, frames, clips, fmt, prefix
        self.result = Recorded(frames=frames)
        self._file: Any = None
        self._path: Path | None = None
        self._handle: BinaryIO | None = None
        self._index = 0
        self._written = 0

    @property
    def done(self) -> bool:
        return len(self.result.files) >= self.clips

    def _open(self) -> None:
        import soundfile

        self._path, self._handle, self._index = claim(self.out_dir, self.prefix, self.fmt, self._index)
        self._file = soundfile.SoundFile(self._handle, "w", samplerate=self.sr, channels=1,
                                         format=self.fmt.upper(), subtype="PCM_16")
        self._written = 0

    def write(self, samples: np.ndarray) -> None:
        """Append int16 samples (n,); files are completed and opened as they fill."""
        while samples.size and not self.done:
            if self._file is None:
                self._open()
            take = min(samples.size, self.frames - self._written)
            self._file.write(samples[:take])
            self._written += take
            samples = samples[take:]
            if self._written == self.frames:
                self._close()
                assert self._path is not None
                self.result.files.append(self._path)
                self._index += 1

    def _close(self) -> None:
        self._file.close()
        assert self._handle is not None
        self._handle.close()
        self._file = None

    def abort(self) -> None:
        """Remove the clip being written (ours, and shorter than asked)."""
        if self._file is not None and self._path is not None:
            self._close()
            self._path.unlink(missing_ok=True)
            log.warning("%s: removed (recording stopped after %.2f s of %.2f s)", self._path,
                        self._written / self.sr, self.frames / self.sr)


class _Tap:
    """Stands in for a Stream so that Microphone's callback hands its blocks to a queue: the same
    capture code as `vigil run`, with file writing kept off PortAudio's thread."""

    def __init__(self, sr: int, capacity: int) -> None:
        self.spec = type("Spec", (), {"sr": sr})()
        self.ring = self
        self.capacity = capacity
        self.written = 0  # sample index of the next block
        self.blocks: queue.Queue[tuple[int, np.ndarray, np.ndarray | None]] = queue.Queue()

    def write(self, samples: np.ndarray, missing: np.ndarray | None = None) -> None:
        self.blocks.put((self.written, samples.copy(), None if missing is None else missing.copy()))
        self.written += samples.shape[0]


def record_microphone(out_dir: Path, *, device: str | int | None, seconds: float, clips: int, sr: int = 16000,
                      fmt: str = "wav", prefix: str = "clip", channel: int | None = None,
                      blocksize: int = 1024) -> Recorded:
    """Record `clips` consecutive files of `seconds` from an input device (see the module docstring)."""
    from edge.microphone import Microphone

    frames = round(seconds * sr)
    tap = _Tap(sr, capacity=max(frames, sr))
    writer = AudioClipWriter(out_dir, sr=sr, frames=frames, clips=clips, fmt=fmt, prefix=prefix)
    try:
        mic = Microphone(tap, device=device, channel=channel, blocksize=blocksize)  # type: ignore[arg-type]
        mic.start()
    except ConfigError:
        raise
    except Exception as exc:  # no PortAudio (OSError), or the device refuses the rate/channels (PortAudioError)
        raise ConfigError(f"microphone {device or 'default input'}: {str(exc).strip()} (expected an input that "
                          f"records {sr} Hz; see `vigil devices`)") from None
    print(f"vigil: recording {clips} x {frames / sr:g} s from {device or 'the default input'} into {out_dir} "
          "(Ctrl-C stops)", file=sys.stderr, flush=True)
    aligner = Aligner()
    try:
        while not writer.done:
            try:
                start, samples, missing = tap.blocks.get(timeout=0.5)
            except queue.Empty:
                continue
            for part, lost in aligner.align(start, samples, missing):
                if lost.any():  # dropped by the sound card: zeros at their place
                    writer.result.lost += int(lost.sum())
                    writer.result.gaps += 1
                    part = np.where(lost[:, None], np.float32(0), part)
                writer.write(np.round(part[:, 0] * 32768).clip(-32768, 32767).astype(np.int16))
    except BaseException:
        writer.abort()
        raise
    finally:
        mic.stop()
    return writer.result


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
        for start, end, runs in gaps:
            what = f"{end - start}" if runs == 1 else f"{runs} runs in {end - start}"
            self._writer.writeAnnotation(start / self.rate, (end - start) / self.rate, f"vigil: {what} {LOST_MARK}")
        self.result.gaps += len(self._gaps)
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
    """Run a BleEcgSource and write what it delivers into EDF files (see the module docstring)."""
    runner = asyncio.create_task(source.run())
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
    except TimeoutError:
        done = len(writers[0].result.files) if writers else 0
        raise ConfigError(f"BLE {source.address or ', '.join(source.names)}: {done} of {clips} files recorded "
                          f"in {timeout_s:g} s (--timeout); is the wearable on and in range?") from None
    except BaseException:
        if writers:
            writers[0].abort()
        raise
    finally:
        source.stop()
        await asyncio.wait_for(runner, 30)
    return writers[0].result if writers else Recorded()


_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")


def add_parser(sub: Any) -> None:
    """`vigil record --out DIR [--seconds S] [--clips N] [--device D | --ble ADDRESS_OR_NAME]`."""
    p = sub.add_parser("record", help="record training data: microphone to WAV/FLAC, or the wearable (BLE) to EDF")
    p.add_argument("--out", type=Path, required=True, help="folder for the files (created; files are never replaced)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each file in s (default 10; BLE: whole s)")
    p.add_argument("--clips", type=int, default=1, help="number of consecutive files (default 1)")
    p.add_argument("--prefix", help="file names PREFIX_0000.EXT... (default: clip, or ecg with --ble)")
    p.add_argument("--device", help="microphone: input device index or (part of) its name (default: system default)")
    p.add_argument("--sr", type=int, default=16000, help="microphone sample rate in Hz (default 16000)")
    p.add_argument("--channel", type=int, help="microphone: 0-based input channel (default 0)")
    p.add_argument("--format", choices=("wav", "flac"), default="wav", help="microphone file format (PCM 16-bit)")
    p.add_argument("--ble", metavar="ADDRESS_OR_NAME", help="record the vigil wearable over BLE to EDF+ instead")
    p.add_argument("--timeout", type=float, help="BLE: give up after this many seconds (default: no limit)")
    p.add_argument("--json", action="store_true", help="one JSON object: files, frames per file, lost samples")
    p.set_defaults(func=run)


def run(args: Any) -> int:
    if args.clips < 1 or not args.seconds > 0:
        raise ConfigError(f"--clips {args.clips} --seconds {args.seconds:g}: expected at least 1 clip of more than 0 s")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.ble:
        if args.seconds != int(args.seconds):
            raise ConfigError(f"--seconds {args.seconds:g}: EDF is written in records of 1 s; expected whole seconds")
        from edge.ble import BleEcgSource

        target = {"address": args.ble} if _MAC.match(args.ble) else {"names": [args.ble]}
        result = asyncio.run(record_ble(BleEcgSource(**target), args.out, seconds=int(args.seconds), clips=args.clips,
                                        prefix=args.prefix or "ecg", timeout_s=args.timeout))
    else:
        device: str | int | None = int(args.device) if args.device and args.device.isdigit() else args.device
        result = record_microphone(args.out, device=device, seconds=args.seconds, clips=args.clips, sr=args.sr,
                                   fmt=args.format, prefix=args.prefix or "clip", channel=args.channel)
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        for path in result.files:
            print(path)
        print(f"{len(result.files)} files of {result.frames} samples; {result.lost} samples lost "
              f"({result.gaps} gaps), written as 0", file=sys.stderr)
    return 0
