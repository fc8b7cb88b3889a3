"""`vigil record`: capture training data on the gateway, never overwriting a file.

- Microphone (``edge.sources.microphone.MicrophoneSource``, int16 from PortAudio) to WAV or FLAC (libsndfile via
  soundfile), 16-bit PCM, mono, ``--clips`` files of exactly ``--seconds`` each at ``--sr`` Hz. The
  clips are consecutive: the first sample of a clip follows the last of the one before. Samples the
  sound card dropped (input overflow) are written as 0 at their place and counted.
- The vigil wearable over BLE (``edge.sources.ble.BleEcgSource``) to EDF+: see ``edge.commands.record_ble``.

Names are ``PREFIX_0000.EXT``, ``PREFIX_0001.EXT``...: each name is claimed with an exclusive
create, so an existing file is skipped, never replaced. A clip cut short (Ctrl-C, link lost for
good) is removed, as it is vigil's own partial file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from edge.errors import ConfigError

log = logging.getLogger(__name__)

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
        self._index = 0
        self._written = 0

    @property
    def done(self) -> bool:
        return len(self.result.files) >= self.clips

    def _open(self) -> None:
        import soundfile

        self._path, handle, self._index = claim(self.out_dir, self.prefix, self.fmt, self._index)
        handle.close()  # claimed (created empty, exclusively); libsndfile writes it by name, its errors its own
        self._file = soundfile.SoundFile(str(self._path), "w", samplerate=self.sr, channels=1,
                                         format=self.fmt.upper(), subtype="PCM_16")
        self._written = 0

    def write(self, samples: np.ndarray) -> None:
        """Append int16 samples (n,); files are completed and opened as they fill."""
        while samples.size and not self.done:
            if self._file is None:
                self._open()
            take = min(samples.size, self.frames - self._written)
            try:
                self._file.write(samples[:take])
            except (AssertionError, RuntimeError, OSError):  # soundfile asserts on a short write
                raise ConfigError(f"{self._path}: the file system took no more samples after "
                                  f"{self._written / self.sr:.2f} s (disk full?); expected room for "
                                  f"{self.clips} files of {self.frames / self.sr:g} s") from None
            self._written += take
            samples = samples[take:]
            if self._written == self.frames:
                self._close()
                assert self._path is not None
                self.result.files.append(self._path)
                self._index += 1

    def _close(self) -> None:
        self._file.close()
        self._file = None

    def abort(self) -> None:
        """Remove the clip being written (ours, and shorter than asked)."""
        if self._file is not None and self._path is not None:
            try:
                self._close()  # may fail again (disk full): the partial file is removed all the same
            except OSError:
                self._file = None
            finally:
                self._path.unlink(missing_ok=True)
            log.warning("%s: removed (recording stopped after %.2f s of %.2f s)", self._path,
                        self._written / self.sr, self.frames / self.sr)


async def record_microphone(out_dir: Path, *, device: str | int | None, seconds: float, clips: int,
                            sr: int = 16000, fmt: str = "wav", prefix: str = "clip", channel: int | None = None,
                            blocksize: int = 1024) -> Recorded:
    """Record `clips` consecutive files of `seconds` from an input device (see the module docstring),
    through the microphone Source `vigil run` uses."""
    from edge.sources.base import Needs
    from edge.sources.microphone import MicrophoneConfig, MicrophoneSource

    frames = round(seconds * sr)
    writer = AudioClipWriter(out_dir, sr=sr, frames=frames, clips=clips, fmt=fmt, prefix=prefix)
    source = MicrophoneSource(MicrophoneConfig(device, channel or 0, blocksize), Needs("audio", float(sr)))
    await source.start()  # errors name the device (VigilError)
    print(f"vigil: recording {clips} x {frames / sr:g} s from {device or 'the default input'} into {out_dir} "
          "(Ctrl-C stops)", file=sys.stderr, flush=True)
    aligner = Aligner()
    try:
        async for block in source.blocks():
            for part, lost in aligner.align(block.start, block.samples, block.missing):
                if lost.any():  # dropped by the sound card: zeros at their place
                    writer.result.lost += int(lost.sum())
                    writer.result.gaps += 1
                    part = np.where(lost[:, None], np.float32(0), part)
                writer.write(np.round(part[:, 0] * 32768).clip(-32768, 32767).astype(np.int16))
            if writer.done:
                break
    except BaseException:
        writer.abort()
        raise
    finally:
        await source.stop()
    if not writer.done:
        writer.abort()
    return writer.result


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
    p.add_argument("--format", choices=("wav", "flac"), help="microphone file format, PCM 16-bit (default wav; "
                   "the wearable always records EDF+)")
    p.add_argument("--ble", metavar="ADDRESS_OR_NAME", help="record the vigil wearable over BLE to EDF+ instead")
    p.add_argument("--timeout", type=float, help="BLE: give up after this many seconds (default: no limit)")
    p.add_argument("--json", action="store_true", help="one JSON object: files, frames per file, lost samples")
    p.set_defaults(func=run)


def _check_args(args: Any) -> None:
    """Every option checked before a device is opened or a folder made (ConfigError, one line)."""
    if args.clips < 1 or not 0 < args.seconds < float("inf"):
        raise ConfigError(f"--clips {args.clips} --seconds {args.seconds:g}: expected at least 1 clip of more than 0 s")
    if not args.ble and not args.sr > 0:
        raise ConfigError(f"--sr {args.sr}: expected a positive sample rate in Hz")
    if not args.ble and round(args.seconds * args.sr) < 1:
        raise ConfigError(f"--seconds {args.seconds:g}: less than one sample at {args.sr} Hz; expected a longer clip")
    if args.prefix is not None and (not args.prefix or Path(args.prefix).name != args.prefix or args.prefix == ".."):
        raise ConfigError(f"--prefix {args.prefix!r}: expected a plain file name start (no folder), e.g. clip")
    if args.ble and args.format is not None:
        raise ConfigError(f"--format {args.format}: the wearable records EDF+ (BDF+ for 24-bit); --format is for the "
                          "microphone (expected no --format with --ble)")
    if args.timeout is not None and not args.timeout > 0:
        raise ConfigError(f"--timeout {args.timeout:g}: expected a number of seconds above 0")
    if args.out.exists() and not args.out.is_dir():
        raise ConfigError(f"--out {args.out}: is a file; expected a folder for the recordings")


def run(args: Any) -> int:
    _check_args(args)
    from edge.outputs import check_writable

    check_writable(args.out)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file on the way (check_writable only sees permissions)
        raise ConfigError(f"--out {args.out}: cannot create the folder ({exc.strerror}); expected a writable "
                          "folder for the recordings") from None
    if args.ble:
        if args.seconds != int(args.seconds):
            raise ConfigError(f"--seconds {args.seconds:g}: EDF is written in records of 1 s; expected whole seconds")
        from edge.commands.record_ble import record_ble
        from edge.sources.ble import BleEcgSource

        target = {"address": args.ble} if _MAC.match(args.ble) else {"names": [args.ble]}
        result = asyncio.run(record_ble(BleEcgSource(**target), args.out, seconds=int(args.seconds), clips=args.clips,
                                        prefix=args.prefix or "ecg", timeout_s=args.timeout))
    else:
        device: str | int | None = int(args.device) if args.device and args.device.isdigit() else args.device
        result = asyncio.run(record_microphone(args.out, device=device, seconds=args.seconds, clips=args.clips,
                                               sr=args.sr, fmt=args.format or "wav", prefix=args.prefix or "clip",
                                               channel=args.channel))
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        for path in result.files:
            print(path)
        print(f"{len(result.files)} files of {result.frames} samples; {result.lost} samples lost "
              f"({result.gaps} gaps), written as 0", file=sys.stderr)
    return 0
