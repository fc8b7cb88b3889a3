"""Machine-sound clips: any folder of recordings, DCASE names for labels; honest splits by clip.

`vigil train audio DIR` takes a plain folder of normal recordings, with any file names and any
length (WAV or FLAC, in any sub-folders). A file named as DCASE names them (``normal_*``,
``anomaly_*``, optionally ``..._id_00_...``) keeps its label and machine id; every other file is a
normal recording. A recording much longer than ``clip_seconds`` is cut into consecutive clips of
about ``clip_seconds`` (n = round(length / clip_seconds) equal parts), so that the split by clip
(and out-of-fold thresholds) has several clips to work with; parts of one recording keep its
machine id. Cut parts are WAV files in a temporary folder, deleted at exit; every later step
(features, scoring on the gateway path) reads clips through ``edge.io.wav`` (WAV or FLAC).
"""

from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import InputFileError
from edge.names import MACHINE_TYPES, label_of, machine_id_of, machine_type_of, recordings_in

__all__ = ["MACHINE_TYPES", "Clip", "Split", "discover_clips", "split_clips"]

AUDIO_SUFFIXES = (".wav", ".flac")
DEFAULT_CLIP_SECONDS = 10.0  # a DCASE clip (ToyCar's 11 s stay whole)
_BLOCK = 1 << 16  # frames read at a time when cutting: memory does not grow with a recording's length


