"""Audio files read in blocks with libsndfile (``soundfile``): memory does not grow with the file.

Recorders and editors write WAVs with ``bext`` (Broadcast WAV), ``cue ``, ``LIST`` or ``PEAK``
chunks, WAVE_FORMAT_EXTENSIBLE headers, RF64 for files over 4 GB; a gateway recording normal
data wants FLAC. libsndfile opens all of them (and OGG/Vorbis, AIFF...). Every block comes out
float32 mono in [-1, 1] at the rate asked for: several channels are mixed down (or one picked)
and another rate is resampled, each with one notice on the log.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import numpy as np

from edge.errors import InputFileError

log = logging.getLogger(__name__)

BLOCK_FRAMES = 1 << 16  # frames read per call: 64 Ki frames is 256 KB per float32 channel
_DATA_SHORT = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
_FLOAT_SUBTYPES = {"FLOAT", "DOUBLE"}  # the only stored sample formats that can hold NaN or infinity
# float audio is full scale at 1.0; some headroom above it is real (mixing, gain), a peak this far above
# it is integer samples stored as floats (scipy's wavfile.write of int16 values): every window anomalous
FLOAT_PEAK_LIMIT = 64.0
_noticed: set[tuple[str, str]] = set()  # (path, notice) already logged: training reads a file several times


def _notice(path: Path, what: str, message: str, *args: object) -> None:
    """Log a notice about a file once per process."""
    if (str(path), what) not in _noticed:
        _noticed.add((str(path), what))
        log.warning(message, path, *args)


class AudioFile:
    """An open audio file: native ``sr`` (Hz), ``channels``, ``frames``; ``blocks()`` of mono float32.

    ``sr_out`` is the rate blocks are delivered at (default: the file's). ``channel`` picks one
    0-based channel; None mixes all channels down (their mean).
    """

    def __init__(self, path: str | Path, *, sr_out: int | None = None, channel: int | None = None) -> None:
        import soundfile as sf  # the gateway's audio reader (libsndfile), imported when a file is opened

        self.path = Path(path)
        if self.path.is_dir():
            raise InputFileError(f"{self.path}: a folder (expected a WAV, FLAC or OGG recording; give its files, "
                                 f"e.g. {self.path}/*.wav)")
        if not self.path.is_file():
            raise InputFileError(f"{self.path}: no such file (expected a WAV, FLAC or OGG recording)")
        try:
            self._file = sf.SoundFile(str(self.path))
        except (sf.SoundFileError, RuntimeError) as exc:
            raise InputFileError(f"{self.path}: not a readable audio file ({_short(exc)}); "
                                 "expected RIFF/WAVE (PCM or float), RF64, FLAC or OGG") from None
        short = _DATA_SHORT.search(self._file.extra_info)
        if short and int(short.group(2)) < int(short.group(1)):
            self._file.close()
            raise InputFileError(f"{self.path}: truncated WAV (data chunk declares {short.group(1)} bytes, "
                                 f"the file holds {short.group(2)})")
        self.sr = int(self._file.samplerate)
        self.channels = int(self._file.channels)
        self.frames = int(self._file.frames)
        self.sr_out = self.sr if sr_out is None else int(sr_out)
        if self.frames == 0:
            self._file.close()
            raise InputFileError(f"{self.path}: the file holds no samples (expected audio data)")
        if self.sr_out <= 0:
            raise InputFileError(f"{self.path}: sample rate {self.sr_out} Hz asked for; expected a positive rate")
        if channel is not None and not 0 <= channel < self.channels:
            self._file.close()
            raise InputFileError(f"{self.path}: channel {channel} requested, file has {self.channels} "
                                 f"(0..{self.channels - 1})")
        self.channel = channel

    @property
    def seconds(self) -> float:
        return self.frames / self.sr

    @property
    def frames_out(self) -> int:
        """Samples the file yields at ``sr_out`` (resample_poly's length: ceil(frames * up / down))."""
        return math.ceil(self.frames * self.sr_out / self.sr)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> AudioFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _mono_blocks(self, n: int) -> Iterator[np.ndarray]:
        """Native-rate mono float32 blocks of n frames (the last may be shorter), from the start."""
        self._file.seek(0)
        if self.channels > 1 and self.channel is None:
            _notice(self.path, "mix", "%s: mixing %d channels down to mono (--channel N picks one)", self.channels)
        check = self._file.subtype in _FLOAT_SUBTYPES
        start = 0
        while True:
            data = self._read(n, start)
            if data.shape[0] == 0:
                if start < self.frames:  # the header promised more: a file cut short in a copy
                    raise InputFileError(f"{self.path}: {start} of the {self.frames} samples the header "
                                         "declares could be read; expected a complete file (truncated?)")
                return
            if check:
                self._check_finite(data, start)
            start += data.shape[0]
            if self.channels == 1:
                yield data[:, 0]
            elif self.channel is None:
                yield data.mean(axis=1, dtype=np.float32)
            else:
                yield np.ascontiguousarray(data[:, self.channel])
            if data.shape[0] < n:
                return

    def _read(self, n: int, start: int) -> np.ndarray:
        """Up to n frames (n, channels) float32; a decoder failure (FLAC cut short: "lost sync") is one line."""
        import soundfile as sf

        try:
            return self._file.read(n, dtype="float32", always_2d=True)
        except (sf.SoundFileError, RuntimeError) as exc:
            why = _short(exc).removeprefix("Error : ")
            raise InputFileError(f"{self.path}: unreadable after sample {start} ({start / self.sr:.3f} s of "
                                 f"{self.seconds:.3f} s): {why}; expected a complete file (truncated or damaged?)"
                                 ) from None

    def _check_finite(self, data: np.ndarray, start: int) -> None:
        """Refuse NaN or infinite samples (a float file written from a failed computation): scoring or
        fitting on them gives NaN scores, or a covariance that cannot be fitted; and integer-scaled
        samples (beyond FLOAT_PEAK_LIMIT), which every model scores as anomalous."""
        bad = ~np.isfinite(data)
        if bad.any():
            frame = start + int(np.argmax(bad.any(axis=1)))
            value = data[frame - start][bad[frame - start]][0]
            raise InputFileError(f"{self.path}: sample {frame} (at {frame / self.sr:.3f} s) is {value}; "
                                 "expected finite audio samples")
        loud = np.abs(data) > FLOAT_PEAK_LIMIT
        if loud.any():
            frame = start + int(np.argmax(loud.any(axis=1)))
            value = data[frame - start][loud[frame - start]][0]
            raise InputFileError(f"{self.path}: float sample {frame} (at {frame / self.sr:.3f} s) is {value:g}; "
                                 "expected float audio scaled to [-1, 1] (integer samples stored as floats? "
                                 "divide them by 32768)")

    def blocks(self, n: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
        """Mono float32 blocks at ``sr_out``; with resampling, block sizes follow the resampler."""
        if self.sr_out == self.sr:
            yield from self._mono_blocks(n)
            return
        _notice(self.path, "resample", "%s: resampling from %d Hz to %d Hz (the model's rate)", self.sr, self.sr_out)
        yield from StreamResampler(self.sr, self.sr_out).run(self._mono_blocks(n))

    def read_all(self) -> np.ndarray:
        """The whole file as one mono float32 array at ``sr_out`` (short clips: training, tests)."""
        parts = list(self.blocks())
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


class StreamResampler:
    """scipy's resample_poly applied piecewise: the output equals resampling the whole signal at once
    (to float rounding), while only one segment and its filter context are held in memory.

    Segments start at multiples of ``down`` input samples, so segment k's output starts at an
    integer output index; each is resampled with ``context`` input samples on both sides (more than
    the filter's half length) and only its own part of the output is kept.
    """

    def __init__(self, sr_from: int, sr_to: int, segment: int = BLOCK_FRAMES) -> None:
        g = math.gcd(sr_from, sr_to)
        self.up, self.down = sr_to // g, sr_from // g
        half_len_in = 10 * max(self.up, self.down) // self.up + 2  # resample_poly's filter, in input samples
        self.context = self.down * math.ceil(half_len_in / self.down)
        self.segment = self.down * max(1, math.ceil(segment / self.down))

    def run(self, blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        import scipy.signal  # only when needed: the import costs ~50 MB of resident memory

        buffer = np.empty(0, dtype=np.float32)
        start = 0  # input index of buffer[0]
        emitted = 0  # input index up to which output has been produced
        total = 0
        for block in blocks:
            total += block.size
            buffer = np.concatenate([buffer, block])
            # a segment [emitted, emitted + segment) can be produced once its right context is in
            while start + buffer.size >= emitted + self.segment + self.context:
                yield self._segment(scipy.signal, buffer, start, emitted, emitted + self.segment, total, final=False)
                emitted += self.segment
                drop = max(0, emitted - self.context - start)
                buffer, start = buffer[drop:], start + drop
        if emitted < total:
            yield self._segment(scipy.signal, buffer, start, emitted, total, total, final=True)

    def _segment(self, signal: object, buffer: np.ndarray, start: int, a: int, b: int, total: int,
                 final: bool) -> np.ndarray:
        lo = max(0, a - self.context)
        hi = total if final else b + self.context
        y = signal.resample_poly(buffer[lo - start : hi - start], self.up, self.down)  # type: ignore[attr-defined]
        first = (a - lo) * self.up // self.down
        count = math.ceil(b * self.up / self.down) - a * self.up // self.down
        return y[first : first + count].astype(np.float32)


def rechunk(blocks: Iterator[np.ndarray], n: int) -> Iterator[np.ndarray]:
    """Blocks of exactly n samples (the last may be shorter) from blocks of any size."""
    pending: list[np.ndarray] = []
    held = 0
    for block in blocks:
        pending.append(block)
        held += block.size
        if held < n:
            continue
        joined = np.concatenate(pending) if len(pending) > 1 else block
        cut = held - held % n
        for i in range(0, cut, n):
            yield joined[i : i + n]
        pending, held = [joined[cut:]], held - cut
    if held:
        yield np.concatenate(pending)


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.split(": ", 1)[1] if text.startswith("Error opening") and ": " in text else text
