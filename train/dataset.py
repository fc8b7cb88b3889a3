"""Machine-sound clips named as DCASE names them, and honest splits by clip (never by window)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.errors import InputFileError

MACHINE_TYPES = ("fan", "pump", "slider", "valve", "toycar", "toyconveyor")
_NAME = re.compile(r"^(normal|anomaly)_(id_\d+)?.*\.wav$", re.IGNORECASE)


@dataclass(frozen=True)
class Clip:
    """One recording: label 0 normal / 1 anomaly (from its name), machine type from its folders."""

    path: Path
    label: int
    machine_type: str | None
    machine_id: str | None

    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover_clips(root: str | Path, machine_type: str | None = None) -> list[Clip]:
    """WAVs under root named normal_*.wav / anomaly_*.wav (also in sub-folders), sorted by path.

    The machine type is the first folder below root named like a DCASE machine type; with
    machine_type given, only those clips are kept.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputFileError(f"{root}: not a directory (expected a folder of normal_*.wav / anomaly_*.wav clips)")
    clips = []
    for path in sorted(root.rglob("*.wav")):
        match = _NAME.match(path.name)
        if not match:
            continue
        parts = [p.lower() for p in path.relative_to(root).parts[:-1]]
        found = next((p for p in parts if p in MACHINE_TYPES), None)
        if found is None and root.name.lower() in MACHINE_TYPES:
            found = root.name.lower()
        clips.append(Clip(path, int(match.group(1).lower() == "anomaly"), found, match.group(2)))
    if machine_type is not None:
        clips = [c for c in clips if c.machine_type == machine_type.lower()]
    if not clips:
        where = f" of machine type {machine_type!r}" if machine_type else ""
        raise InputFileError(f"{root}: no clips{where} named normal_*.wav or anomaly_*.wav")
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