@dataclass(frozen=True)
class Clip:
    """One clip: label 0 normal / 1 anomaly (from its name), machine type from its folders.

    ``path`` is the WAV or FLAC to read; for a part of a longer recording, ``source`` is that
    recording and ``offset_s`` where the part starts in it.
    """

    path: Path
    label: int
    machine_type: str | None
    machine_id: str | None
    source: Path | None = None
    offset_s: float = 0.0

    def sha256(self) -> str:
        digest = hashlib.sha256()
        with open(self.path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()


_scratch: list[Path] = []


def _scratch_dir() -> Path:
    """A temporary folder for cut clips, removed when the process exits."""
    if not _scratch:
        _scratch.append(Path(tempfile.mkdtemp(prefix="vigil-clips-")))
        atexit.register(shutil.rmtree, _scratch[0], True)
    return _scratch[0]


def _cut(path: Path, clip_seconds: float) -> list[tuple[Path, float]]:
    """(path, offset in s) of each clip of a recording: the file itself when it is about clip_seconds
    long or less, else WAV parts written block by block (same sample type, exact samples)."""
    import soundfile

    try:
        info = soundfile.info(str(path))
    except Exception as exc:  # libsndfile names what it could not read
        raise InputFileError(f"{path}: not a readable audio file ({str(exc).strip()}); expected WAV or FLAC") from None
    if info.frames == 0:
        raise InputFileError(f"{path}: holds no samples (expected a recording)")
    parts = max(1, round(info.frames / info.samplerate / clip_seconds))
    if parts == 1:
        return [(path, 0.0)]
    bounds = np.linspace(0, info.frames, parts + 1).round().astype(int)
    float_data = info.subtype in ("FLOAT", "DOUBLE")
    subtype = info.subtype if info.subtype in ("PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE") else "PCM_16"
    folder = _scratch_dir() / hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    folder.mkdir(exist_ok=True)
    out: list[tuple[Path, float]] = []
    try:
        _write_parts(path, info, bounds, out, folder, subtype, float_data)
    except (soundfile.SoundFileError, RuntimeError) as exc:  # a FLAC cut short: the decoder loses sync
        raise InputFileError(f"{path}: unreadable ({str(exc).strip().removeprefix('Error : ')}); expected a "
                             "complete recording (truncated or damaged?)") from None
    return out


def _write_parts(path: Path, info: Any, bounds: np.ndarray, out: list[tuple[Path, float]], folder: Path,
                 subtype: str, float_data: bool) -> None:
    """Write the parts between consecutive bounds (frames) as WAVs in folder, appending (path, offset s)."""
    import soundfile

    parts = len(bounds) - 1
    with soundfile.SoundFile(str(path)) as reader:
        for k in range(parts):
            start, stop = int(bounds[k]), int(bounds[k + 1])
            target = folder / (f"{path.stem}.part{k:03d}.wav" if parts > 1 else f"{path.stem}.wav")
            with soundfile.SoundFile(str(target), "w", samplerate=info.samplerate, channels=info.channels,
                                     format="WAV", subtype=subtype) as writer:
                reader.seek(start)
                left = stop - start
                while left > 0:  # int32 carries every PCM width exactly; floats stay floats
                    block = reader.read(min(_BLOCK, left), dtype="float64" if float_data else "int32")
                    if block.shape[0] == 0:  # fewer samples than the header declares: would loop forever
                        raise InputFileError(f"{path}: {stop - left} of the {info.frames} samples the header "
                                             "declares could be read; expected a complete recording (truncated?)")
                    writer.write(block)
                    left -= block.shape[0]
            out.append((target, start / info.samplerate))


def discover_clips(root: str | Path, machine_type: str | None = None, *,
                   clip_seconds: float = DEFAULT_CLIP_SECONDS) -> list[Clip]:
    """Clips of every WAV/FLAC under root (also in sub-folders), sorted by path (see the module docstring).

    The machine type is the first folder below root named like a DCASE machine type (or root's own
    name); with machine_type given, only those clips are kept.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputFileError(f"{root}: not a directory (expected a folder of recordings, WAV or FLAC)")
    if not clip_seconds > 0:
        raise InputFileError(f"--clip-seconds {clip_seconds}: expected a length in s above 0")
    if machine_type is not None and machine_type.lower() not in MACHINE_TYPES:  # a folder of one's own machine
        raise InputFileError(f"--machine-type {machine_type}: not a DCASE machine type ({', '.join(MACHINE_TYPES)}); "
                             f"expected one of them, or the folder itself as DIR (e.g. {root / machine_type})")
    files = recordings_in(root, AUDIO_SUFFIXES)
    found_type = {p: machine_type_of(p, root) for p in files}
    if machine_type is not None:
        files = [p for p in files if found_type[p] == machine_type.lower()]
    clips = []
    for path in files:
        label = label_of(path) or 0
        for part, offset in _cut(path, clip_seconds):
            clips.append(Clip(part, label, found_type[path], machine_id_of(path),
                              None if part == path else path, offset))
    if not clips:
        where = f" under a folder of machine type {machine_type!r}" if machine_type else ""
        raise InputFileError(f"{root}: no recordings{where} (expected .wav or .flac files)")
    return clips


@dataclass(frozen=True)
class Split:
    """Normal clips to fit on, normal clips to choose the threshold on, clips reserved for testing."""

    fit: list[Clip]
    threshold: list[Clip]
    test: list[Clip]
    fit_anomalous: list[Clip]  # only supervised detectors fit on these; never in test


def split_clips(clips: list[Clip], *, test_fraction: float, threshold_fraction: float, seed: int,
                anomaly_fit_fraction: float = 0.0) -> Split:
    """Seeded split of the normal clips by clip; every anomalous clip goes to the test set.

    One normal clip of every machine id goes to the fit set first (DCASE models each machine id;
    a model that never heard an id scores its normal sound as anomalous); the other normal clips
    are shuffled and dealt to test, threshold and fit. At least one normal clip is held out for
    the threshold, and one for the test when test_fraction > 0. A seeded anomaly_fit_fraction of
    the anomalous clips is set aside for supervised fitting; the other anomalous clips are test clips.
    """
    rng = np.random.default_rng(seed)
    normals = [c for c in clips if c.label == 0]
    by_id: dict[str | None, list[Clip]] = {}
    for clip in normals:
        by_id.setdefault(clip.machine_id, []).append(clip)
    first: list[Clip] = []
    pool: list[Clip] = []
    for group in by_id.values():
        order = rng.permutation(len(group))
        first.append(group[order[0]])
        pool.extend(group[i] for i in order[1:])
    pool = [pool[i] for i in rng.permutation(len(pool))]
    n_test = max(1, round(test_fraction * len(normals))) if test_fraction > 0 else 0
    n_thr = max(1, round(threshold_fraction * len(normals)))
    if len(pool) < n_test + n_thr:
        raise InputFileError(
            f"{len(normals)} normal clips over {len(by_id)} machine ids cannot give a fit clip per id plus "
            f"threshold ({n_thr}) and test ({n_test}) clips: expected more normal clips or a smaller --test-fraction"
        )
    anomalous = [c for c in clips if c.label == 1]
    anomalous = [anomalous[i] for i in rng.permutation(len(anomalous))]
    n_fit_anomalous = min(max(1, round(anomaly_fit_fraction * len(anomalous))), len(anomalous) - 1) \
        if anomaly_fit_fraction > 0 else 0
    test = pool[:n_test] + anomalous[n_fit_anomalous:]
    return Split(fit=first + pool[n_test + n_thr :], threshold=pool[n_test : n_test + n_thr], test=test,
                 fit_anomalous=anomalous[:n_fit_anomalous])
