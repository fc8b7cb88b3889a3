"""`vigil features`, `score`, `bench` and `demo` on audio: the work behind the commands (edge/cli.py
parses and dispatches). Series bundles (ECG, KPI) are handed to :mod:`edge.commands.score_series`."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import time
from pathlib import Path

from edge import __version__
from edge.bundle.loader import load_bundle
from edge.commands import beats as cli_beats
from edge.commands import score_series as cli_series
from edge.detectors.base import load_detector
from edge.errors import ConfigError, VigilError
from edge.features.spec import FeatureSpec
from edge.pipeline.assembly import build_stream, replay
from edge.pipeline.file_scoring import ClipScore, open_wav, score_file
from edge.text import plural

DATA = Path(__file__).parent.parent / "data"


def features(path: Path, *, set_name: str, out: Path, sr: int, channel: int | None, force: bool = False) -> int:
    """Write the features of every window, computed block by block (edge.io.feature_file)."""
    from edge.io.feature_file import npy_path, write_features
    from edge.outputs import check_file

    if sr <= 0:
        raise ConfigError(f"--sr {sr}: expected a positive sample rate in Hz")
    from edge.features.audio import CONTRAST_MIN_SR

    if set_name == "seed" and sr <= CONTRAST_MIN_SR:  # librosa refuses it too ("band exceeds Nyquist")
        raise ConfigError(f"--sr {sr}: the seed set's spectral contrast has an octave band from "
                          f"{CONTRAST_MIN_SR / 2:g} Hz, not below the Nyquist frequency {sr / 2:g} Hz; expected --sr "
                          f"above {CONTRAST_MIN_SR:g}, or --set logmel")
    check_file(npy_path(out), force=force, what=".npy file")
    spec = FeatureSpec.default(set_name, sr=sr)
    written, n = write_features(path, spec, out, channel=channel)
    print(f"{written}: {plural(n, 'window')} x {spec.dim} {set_name} features (float32)")
    return 0


def _print_clip(result: ClipScore) -> None:
    verdict = "ANOMALY" if result.anomalous else "normal"
    print(f"{result.file}: {verdict} (clip score {result.clip_score:.4f}, threshold {result.threshold:.4f}; "
          f"{plural(len(result.window_scores), 'window')}, {plural(len(result.events), 'event')})")


def score(files: list[Path], *, bundle_path: Path, variant: str | None, channel: int | None, as_json: bool,
          samples: int | None, iterations: int | None, columns: str | None = None) -> int:
    bundle = load_bundle(bundle_path)
    if bundle.modality != "audio":
        return cli_series.score_series_files(files, bundle, variant=variant, as_json=as_json, samples=samples,
                                             iterations=iterations, columns=columns)
    detector = load_detector(bundle, variant)
    for path in files:
        result = score_file(bundle, detector, path, channel=channel)
        if as_json:
            print(json.dumps(result.to_json()), flush=True)
        else:
            _print_clip(result)
    return 0


def pin_to_one_core() -> int:
    """Pin every thread of this process (BLAS pools included) to the first allowed CPU."""
    cpu = min(os.sched_getaffinity(0))
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):  # a thread may end while we walk the list
            os.sched_setaffinity(int(tid), {cpu})
    return cpu


def bench_bundle(files: list[Path], *, bundle_path: Path, variant: str | None, channel: int | None, as_json: bool,
                 samples: int | None, iterations: int | None, repeat: int, one_core: bool,
                 columns: str | None = None) -> int:
    cpu = pin_to_one_core() if one_core else None
    bundle = load_bundle(bundle_path)
    if bundle.modality != "audio":
        return cli_series.bench_series_files(files, bundle, variant=variant, as_json=as_json, samples=samples,
                                             iterations=iterations, repeat=repeat, cpu=cpu, bundle_path=bundle_path,
                                             columns=columns)
    detector = load_detector(bundle, variant)
    recordings = [open_wav(bundle, path, channel=channel) for path in files]
    audio_s = sum(r.seconds for r in recordings)
    windows = events = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(repeat):
        for recording in recordings:
            replayed = replay(build_stream(bundle, detector), recording.blocks())
            events += len(replayed.events)
            windows += replayed.windows
    cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    report = {
        "bundle": str(bundle_path), "variant": variant or bundle.default_variant,
        "files": len(recordings), "audio_seconds": round(audio_s * repeat, 3),
        "cpu_seconds": round(cpu_s, 4), "wall_seconds": round(wall_s, 4),
        "real_time_factor": round(cpu_s / (audio_s * repeat), 6),
        "windows": windows, "events": events,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "pinned_cpu": cpu,
    }
    print_report(report, as_json)
    return 0


def print_report(report: dict[str, object], as_json: bool) -> None:
    print(json.dumps(report) if as_json else "\n".join(f"{key:18s} {value}" for key, value in report.items()))


def demo(*, as_json: bool) -> int:
    """Score the bundled sample clips with the bundled int8 model of their machine type."""
    samples = sorted((DATA / "samples").glob("*/*.wav"))
    if not samples:
        raise VigilError(f"{DATA / 'samples'}: no bundled sample clips found")
    if not as_json:
        print(f"vigil {__version__}: scoring {len(samples)} bundled clips with the bundled int8 models\n")
    right = {"normal": [0, 0], "anomaly": [0, 0]}  # per truth: decided as labelled, clips
    for path in samples:
        machine = path.parent.name
        bundle = load_bundle(DATA / "bundles" / machine)
        result = score_file(bundle, load_detector(bundle, "int8"), path)
        truth = "anomaly" if path.name.startswith("anomaly") else "normal"
        right[truth][0] += (truth == "anomaly") == result.anomalous
        right[truth][1] += 1
        if as_json:
            print(json.dumps({"machine_type": machine, "truth": truth, **result.to_json()}))
        else:
            verdict = "ANOMALY" if result.anomalous else "normal "
            print(f"{machine:12s} {bundle.detector_kind:5s} {path.name:30s} truth {truth:8s} -> {verdict} score "
                  f"{result.clip_score:8.3f} (threshold {result.threshold:.3f}, {plural(len(result.events), 'event')})")
    if not as_json:
        (nr, nn), (ar, an) = right["normal"], right["anomaly"]
        print(f"\n{nr + ar} of {len(samples)} clips decided as labelled: {nr} of {nn} normal clips called normal, "
              f"{ar} of {an} anomalous clips called anomalous (clips never used in training; see README for AUCs)\n")
    for path in sorted((DATA / "samples" / "ecg").glob("*.edf")):
        cli_series.demo_ecg(path, load_bundle(DATA / "bundles" / "ecg-donut"), as_json)
    for path in sorted((DATA / "samples" / "fetal").glob("*.edf")):
        if not as_json:
            print()
        cli_beats.demo_fetal(path, as_json)
    return 0
